/* AutoDiscover: the php-fpm masters running on this host, read into pool configurations the
 * plugin polls (no collectd here). discovery_scan allocates; discovery_free releases. */
#ifndef FCGX_DISCOVERY_H
#define FCGX_DISCOVERY_H

#include "pool.h"

#include <stdint.h>
#include <sys/types.h>

typedef struct {
  fcgx_pool_config_t cfg; /* cfg.name: the plugin instance (the pool's name when unique) */
  char pool_name[128];    /* the pool's [section] name in php-fpm */
  pid_t master_pid;
  unsigned long long master_start, master_exec; /* identity: changes on restart and reload */
  char master_instance[128]; /* the master's stable name: its OPcache's plugin instance */
  bool opcache_reader;       /* the one pool of its master that reads the shared OPcache */
} discovered_pool_t;

typedef struct {
  discovered_pool_t *pools;
  size_t n;
  /* What was found, for the log: lines ending in '\n' (masters, pools polled or not and why,
   * what to add to a pool without pm.status_path). */
  char *report;
  size_t report_len, report_cap;
} discovery_t;

/* Whether a found pool is configured explicitly (a <Pool> block wins): then it is left out. */
typedef bool (*discovery_skip_fn)(const fcgx_pool_config_t *cfg, void *ctx);

/* Finds every php-fpm master under proc_root ("/proc"), reads its configuration and lists the
 * pools that have a status path. defaults gives Timeout, OPcacheScript, and so on. Returns 0 (an
 * empty result when there is no master), or -1 with err set. */
int discovery_scan(const char *proc_root, const fcgx_pool_config_t *defaults,
                   discovery_skip_fn skip, void *skip_ctx, discovery_t *out, char *err,
                   size_t err_size);
void discovery_free(discovery_t *d);
/* Whether two scans found the same pools at the same addresses, masters unchanged. */
bool discovery_same(const discovery_t *a, const discovery_t *b);

/* A pool's workers as the previous read saw them, to count CPU time as a counter: workers come
 * and go (pm.max_requests, ondemand, dynamic), so their sum alone would fall. The caller keeps
 * one per pool across reads and frees it with worker_cpu_free. */
typedef struct {
  struct worker_seen {
    pid_t pid;
    unsigned long long start_ticks;
    double cpu_seconds;
  } * seen;
  size_t n, cap;
  double total; /* CPU seconds of every worker seen, ever: only grows */
} worker_cpu_t;

void worker_cpu_free(worker_cpu_t *cpu);

typedef struct {
  bool master_alive; /* the master is still the one found: else nothing here is the pool's */
  double count;
  double cpu_seconds; /* the pool's worker_cpu_t total */
  double rss_bytes;
} worker_usage_t;

/* Sums the "php-fpm: pool NAME" workers of each pool's master from /proc. usage[i] and cpu[i]
 * are for pools[i]; a pool whose master is gone gets nothing (master_alive false). With walk,
 * every process is looked at to find the workers; without, only those cpu[i] saw last time (a
 * /proc walk reads every process: once in a while is enough to see new workers). */
void discovery_worker_usage(const char *proc_root, const discovered_pool_t *pools, size_t n,
                            bool walk, worker_cpu_t *const *cpu, worker_usage_t *usage);

#endif
