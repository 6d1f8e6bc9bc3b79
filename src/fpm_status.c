/* php-fpm status JSON parsing and per-process aggregates; see fpm_status.h. */
#include "fpm_status.h"

#include "json_field.h"

#include <stdio.h>
#include <string.h>

#define DOC "status JSON"

const char *const fpm_state_names[FPM_STATE_COUNT] = {"Idle", "Running",   "Reading headers",
                                                      "Info", "Finishing", "Ending"};
const char *const fpm_state_metric_names[FPM_STATE_COUNT] = {"idle", "running",   "reading_headers",
                                                             "info", "finishing", "ending"};

/* php-fpm 8.x prints "Getting request information" for the info stage (older versions
 * "Getting request informations"); some documentation calls it "Info". */
static const struct {
  const char *name;
  fpm_state_t state;
} state_aliases[] = {
    {"Getting request information", FPM_STATE_INFO},
    {"Getting request informations", FPM_STATE_INFO},
};

static int parse_state(const char *name) {
  for (int i = 0; i < FPM_STATE_COUNT; i++)
    if (strcmp(name, fpm_state_names[i]) == 0)
      return i;
  for (size_t i = 0; i < sizeof(state_aliases) / sizeof(state_aliases[0]); i++)
    if (strcmp(name, state_aliases[i].name) == 0)
      return (int)state_aliases[i].state;
  return -1;
}

static int parse_processes(const cJSON *procs, const char *self_uri, fpm_status_t *st, char *err,
                           size_t err_size) {
  double duration_sum = 0, cpu_sum = 0, memory_sum = 0;
  const cJSON *proc;
  int index = 0;

  if (!cJSON_IsArray(procs)) {
    snprintf(err, err_size, "status JSON field \"processes\" is not an array");
    return -1;
  }
  cJSON_ArrayForEach(proc, procs) {
    char where[48];
    double duration, cpu, memory;
    snprintf(where, sizeof(where), " in process %d", index++);
    const cJSON *state_item = cJSON_GetObjectItemCaseSensitive(proc, "state");
    if (!cJSON_IsString(state_item)) {
      snprintf(err, err_size, "status JSON field \"state\"%s is missing or not a string", where);
      return -1;
    }
    if (json_number(proc, "request duration", &duration, DOC, where, err, err_size) != 0 ||
        json_number(proc, "last request cpu", &cpu, DOC, where, err, err_size) != 0 ||
        json_number(proc, "last request memory", &memory, DOC, where, err, err_size) != 0)
      return -1;
    /* A state a newer php-fpm may add is counted in no state, but its figures still count. */
    int state = parse_state(state_item->valuestring);

    /* Our own status request is served by one of these workers: count it idle, leave it out of
     * the request figures (its "request" is this very poll). */
    if (self_uri != NULL && !st->self_excluded && state != FPM_STATE_IDLE) {
      const cJSON *uri = cJSON_GetObjectItemCaseSensitive(proc, "request uri");
      if (cJSON_IsString(uri) && strcmp(uri->valuestring, self_uri) == 0) {
        st->self_excluded = true;
        st->state_count[FPM_STATE_IDLE]++;
        continue;
      }
    }
    if (state >= 0)
      st->state_count[state]++;

    duration /= 1e6; /* µs on the wire */
    duration_sum += duration;
    if (st->duration_samples++ == 0 || duration > st->duration_max)
      st->duration_max = duration;
    if (state == FPM_STATE_RUNNING) {
      if (st->running_samples++ == 0 || duration > st->duration_running_max)
        st->duration_running_max = duration;
    }
    /* php-fpm fills in last request cpu and memory only once a request has ended. */
    if (state == FPM_STATE_IDLE) {
      cpu_sum += cpu;
      memory_sum += memory;
      if (st->idle_samples++ == 0 || cpu > st->cpu_max)
        st->cpu_max = cpu;
      if (st->idle_samples == 1 || memory > st->memory_max)
        st->memory_max = memory;
    }
  }
  if (st->duration_samples > 0)
    st->duration_avg = duration_sum / (double)st->duration_samples;
  if (st->idle_samples > 0) {
    st->cpu_avg = cpu_sum / (double)st->idle_samples;
    st->memory_avg = memory_sum / (double)st->idle_samples;
  }
  return 0;
}

int fpm_status_parse(const char *json, size_t len, const char *self_uri, fpm_status_t *st,
                     char *err, size_t err_size) {
  int status = -1;
  memset(st, 0, sizeof(*st));
  cJSON *root = json_parse_object(json, len, DOC, err, err_size);
  if (root == NULL)
    return -1;
  const struct {
    const char *key;
    double *value;
  } pool_fields[] = {
      {"start time", &st->start_time},
      {"start since", &st->start_since},
      {"accepted conn", &st->accepted_conn},
      {"listen queue", &st->listen_queue},
      {"max listen queue", &st->max_listen_queue},
      {"listen queue len", &st->listen_queue_len},
      {"idle processes", &st->idle_processes},
      {"active processes", &st->active_processes},
      {"total processes", &st->total_processes},
      {"max active processes", &st->max_active_processes},
      {"max children reached", &st->max_children_reached},
      {"slow requests", &st->slow_requests},
  };
  for (size_t i = 0; i < sizeof(pool_fields) / sizeof(pool_fields[0]); i++)
    if (json_number(root, pool_fields[i].key, pool_fields[i].value, DOC, "", err, err_size) != 0)
      goto out;

  const cJSON *procs = cJSON_GetObjectItemCaseSensitive(root, "processes");
  if (procs != NULL) {
    st->has_processes = true;
    if (parse_processes(procs, self_uri, st, err, err_size) != 0)
      goto out;
  } else if (self_uri != NULL && st->active_processes >= 1) {
    st->self_excluded = true; /* php-fpm counts the worker serving this request as active */
  }
  if (st->self_excluded && st->active_processes >= 1) {
    st->active_processes--;
    st->idle_processes++;
  }
  status = 0;
out:
  cJSON_Delete(root);
  return status;
}
