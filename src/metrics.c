/* The metric catalogue; see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---- where values come from ---- */

static double field(const void *base, size_t offset) {
  double value;
  memcpy(&value, (const char *)base + offset, sizeof(value));
  return value;
}

static bool status(const metric_source_t *s) {
  return s->res->status_ok;
}

static bool full(const metric_source_t *s) {
  return s->res->status_ok && s->res->status_full;
}

static bool script(const metric_source_t *s) {
  return s->script && s->res->opcache_ok;
}

static bool opcache(const metric_source_t *s) {
  return script(s) && s->res->opcache.availability == OPCACHE_OK;
}

#define FIELD_GETTER(name, when, base)                                                             \
  static bool name(const metric_t *m, const metric_source_t *s, double *v) {                       \
    if (!(when))                                                                                   \
      return false;                                                                                \
    *v = field(base, m->offset);                                                                   \
    return true;                                                                                   \
  }

FIELD_GETTER(pool_figure, status(s), &s->res->status)
FIELD_GETTER(process_figure, full(s), &s->res->status)
FIELD_GETTER(duration, full(s) && s->res->status.duration_samples > 0, &s->res->status)
FIELD_GETTER(running_max, full(s) && s->res->status.running_max_known, &s->res->status)
FIELD_GETTER(cpu, full(s) && s->res->status.cpu_samples > 0, &s->res->status)
FIELD_GETTER(memory, full(s) && s->res->status.memory_samples > 0, &s->res->status)
FIELD_GETTER(status_time, status(s), s->res)
FIELD_GETTER(ping_time, s->res->ping_ok, s->res)
FIELD_GETTER(kernel_queue, s->res->kernel_queue_ok, s->res)
/* the backlog is the pool's configuration, not its state: not repeated while it sleeps */
FIELD_GETTER(kernel_backlog, s->res->kernel_queue_ok && s->res->plan != FCGX_POLL_ASLEEP, s->res)
FIELD_GETTER(cache_figure, opcache(s), &s->res->opcache)
FIELD_GETTER(strings, opcache(s) && s->res->opcache.has_strings, &s->res->opcache)
FIELD_GETTER(jit, opcache(s) && s->res->opcache.has_jit, &s->res->opcache)
FIELD_GETTER(preload, opcache(s) && s->res->opcache.has_preload, &s->res->opcache)
FIELD_GETTER(apcu, script(s) && s->res->opcache.has_apcu, &s->res->opcache)
FIELD_GETTER(realpath, script(s) && s->res->opcache.has_realpath, &s->res->opcache)
FIELD_GETTER(script_time, script(s), s->res)
/* An asleep pool has no worker: fpm_processes-total 0 says so, in one value list instead of
 * three */
FIELD_GETTER(workers,
             s->workers != NULL && s->workers->master_alive && s->res->plan != FCGX_POLL_ASLEEP,
             s->workers)

/* A pool not asked this read (asleep, resting): /proc counts its workers, none when asleep.
 * Only the total: one value list is all an asleep pool costs for it (on a shared host, nine
 * pools in ten). */
static bool processes(const metric_t *m, const metric_source_t *s, double *v) {
  if (status(s))
    return pool_figure(m, s, v);
  fcgx_poll_plan_t plan = s->res->plan;
  if ((plan != FCGX_POLL_ASLEEP && plan != FCGX_POLL_RESTING) || s->workers == NULL ||
      !s->workers->master_alive || m->offset != offsetof(fpm_status_t, total_processes))
    return false;
  *v = s->workers->count;
  return true;
}

static bool up(const metric_t *m, const metric_source_t *s, double *v) {
  (void)m;
  *v = s->res->up ? 1 : 0;
  return true;
}

/* "max active processes" is a high-water mark; against pm.max_children, active is the load. */
static bool limit(const metric_t *m, const metric_source_t *s, double *v) {
  (void)m;
  *v = s->max_children;
  return status(s) && s->max_children > 0;
}

static bool utilization(const metric_t *m, const metric_source_t *s, double *v) {
  (void)m;
  *v = 100.0 * s->res->status.active_processes / s->max_children;
  return status(s) && s->max_children > 0;
}

/* Not loaded, or off: 0, so that an alert can fire. Restricted: nothing is known. */
static bool opcache_enabled(const metric_t *m, const metric_source_t *s, double *v) {
  (void)m;
  const opcache_report_t *oc = &s->res->opcache;
  *v = oc->availability == OPCACHE_OK && oc->enabled;
  return script(s) && oc->availability != OPCACHE_RESTRICTED;
}

#define FLAG_GETTER(name, flag)                                                                    \
  static bool name(const metric_t *m, const metric_source_t *s, double *v) {                       \
    (void)m;                                                                                       \
    *v = s->res->opcache.flag;                                                                     \
    return opcache(s);                                                                             \
  }

FLAG_GETTER(cache_full, cache_full)
FLAG_GETTER(restart_pending, restart_pending)
FLAG_GETTER(restart_in_progress, restart_in_progress)

/* hundredths of a CPU second: the rate is the percent of one core */
static bool workers_cpu(const metric_t *m, const metric_source_t *s, double *v) {
  if (!workers(m, s, v))
    return false;
  *v *= 100;
  return true;
}

/* ---- the catalogue ---- */

#define ST(f) offsetof(fpm_status_t, f)
#define RES(f) offsetof(fcgx_pool_result_t, f)
#define OC(f) offsetof(opcache_report_t, f)
#define WK(f) offsetof(worker_usage_t, f)
#define POOL(type, ti, kind, get, off)                                                             \
  { type, ti, kind, METRIC_OF_POOL, false, get, off }
#define CACHE(type, ti, kind, get, off)                                                            \
  { type, ti, kind, METRIC_OF_CACHE, true, get, off }
#define SCRIPT(type, ti, get, off)                                                                 \
  { type, ti, METRIC_GAUGE, METRIC_OF_POOL, true, get, off }
#define G METRIC_GAUGE
#define D METRIC_DERIVE

const metric_t fcgx_metrics[] = {
    POOL("fpm_up", NULL, G, up, 0),
    POOL("fpm_processes", "active", G, pool_figure, ST(active_processes)),
    POOL("fpm_processes", "idle", G, pool_figure, ST(idle_processes)),
    POOL("fpm_processes", "total", G, processes, ST(total_processes)),
    POOL("fpm_processes", "max_active", G, pool_figure, ST(max_active_processes)),
    POOL("fpm_requests", "accepted", D, pool_figure, ST(accepted_conn)),
    POOL("fpm_requests", "slow", D, pool_figure, ST(slow_requests)),
    POOL("fpm_events", "max_children_reached", D, pool_figure, ST(max_children_reached)),
    POOL("fpm_queue", "current", G, pool_figure, ST(listen_queue)),
    POOL("fpm_queue", "max", G, pool_figure, ST(max_listen_queue)),
    POOL("fpm_queue", "length", G, pool_figure, ST(listen_queue_len)),
    POOL("uptime", NULL, G, pool_figure, ST(start_since)),
    POOL("fpm_response_time", "status", G, status_time, RES(status_seconds)),
    POOL("fpm_processes", "limit", G, limit, 0),
    POOL("fpm_utilization", "active", G, utilization, 0),
    POOL("fpm_processes", "state_idle", G, process_figure, ST(state_count[FPM_STATE_IDLE])),
    POOL("fpm_processes", "state_running", G, process_figure, ST(state_count[FPM_STATE_RUNNING])),
    POOL("fpm_processes", "state_reading_headers", G, process_figure,
         ST(state_count[FPM_STATE_READING_HEADERS])),
    POOL("fpm_processes", "state_info", G, process_figure, ST(state_count[FPM_STATE_INFO])),
    POOL("fpm_processes", "state_finishing", G, process_figure,
         ST(state_count[FPM_STATE_FINISHING])),
    POOL("fpm_processes", "state_ending", G, process_figure, ST(state_count[FPM_STATE_ENDING])),
    POOL("fpm_request_duration", "avg", G, duration, ST(duration_avg)),
    POOL("fpm_request_duration", "max", G, duration, ST(duration_max)),
    POOL("fpm_request_duration", "running_max", G, running_max, ST(duration_running_max)),
    POOL("fpm_request_cpu", "avg", G, cpu, ST(cpu_avg)),
    POOL("fpm_request_cpu", "max", G, cpu, ST(cpu_max)),
    POOL("fpm_request_memory", "avg", G, memory, ST(memory_avg)),
    POOL("fpm_request_memory", "max", G, memory, ST(memory_max)),
    POOL("fpm_response_time", "ping", G, ping_time, RES(ping_seconds)),
    /* The kernel's figures come whatever php-fpm answered: they show a saturated pool. */
    POOL("fpm_queue", "kernel", G, kernel_queue, RES(kernel_queue)),
    POOL("fpm_queue", "kernel_max", G, kernel_backlog, RES(kernel_backlog)),

    CACHE("opcache_state", "enabled", G, opcache_enabled, 0),
    CACHE("opcache_state", "cache_full", G, cache_full, 0),
    CACHE("opcache_state", "restart_pending", G, restart_pending, 0),
    CACHE("opcache_state", "restart_in_progress", G, restart_in_progress, 0),
    CACHE("opcache_memory", "used", G, cache_figure, OC(used_memory)),
    CACHE("opcache_memory", "free", G, cache_figure, OC(free_memory)),
    CACHE("opcache_memory", "wasted", G, cache_figure, OC(wasted_memory)),
    CACHE("opcache_percent", "hit_rate", G, cache_figure, OC(hit_rate)),
    CACHE("opcache_percent", "wasted", G, cache_figure, OC(wasted_percentage)),
    CACHE("opcache_scripts", "cached", G, cache_figure, OC(cached_scripts)),
    CACHE("opcache_keys", "cached", G, cache_figure, OC(cached_keys)),
    CACHE("opcache_keys", "max", G, cache_figure, OC(max_cached_keys)),
    CACHE("opcache_lookups", "hits", D, cache_figure, OC(hits)),
    CACHE("opcache_lookups", "misses", D, cache_figure, OC(misses)),
    CACHE("opcache_lookups", "blacklist_misses", D, cache_figure, OC(blacklist_misses)),
    CACHE("opcache_restarts", "oom", D, cache_figure, OC(oom_restarts)),
    CACHE("opcache_restarts", "hash", D, cache_figure, OC(hash_restarts)),
    CACHE("opcache_restarts", "manual", D, cache_figure, OC(manual_restarts)),
    CACHE("opcache_strings_memory", "used", G, strings, OC(strings_used)),
    CACHE("opcache_strings_memory", "free", G, strings, OC(strings_free)),
    CACHE("opcache_strings", "count", G, strings, OC(strings_count)),
    CACHE("opcache_jit_memory", "size", G, jit, OC(jit_size)),
    CACHE("opcache_jit_memory", "free", G, jit, OC(jit_free)),
    CACHE("opcache_preload_memory", NULL, G, preload, OC(preload_memory)),
    CACHE("opcache_preload", "scripts", G, preload, OC(preload_scripts)),
    CACHE("opcache_preload", "functions", G, preload, OC(preload_functions)),
    CACHE("opcache_preload", "classes", G, preload, OC(preload_classes)),
    CACHE("apcu_memory", "used", G, apcu, OC(apcu_used)),
    CACHE("apcu_memory", "free", G, apcu, OC(apcu_free)),
    CACHE("apcu_entries", NULL, G, apcu, OC(apcu_entries)),
    CACHE("apcu_lookups", "hits", D, apcu, OC(apcu_hits)),
    CACHE("apcu_lookups", "misses", D, apcu, OC(apcu_misses)),
    CACHE("apcu_events", "expunges", D, apcu, OC(apcu_expunges)),
    /* each worker process has its own realpath cache: the pool's figure */
    SCRIPT("realpath_cache", "used", realpath, OC(realpath_used)),
    SCRIPT("realpath_cache", "size", realpath, OC(realpath_size)),
    SCRIPT("fpm_response_time", "opcache", script_time, RES(opcache_seconds)),

    POOL("fpm_workers", "count", G, workers, WK(count)),
    POOL("fpm_workers_cpu", NULL, D, workers_cpu, WK(cpu_seconds)),
    POOL("fpm_workers_memory", "rss", G, workers, WK(rss_bytes)),
};
const size_t fcgx_metrics_count = sizeof(fcgx_metrics) / sizeof(fcgx_metrics[0]);

bool metric_value(const metric_t *m, const metric_source_t *src, double *value) {
  if (!m->get(m, src, value) || isnan(*value))
    return false;
  /* a counter that is negative or beyond derive_t is no counter: never dispatched */
  return m->kind != METRIC_DERIVE || figure_in_range(*value, FIGURE_MAX_COUNTER);
}

void metric_name(const metric_t *m, char *buf, size_t size) {
  snprintf(buf, size, "%s%s%s", m->type, m->type_instance ? "-" : "",
           m->type_instance ? m->type_instance : "");
}
