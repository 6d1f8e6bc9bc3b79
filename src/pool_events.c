/* Poll results -> events; see pool_events.h. */
#include "pool_events.h"

#include <math.h>
#include <stdio.h>

static void add(pool_event_t *out, size_t *n, pool_event_kind_t kind, double value) {
  if (*n < POOL_EVENTS_MAX)
    out[(*n)++] = (pool_event_t){kind, value};
}

size_t pool_events_next(pool_events_state_t *st, const fcgx_pool_result_t *res,
                        pool_event_t out[POOL_EVENTS_MAX]) {
  size_t n = 0;
  if (!res->up && (!st->seen || st->was_up))
    add(out, &n, POOL_EVENT_DOWN, 0);
  else if (res->up && st->seen && !st->was_up)
    add(out, &n, POOL_EVENT_UP, 0);
  st->seen = true;
  st->was_up = res->up;

  /* A reload (SIGUSR2) or restart starts every counter again. A start time left out (outside
   * its range) says nothing. */
  if (res->status_ok && !isnan(res->status.start_time)) {
    if (st->start_time != 0 && res->status.start_time != st->start_time)
      add(out, &n, POOL_EVENT_RELOAD, res->status.start_since);
    st->start_time = res->status.start_time;
  }

  const opcache_report_t *oc = &res->opcache;
  /* Restart counts left out say nothing: this poll is not compared. */
  if (!res->opcache_ok || oc->availability != OPCACHE_OK || isnan(oc->oom_restarts) ||
      isnan(oc->hash_restarts))
    return n;
  if (st->opcache_seen) {
    /* A reload resets the counters: only a rise is a restart. */
    if (oc->oom_restarts > st->oom_restarts)
      add(out, &n, POOL_EVENT_OPCACHE_OOM_RESTART, oc->oom_restarts);
    if (oc->hash_restarts > st->hash_restarts)
      add(out, &n, POOL_EVENT_OPCACHE_HASH_RESTART, oc->hash_restarts);
    if (oc->cache_full && !st->was_full)
      add(out, &n, POOL_EVENT_OPCACHE_FULL, 0);
    else if (!oc->cache_full && st->was_full)
      add(out, &n, POOL_EVENT_OPCACHE_NOT_FULL, 0);
  }
  st->opcache_seen = true;
  st->was_full = oc->cache_full;
  st->oom_restarts = oc->oom_restarts;
  st->hash_restarts = oc->hash_restarts;
  return n;
}

bool pool_events_gone(const pool_events_state_t *st) {
  return st->seen && !st->was_up;
}

void pool_event_describe(pool_event_t event, const char *name, const fcgx_pool_result_t *res,
                         char *buf, size_t size) {
  switch (event.kind) {
  case POOL_EVENT_DOWN:
    snprintf(buf, size, "PHP-FPM pool \"%s\" is down: %s", name,
             res->status_ok ? res->ping_error : res->status_error);
    break;
  case POOL_EVENT_UP:
    snprintf(buf, size, "PHP-FPM pool \"%s\" is up again", name);
    break;
  case POOL_EVENT_GONE:
    snprintf(buf, size, "PHP-FPM pool \"%s\" is gone: its master stopped or the pool was removed",
             name);
    break;
  case POOL_EVENT_RELOAD:
    snprintf(buf, size,
             "pool \"%s\": php-fpm was restarted or reloaded (uptime %.0f s): its "
             "counters start again",
             name, event.value);
    break;
  case POOL_EVENT_OPCACHE_OOM_RESTART:
    snprintf(buf, size,
             "OPcache of pool \"%s\" restarted for lack of memory (%.0f so far): "
             "raise opcache.memory_consumption",
             name, event.value);
    break;
  case POOL_EVENT_OPCACHE_HASH_RESTART:
    snprintf(buf, size,
             "OPcache of pool \"%s\" restarted for lack of hash slots (%.0f so far): "
             "raise opcache.max_accelerated_files",
             name, event.value);
    break;
  case POOL_EVENT_OPCACHE_FULL:
    snprintf(buf, size, "OPcache of pool \"%s\" is full: new scripts are not cached", name);
    break;
  case POOL_EVENT_OPCACHE_NOT_FULL:
    snprintf(buf, size, "OPcache of pool \"%s\" is no longer full", name);
    break;
  }
}
