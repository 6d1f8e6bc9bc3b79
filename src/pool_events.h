/* What changed for a pool between two polls, as events an operator is told of: down, up, gone,
 * a reload, an OPcache restart, the cache filling up or no longer full. Pure: the collectd glue
 * turns events into notifications and log lines. */
#ifndef FCGX_POOL_EVENTS_H
#define FCGX_POOL_EVENTS_H

#include "pool.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  POOL_EVENT_DOWN,                 /* first poll down, or up -> down */
  POOL_EVENT_UP,                   /* down -> up */
  POOL_EVENT_GONE,                 /* a pool that was down is no longer polled (pool_events_gone) */
  POOL_EVENT_RELOAD,               /* php-fpm's start time changed: every counter starts again */
  POOL_EVENT_OPCACHE_OOM_RESTART,  /* value: restarts so far */
  POOL_EVENT_OPCACHE_HASH_RESTART, /* value: restarts so far */
  POOL_EVENT_OPCACHE_FULL,
  POOL_EVENT_OPCACHE_NOT_FULL,
} pool_event_kind_t;

typedef struct {
  pool_event_kind_t kind;
  double value;
} pool_event_t;

#define POOL_EVENTS_MAX 6 /* at most this many from one poll */

/* What the previous polls saw; zero it for a new pool. */
typedef struct {
  bool seen, was_up;
  double start_time; /* of the php-fpm master, 0 unknown */
  bool opcache_seen, was_full;
  double oom_restarts, hash_restarts;
} pool_events_state_t;

/* The events of one poll result, oldest state in st (updated). Returns how many were written. */
size_t pool_events_next(pool_events_state_t *st, const fcgx_pool_result_t *res,
                        pool_event_t out[POOL_EVENTS_MAX]);
/* The event in words, for a notification or a log line; res is the poll that caused it. */
void pool_event_describe(pool_event_t event, const char *name, const fcgx_pool_result_t *res,
                         char *buf, size_t size);
/* Whether a pool that stops being polled must be announced gone: it was down, and its FAILURE
 * notification would otherwise stay open. */
bool pool_events_gone(const pool_events_state_t *st);

#endif
