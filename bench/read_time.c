/* Wall time of one complete read of N pools by fcgx's own poller (build/libfcgx_core.a, the code
 * the collectd plugin runs in its read callback), without collectd around it.
 *
 *   read_time [--minimal] [--opcache SCRIPT] [--timeout MS] --reads K GAP_MS ADDR...
 *   read_time [--minimal] [--opcache SCRIPT] [--timeout MS] --loop INTERVAL_S SECONDS ADDR...
 *       (reads every INTERVAL_S for SECONDS; prints "user_s sys_s pool_polls ok" by getrusage:
 *       the poller's own CPU, without collectd's dispatch)
 *
 * ADDR is a unix socket path or HOST:PORT. Default work per pool is fcgx's full poll (status
 * json&full, ping, and the OPcache script when --opcache is given); --minimal is the HTTP
 * route's work (`ProcessDetails false`, `PingPath ""`, `OPcache false`). Prints, per read, its
 * wall time in seconds and how many pools answered fully ("up", and status parsed). */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  int minimal = 0, timeout_ms = 1000, reads = 0, gap_ms = 0, i = 1;
  double interval = 0, seconds = 0;
  const char *script = NULL;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--minimal") == 0)
      minimal = 1;
    else if (strcmp(argv[i], "--opcache") == 0 && i + 1 < argc)
      script = argv[++i];
    else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
      timeout_ms = atoi(argv[++i]);
    else if (strcmp(argv[i], "--reads") == 0 && i + 2 < argc) {
      reads = atoi(argv[++i]);
      gap_ms = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--loop") == 0 && i + 2 < argc) {
      interval = atof(argv[++i]);
      seconds = atof(argv[++i]);
    } else {
      fprintf(stderr, "read_time: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  size_t n = (size_t)(argc - i);
  if (n == 0 || (reads <= 0 && interval <= 0)) {
    fprintf(stderr, "usage: read_time [--minimal] [--opcache SCRIPT] [--timeout MS] "
                    "(--reads K GAP_MS | --loop INTERVAL SECONDS) ADDR...\n");
    return 2;
  }
  fcgx_pool_config_t *cfgs = calloc(n, sizeof(*cfgs));
  fcgx_pool_poll_t *polls = calloc(n, sizeof(*polls));
  if (cfgs == NULL || polls == NULL)
    return 1;
  for (size_t k = 0; k < n; k++) {
    const char *a = argv[i + (int)k];
    char err[300];
    fcgx_pool_config_defaults(&cfgs[k]);
    snprintf(cfgs[k].name, sizeof(cfgs[k].name), "p%zu", k);
    cfgs[k].timeout_ms = timeout_ms;
    if (minimal) {
      cfgs[k].process_details = false;
      cfgs[k].ping_path[0] = '\0';
      cfgs[k].opcache = false;
    } else if (script != NULL) {
      snprintf(cfgs[k].opcache_script, sizeof(cfgs[k].opcache_script), "%s", script);
    } else {
      cfgs[k].opcache = false;
    }
    int rc;
    if (a[0] == '/') {
      rc = fcgx_address_unix(&cfgs[k].addr, a, err, sizeof(err));
    } else {
      const char *colon = strrchr(a, ':');
      char host[256];
      snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - a) : 0, a);
      rc = colon ? fcgx_address_tcp(&cfgs[k].addr, host, colon + 1, err, sizeof(err)) : -1;
    }
    if (rc != 0) {
      fprintf(stderr, "read_time: %s: %s\n", a, err);
      return 2;
    }
    fcgx_pool_poll_init(&polls[k], &cfgs[k]);
  }
  if (interval > 0) {
    double start = now_s(), next = start;
    long pool_polls = 0, ok = 0;
    while (next < start + seconds) {
      double wait = next - now_s();
      if (wait > 0)
        usleep((useconds_t)(wait * 1e6));
      fcgx_pools_poll(polls, n);
      for (size_t k = 0; k < n; k++) {
        const fcgx_pool_result_t *res = &polls[k].result;
        ok += res->up && res->status_ok && (!res->opcache_enabled || res->opcache_ok);
        fcgx_pool_poll_release(&polls[k]);
      }
      pool_polls += (long)n;
      next += interval;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%.6f %.6f %ld %ld\n", (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, pool_polls, ok);
  }
  for (int r = 0; r < reads; r++) {
    double t0 = now_s();
    fcgx_pools_poll(polls, n);
    double wall = now_s() - t0;
    int ok = 0;
    for (size_t k = 0; k < n; k++) {
      const fcgx_pool_result_t *res = &polls[k].result;
      ok += res->up && res->status_ok && (!res->opcache_enabled || res->opcache_ok);
      fcgx_pool_poll_release(&polls[k]);
    }
    printf("%.6f %d\n", wall, ok);
    fflush(stdout);
    if (gap_ms > 0 && r + 1 < reads)
      usleep((useconds_t)gap_ms * 1000);
  }
  free(polls);
  free(cfgs);
  return 0;
}
