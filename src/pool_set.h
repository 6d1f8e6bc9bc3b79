/* The pool set: every pool the plugin polls, explicit (<Pool> blocks) and discovered
 * (AutoDiscover), in groups that share one Interval; each pool's runtime state (endpoints, last
 * poll, events, workers, master); and the host's php-fpm masters, scanned once for the whole
 * set behind one lock however many groups read. No collectd: the glue reads a group on one
 * thread, with pool_group_refresh then pool_group_poll, and maps what they leave to values. */
#ifndef FCGX_POOL_SET_H
#define FCGX_POOL_SET_H

#include "autodiscover.h"
#include "pool.h"
#include "pool_events.h"
#include "workers.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POOL_SET_RESCAN_NS (5ull * 1000000000ull) /* at most this often: /proc and configs */

/* One pool. Its configuration is set once: at start for an explicit pool; for a discovered
 * one, by the scan that found it (a later scan that finds it changed replaces it, between polls,
 * on the group's own thread). Everything else is runtime, the group's thread's alone. */
typedef struct {
  fcgx_pool_config_t cfg;
  bool discovered;
  bool want_workers; /* explicit: look its master up in /proc (Workers true) */
  /* explicit: cfg.addr as resolved at start, to know a discovered pool at the same address */
  struct sockaddr_storage addresses[FCGX_MAX_ADDRESSES];
  int n_addresses;
  fcgx_pool_poll_t poll; /* its endpoints, and the last poll's result */
  pool_events_state_t events;

  /* from the last scan that found its master (master.master_pid 0: none) */
  workers_of_t master;
  int max_children;     /* cfg.max_children, else its master's pm.max_children; 0 unknown */
  char cache_name[128]; /* the master's name for its OPcache and APCu; "" for cfg.name */
  bool opcache_reader;  /* reports its master's OPcache (every explicit pool with OPcache) */
  bool may_read_cache;  /* a discovered pool that can stand in for its reader when that sleeps */
  bool check_opcache;   /* a discovered pool read once to compare with its master's reader */
  bool compare_now;     /* this poll's script result is for that comparison */
  bool reports_cache;   /* this poll's script result is its master's OPcache, to report */
  worker_cpu_t workers_cpu;
  worker_usage_t workers; /* of the last poll; master_alive false: no worker figures */

  /* pm = ondemand through its own socket: whether our requests alone keep its workers alive
   * (`accepted conn` grew by no more than ours), and then until when it is left to rest */
  double accepted_seen, started_seen; /* of its last status page; NaN: none to compare */
  int own_since;                      /* our requests on its socket since that page */
  uint64_t rest_until_ns;             /* 0: not resting */
  double rest_workers;                /* its workers when last seen resting */

  void *user; /* the glue's own per-pool state (its complaints) */
} pool_entry_t;

/* The pools read by one read callback: one per distinct Interval of explicit pools, and one for
 * AutoDiscover. The group owns its entries. */
typedef struct {
  uint64_t interval; /* the glue's unit (collectd's cdtime_t); 0 for the global Interval */
  bool discovered;   /* AutoDiscover's: its entries follow the scans */
  pool_entry_t **pools;
  size_t n;
  uint64_t generation;   /* of the scan its pools were reconciled with */
  uint64_t next_walk_ns; /* next /proc walk to find new workers (ondemand pools: every read) */
  size_t first;          /* asked first in the next read: one the read before could not poll */
  void *user;            /* the glue's own per-group state */
} pool_group_t;

typedef struct {
  /* one line of what a scan found that differs from the one before (a log line each); warning:
   * a master whose pools cannot be watched */
  void (*report)(void *ctx, const char *line, bool warning);
  /* a scan failed (err), or works again after failing (err NULL) */
  void (*scan_failed)(void *ctx, const char *err);
  /* a pool is no longer polled (its master stopped, its pool removed): free pool->user */
  void (*pool_gone)(void *ctx, pool_entry_t *pool);
  void *ctx;
} pool_set_hooks_t;

typedef struct pool_set pool_set_t;

/* proc_root: "/proc". discovered: the configuration every discovered pool starts from (Timeout,
 * OPcacheScript, OPcache), or NULL without AutoDiscover. Returns NULL when out of memory. */
pool_set_t *pool_set_new(const char *proc_root, const fcgx_pool_config_t *discovered,
                         const pool_set_hooks_t *hooks);
/* Adds an explicit pool (copied) to the group of its interval. Returns the new entry, or NULL
 * when out of memory. Only before the first refresh. */
pool_entry_t *pool_set_add(pool_set_t *set, const fcgx_pool_config_t *cfg, uint64_t interval,
                           bool want_workers);
size_t pool_set_group_count(const pool_set_t *set);
uint64_t pool_set_scan_count(pool_set_t *set); /* scans of the host so far */
pool_group_t *pool_set_group(pool_set_t *set, size_t i);
/* Frees every group and pool (pool_gone is not called); once no read runs any more. */
void pool_set_free(pool_set_t *set);

/* Brings group up to date before a read: scans the host's masters first when a scan is due
 * (for the whole set, at most every POOL_SET_RESCAN_NS), then reconciles the group with the
 * latest scan: discovered pools come, change and go; pools learn their master (workers,
 * pm.max_children). Call on the group's read thread; now_ns from fcgx_now_ns. */
void pool_group_refresh(pool_set_t *set, pool_group_t *group, uint64_t now_ns);
/* Reads the group's workers from /proc and its sockets' queues from the kernel, then polls the
 * pools that are awake, as many at once as fcgx's connection limit allows, ending by end_ns (0:
 * no end). A pm = ondemand pool of a known master with no worker and nothing queued is asleep:
 * sent nothing (a request would fork a worker). One whose idle workers served only our requests
 * rests until pm.process_idle_timeout has let them exit. Each pool's result is in
 * pool->poll.result (its plan says which), its workers in pool->workers. */
void pool_group_poll(pool_set_t *set, pool_group_t *group, uint64_t now_ns, uint64_t end_ns);
/* After a poll, for a pool with compare_now: whether its OPcache differs from what its master's
 * reader in the group reported (OPcache off for the pool, restrict_api). Returns that reader,
 * with why set, or NULL. */
const pool_entry_t *pool_group_opcache_differs(const pool_group_t *group, const pool_entry_t *pool,
                                               char *why, size_t size);
/* Releases the sockets and buffers of the group's last poll (results stay readable). */
void pool_group_release(pool_group_t *group);

#endif
