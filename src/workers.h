/* A pool's workers from /proc: how many run, their CPU time as a counter across worker
 * restarts, their resident memory (no collectd). The caller keeps a worker_cpu_t per pool. */
#ifndef FCGX_WORKERS_H
#define FCGX_WORKERS_H

#include "fpm_discover.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Which workers: those of one [pool] of one master, as /proc names them. */
typedef struct {
  pid_t master_pid;                /* 0: no master known */
  unsigned long long master_start; /* its start time: another value is another process */
  char pool[128];                  /* the [section] name in "php-fpm: pool NAME" */
} workers_of_t;

/* A pool's workers as the previous read saw them, to count CPU time as a counter: workers come
 * and go (pm.max_requests, ondemand, dynamic), so their sum alone would fall. */
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

/* Reads the workers of pools[i] into usage[i], accounting their CPU in cpu[i]. walked is every
 * php-fpm worker on the host from one /proc walk (fpm_discover_workers with master 0), which
 * finds new workers; with walked NULL (no walk this time, or it failed) only the workers cpu[i]
 * saw last time are read, directly: a pool's workers are never forgotten for want of a walk, so
 * none is counted again from its start. */
void workers_usage(const char *proc_root, const workers_of_t *pools, size_t n,
                   const fpm_worker_t *walked, size_t n_walked, worker_cpu_t *const *cpu,
                   worker_usage_t *usage);

#endif
