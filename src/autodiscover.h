/* AutoDiscover: the php-fpm masters running on this host and their pools, read into pool
 * configurations to poll (no collectd). autodiscover_scan allocates; autodiscover_free releases. */
#ifndef FCGX_AUTODISCOVER_H
#define FCGX_AUTODISCOVER_H

#include "pool.h"
#include "workers.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  fcgx_pool_config_t cfg;         /* cfg.name: the plugin instance (the pool's name when unique) */
  workers_of_t id;                /* its master and [section] name: whose workers are the pool's */
  unsigned long long master_exec; /* changes on a reload (see fpm_master_t.exec_cookie) */
  bool opcache_reader;            /* the one pool of its master that reads the shared OPcache */
  bool configured;                /* a <Pool> block has its name or address: not polled as found */
  bool chrooted;                  /* its workers see the file system from a chroot */
  bool in_container; /* its master has a host name of its own: named "<hostname>-<pool>" */
} discovered_pool_t;

typedef struct {
  discovered_pool_t *pools;
  size_t n;
  /* What was found, for the log: lines ending in '\n' (masters, pools polled or not and why,
   * what to add to a pool without pm.status_path). */
  char *report;
  size_t report_len, report_cap;
  /* Nothing changed since the scan before (the cache tells): no pool nor report was built; that
   * scan's result stands. */
  bool unchanged;
} autodiscover_t;

/* What one scan leaves for the next (they run every few seconds): per master, by pid, start time,
 * configuration path and root, the stamps and useful lines of its files and its last
 * configuration (fpm_config_load_cached), so that rescanning an unchanged host takes a stat(2)
 * per file and reads none. Zero-initialised it is empty; its owner frees it with
 * autodiscover_cache_free. A few hundred bytes per pool file. */
typedef struct autodiscover_master_cache autodiscover_master_cache_t;

typedef struct {
  size_t masters;     /* masters whose configuration the last scan loaded */
  size_t reused;      /* of them, whose configuration was unchanged: nothing read nor parsed */
  size_t files_read;  /* files opened and read by the last scan */
  size_t files_known; /* files only stat(2)ed by it: unchanged */
  size_t globs;       /* include= patterns it expanded (directories listed) */
  size_t bytes;       /* memory the cache holds */
} autodiscover_cache_stats_t;

typedef struct {
  autodiscover_master_cache_t *masters;
  size_t n, cap;
  bool complete;                   /* the last scan cached every master it found */
  autodiscover_cache_stats_t last; /* the last scan's, bytes aside */
} autodiscover_cache_t;

void autodiscover_cache_free(autodiscover_cache_t *cache);
void autodiscover_cache_stats(const autodiscover_cache_t *cache, autodiscover_cache_stats_t *out);

/* Whether a found pool is configured explicitly (a <Pool> block wins), given its final name. */
typedef bool (*autodiscover_skip_fn)(const fcgx_pool_config_t *cfg, void *ctx);

/* Finds every php-fpm master under proc_root ("/proc"), reads its configuration and lists the
 * pools that have a status path, under their final names (a pool name found in several masters
 * is prefixed with its master's), marking those skip says are configured. defaults gives Timeout,
 * OPcacheScript, and so on. cache (NULL: none) is what the scan before left; this scan updates it
 * and forgets masters gone. Returns 0 (an empty result when there is no master), or -1 with err
 * set. */
int autodiscover_scan(const char *proc_root, const fcgx_pool_config_t *defaults,
                      autodiscover_skip_fn skip, void *skip_ctx, autodiscover_cache_t *cache,
                      autodiscover_t *out, char *err, size_t err_size);
void autodiscover_free(autodiscover_t *d);
/* Whether two scans found the same pools at the same addresses, masters unchanged. */
bool autodiscover_same(const autodiscover_t *a, const autodiscover_t *b);
/* Starts a report line that is a warning: a master whose pools go unwatched. */
#define AUTODISCOVER_WARNING "\x02"

/* Appends one line to the report (each becomes one log line: collectd cuts longer ones). */
__attribute__((format(printf, 2, 3))) void autodiscover_report(autodiscover_t *d, const char *fmt,
                                                               ...);

#endif
