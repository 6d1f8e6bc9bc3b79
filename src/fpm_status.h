/* php-fpm's status JSON (`?json`, `?json&full`) -> struct, with per-process aggregates (pure,
 * cJSON). Every number is read as a double and checked against the range php-fpm can print for
 * its field: one outside it is left out (NaN for a pool figure, no sample for an aggregate) and
 * counted. The struct owns nothing. */
#ifndef FCGX_FPM_STATUS_H
#define FCGX_FPM_STATUS_H

#include "figure_range.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  FPM_STATE_IDLE,
  FPM_STATE_RUNNING,
  FPM_STATE_READING_HEADERS,
  FPM_STATE_INFO,
  FPM_STATE_FINISHING,
  FPM_STATE_ENDING,
  FPM_STATE_COUNT
} fpm_state_t;

extern const char *const fpm_state_names[FPM_STATE_COUNT];        /* as php-fpm prints them */
extern const char *const fpm_state_metric_names[FPM_STATE_COUNT]; /* "idle", "reading_headers" */

typedef struct {
  char pool[64]; /* the page's own name of the pool ("" when absent), truncated */

  /* pool figures; NaN when outside the range php-fpm can print (never dispatched) */
  double start_time, start_since;
  double accepted_conn;
  double listen_queue, max_listen_queue, listen_queue_len;
  double idle_processes, active_processes, total_processes, max_active_processes;
  double max_children_reached, slow_requests;

  /* from `processes` (full only) */
  bool has_processes;
  double state_count[FPM_STATE_COUNT];
  /* request duration over every process other than our own request, seconds */
  size_t duration_samples;
  double duration_avg, duration_max;
  size_t running_samples;
  double duration_running_max; /* over Running processes only; 0 when none */
  bool running_max_known;      /* false when every Running process's duration was left out */
  /* last request cpu (percent) and memory (bytes), over idle processes only */
  size_t cpu_samples, memory_samples;
  double cpu_avg, cpu_max, memory_avg, memory_max;

  bool self_excluded; /* our own request was found and counted as idle */

  /* figures and per-process samples left out for being outside their range */
  out_of_range_t out_of_range;
} fpm_status_t;

/* Parses json. self_uri, when not NULL, is the request URI of our own status request as the pool
 * serving it sees it: that worker is counted idle instead of active (with `full`, the non-idle
 * process with that URI; without, one active process). Returns 0, or -1 with err naming the
 * missing or mistyped field, or saying what the page is when it is no JSON object. */
int fpm_status_parse(const char *json, size_t len, const char *self_uri, fpm_status_t *st,
                     char *err, size_t err_size);

#endif
