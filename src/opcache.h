/* The in-pool script's JSON (fcgx-status.php: OPcache, APCu, realpath cache) -> struct (pure,
 * cJSON). Every number is read as a double and checked against its range (NaN and counted when
 * outside it); optional sections are flagged. Owns nothing. */
#ifndef FCGX_OPCACHE_H
#define FCGX_OPCACHE_H

#include "figure_range.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  OPCACHE_OK,
  OPCACHE_NOT_LOADED, /* the extension is not loaded in the pool */
  OPCACHE_RESTRICTED, /* opcache.restrict_api excludes the script */
  OPCACHE_OFF,        /* loaded, but opcache.enable=0: no cache at all */
} opcache_availability_t;

typedef struct {
  opcache_availability_t availability;
  char restrict_api[128]; /* with OPCACHE_RESTRICTED: the directive's value */

  /* with OPCACHE_OK */
  double used_memory, free_memory, wasted_memory, wasted_percentage;
  double cached_scripts, cached_keys, max_cached_keys;
  double hits, misses, blacklist_misses, hit_rate;
  double oom_restarts, hash_restarts, manual_restarts;
  double strings_used, strings_free, strings_count;                           /* when has_strings */
  double jit_size, jit_free;                                                  /* when has_jit */
  double preload_memory, preload_scripts, preload_functions, preload_classes; /* has_preload */
  bool enabled, cache_full, restart_pending, restart_in_progress;
  bool has_strings;
  bool has_jit; /* a JIT buffer is configured (buffer_size > 0) */
  bool has_preload;

  bool has_apcu;
  bool has_realpath;
  double apcu_used, apcu_free, apcu_entries, apcu_hits, apcu_misses, apcu_expunges;
  double realpath_used, realpath_size;

  /* figures left out (NaN above) for being outside the range PHP can report */
  out_of_range_t out_of_range;
} opcache_report_t;

/* Returns 0, or -1 with err naming the missing or mistyped field. */
int opcache_report_parse(const char *json, size_t len, opcache_report_t *rep, char *err,
                         size_t err_size);

#endif
