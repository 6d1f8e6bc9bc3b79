/* The in-pool script's JSON -> opcache_report_t; see opcache.h. */
#include "opcache.h"

#include "json_field.h"

#include <stdio.h>
#include <string.h>

#define DOC "OPcache script JSON"

typedef struct {
  const char *key;
  double *value;
  double max; /* the largest value PHP can report: beyond it, left out */
} number_field_t;

/* Reads every field of a section; where names the section in errors. */
static int read_numbers(const cJSON *section, const number_field_t *fields, size_t n,
                        const char *where, opcache_report_t *rep, char *err, size_t err_size) {
  for (size_t i = 0; i < n; i++)
    if (json_figure(section, fields[i].key, fields[i].max, fields[i].value, &rep->out_of_range, DOC,
                    where, err, err_size) != 0)
      return -1;
  return 0;
}

/* A section that must be an object when present; returns NULL when absent. */
static const cJSON *section(const cJSON *obj, const char *key, bool required, int *failed,
                            char *err, size_t err_size) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (item == NULL && !required)
    return NULL;
  if (!cJSON_IsObject(item)) {
    snprintf(err, err_size, "%s %s \"%s\"", DOC, item == NULL ? "has no" : "has a non-object", key);
    *failed = 1;
    return NULL;
  }
  return item;
}

#define N(fields) (sizeof(fields) / sizeof((fields)[0]))

static int parse_opcache(const cJSON *oc, opcache_report_t *rep, char *err, size_t err_size) {
  int failed = 0;
  const struct {
    const char *key;
    bool *value;
  } flags[] = {
      {"opcache_enabled", &rep->enabled},
      {"cache_full", &rep->cache_full},
      {"restart_pending", &rep->restart_pending},
      {"restart_in_progress", &rep->restart_in_progress},
  };
  for (size_t i = 0; i < N(flags); i++)
    if (json_bool(oc, flags[i].key, flags[i].value, DOC, "", err, err_size) != 0)
      return -1;

  const cJSON *memory = section(oc, "memory_usage", true, &failed, err, err_size);
  const cJSON *stats = section(oc, "opcache_statistics", true, &failed, err, err_size);
  const cJSON *strings = section(oc, "interned_strings_usage", false, &failed, err, err_size);
  const cJSON *jit = section(oc, "jit", false, &failed, err, err_size);
  const cJSON *preload = section(oc, "preload_statistics", false, &failed, err, err_size);
  if (failed)
    return -1;

  const number_field_t memory_fields[] = {
      {"used_memory", &rep->used_memory, FIGURE_MAX_BYTES},
      {"free_memory", &rep->free_memory, FIGURE_MAX_BYTES},
      {"wasted_memory", &rep->wasted_memory, FIGURE_MAX_BYTES},
      {"current_wasted_percentage", &rep->wasted_percentage, FIGURE_MAX_PERCENT},
  };
  const number_field_t stats_fields[] = {
      {"num_cached_scripts", &rep->cached_scripts, FIGURE_MAX_UINT},
      {"num_cached_keys", &rep->cached_keys, FIGURE_MAX_UINT},
      {"max_cached_keys", &rep->max_cached_keys, FIGURE_MAX_UINT},
      {"hits", &rep->hits, FIGURE_MAX_COUNTER},
      {"misses", &rep->misses, FIGURE_MAX_COUNTER},
      {"blacklist_misses", &rep->blacklist_misses, FIGURE_MAX_COUNTER},
      {"opcache_hit_rate", &rep->hit_rate, FIGURE_MAX_PERCENT},
      {"oom_restarts", &rep->oom_restarts, FIGURE_MAX_COUNTER},
      {"hash_restarts", &rep->hash_restarts, FIGURE_MAX_COUNTER},
      {"manual_restarts", &rep->manual_restarts, FIGURE_MAX_COUNTER},
  };
  if (read_numbers(memory, memory_fields, N(memory_fields), " in memory_usage", rep, err,
                   err_size) ||
      read_numbers(stats, stats_fields, N(stats_fields), " in opcache_statistics", rep, err,
                   err_size))
    return -1;

  if (strings != NULL) {
    const number_field_t fields[] = {
        {"used_memory", &rep->strings_used, FIGURE_MAX_BYTES},
        {"free_memory", &rep->strings_free, FIGURE_MAX_BYTES},
        {"number_of_strings", &rep->strings_count, FIGURE_MAX_UINT},
    };
    if (read_numbers(strings, fields, N(fields), " in interned_strings_usage", rep, err, err_size))
      return -1;
    rep->has_strings = true;
  }
  if (jit != NULL) {
    const number_field_t fields[] = {
        {"buffer_size", &rep->jit_size, FIGURE_MAX_BYTES},
        {"buffer_free", &rep->jit_free, FIGURE_MAX_BYTES},
    };
    if (read_numbers(jit, fields, N(fields), " in jit", rep, err, err_size))
      return -1;
    rep->has_jit = rep->jit_size > 0; /* php reports a zero buffer when JIT is off */
  }
  if (preload != NULL) {
    /* fcgx-status.php sends counts; opcache_get_status() itself sends the lists. */
    const char *lists[] = {"scripts", "functions", "classes"};
    double *counts[] = {&rep->preload_scripts, &rep->preload_functions, &rep->preload_classes};
    const char *where = " in preload_statistics";
    if (json_figure(preload, "memory_consumption", FIGURE_MAX_BYTES, &rep->preload_memory,
                    &rep->out_of_range, DOC, where, err, err_size))
      return -1;
    for (size_t i = 0; i < N(lists); i++) {
      const cJSON *item = cJSON_GetObjectItemCaseSensitive(preload, lists[i]);
      if (cJSON_IsArray(item))
        *counts[i] = cJSON_GetArraySize(item);
      else if (cJSON_IsNumber(item)) {
        if (json_figure(preload, lists[i], FIGURE_MAX_UINT, counts[i], &rep->out_of_range, DOC,
                        where, err, err_size))
          return -1;
      } else if (item != NULL) {
        snprintf(err, err_size,
                 "%s field \"%s\" in preload_statistics is neither a count nor a list", DOC,
                 lists[i]);
        return -1;
      }
    }
    rep->has_preload = true;
  }
  return 0;
}

static int parse_apcu(const cJSON *apcu, opcache_report_t *rep, char *err, size_t err_size) {
  double seg_size, num_seg;
  const number_field_t fields[] = {
      {"num_entries", &rep->apcu_entries, FIGURE_MAX_UINT},
      {"num_hits", &rep->apcu_hits, FIGURE_MAX_COUNTER},
      {"num_misses", &rep->apcu_misses, FIGURE_MAX_COUNTER},
      {"expunges", &rep->apcu_expunges, FIGURE_MAX_COUNTER},
      {"seg_size", &seg_size, FIGURE_MAX_BYTES},
      {"num_seg", &num_seg, FIGURE_MAX_UINT},
      {"avail_mem", &rep->apcu_free, FIGURE_MAX_BYTES},
  };
  if (read_numbers(apcu, fields, N(fields), " in apcu", rep, err, err_size))
    return -1;
  rep->apcu_used = seg_size * num_seg - rep->apcu_free;
  if (rep->apcu_used < 0)
    rep->apcu_used = 0;
  rep->has_apcu = true;
  return 0;
}

int opcache_report_parse(const char *json, size_t len, opcache_report_t *rep, char *err,
                         size_t err_size) {
  int failed = 0;
  int status = -1;
  memset(rep, 0, sizeof(*rep));
  cJSON *root = json_parse_object(json, len, DOC, err, err_size);
  if (root == NULL)
    return -1;
  if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(root, "fcgx"))) {
    /* e.g. a raw opcache_get_status() dump, or another script at that path */
    snprintf(err, err_size, "%s is not from fcgx-status.php (no \"fcgx\" version)", DOC);
    goto out;
  }

  const cJSON *oc = section(root, "opcache", false, &failed, err, err_size);
  const cJSON *apcu = section(root, "apcu", false, &failed, err, err_size);
  const cJSON *realpath = section(root, "realpath_cache", false, &failed, err, err_size);
  if (failed)
    goto out;

  if (oc != NULL) {
    rep->availability = OPCACHE_OK;
    if (parse_opcache(oc, rep, err, err_size) != 0)
      goto out;
  } else {
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(root, "opcache_error");
    const char *reason = cJSON_IsString(why) ? why->valuestring : "";
    if (strcmp(reason, "not_loaded") == 0)
      rep->availability = OPCACHE_NOT_LOADED;
    else if (strcmp(reason, "restricted") == 0)
      rep->availability = OPCACHE_RESTRICTED;
    else if (strcmp(reason, "disabled") == 0)
      rep->availability = OPCACHE_OFF;
    else {
      snprintf(err, err_size, "%s has neither \"opcache\" nor a known \"opcache_error\"", DOC);
      goto out;
    }
    const cJSON *restrict_api = cJSON_GetObjectItemCaseSensitive(root, "opcache_restrict_api");
    if (cJSON_IsString(restrict_api))
      snprintf(rep->restrict_api, sizeof(rep->restrict_api), "%s", restrict_api->valuestring);
  }
  if (apcu != NULL && parse_apcu(apcu, rep, err, err_size) != 0)
    goto out;
  if (realpath != NULL) {
    const number_field_t fields[] = {
        {"used", &rep->realpath_used, FIGURE_MAX_BYTES},
        {"size", &rep->realpath_size, FIGURE_MAX_BYTES},
    };
    if (read_numbers(realpath, fields, N(fields), " in realpath_cache", rep, err, err_size))
      goto out;
    rep->has_realpath = true;
  }
  status = 0;
out:
  cJSON_Delete(root);
  return status;
}
