/* php-fpm status JSON parsing, range checks and per-process aggregates; see fpm_status.h. */
#include "fpm_status.h"

#include "json_field.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DOC "status JSON"

/* last request cpu is CPU ticks over the request's duration: a request uses at most this many
 * CPUs at once, plus two clock ticks (10 ms each) of rounding at its start and end. */
#define CPU_MAX_CPUS 1024.0
#define CPU_TICKS_SLACK_S 0.02

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

/* A process's figures. A field php-fpm always prints (state, request duration, last request cpu
 * and memory) is required; start since, when present, bounds the duration. */
typedef struct {
  int state; /* -1 for a state a newer php-fpm may add */
  double pid;
  double duration; /* µs on the wire */
  double cpu, memory;
  double age; /* start since, s; -1 when absent or out of range */
} process_t;

static int read_process(const cJSON *proc, const char *where, process_t *p, char *err,
                        size_t err_size) {
  const cJSON *state = cJSON_GetObjectItemCaseSensitive(proc, "state");
  if (!cJSON_IsString(state)) {
    snprintf(err, err_size, "status JSON field \"state\"%s is missing or not a string", where);
    return -1;
  }
  if (json_number(proc, "request duration", &p->duration, DOC, where, err, err_size) != 0 ||
      json_number(proc, "last request cpu", &p->cpu, DOC, where, err, err_size) != 0 ||
      json_number(proc, "last request memory", &p->memory, DOC, where, err, err_size) != 0)
    return -1;
  p->state = parse_state(state->valuestring);
  const cJSON *pid = cJSON_GetObjectItemCaseSensitive(proc, "pid");
  p->pid = cJSON_IsNumber(pid) ? pid->valuedouble : -1;
  const cJSON *age = cJSON_GetObjectItemCaseSensitive(proc, "start since");
  p->age = cJSON_IsNumber(age) && figure_in_range(age->valuedouble, FIGURE_MAX_SECONDS)
               ? age->valuedouble
               : -1;
  return 0;
}

/* A request began after its worker did: its duration is at most the worker's age (start since,
 * whole seconds, so plus one). php-fpm prints a request that began after the page's own clock
 * reading as a negative duration, unsigned: about 1.8e19 µs (php bug 62382). */
static bool duration_ok(const process_t *p) {
  double max = p->age >= 0 ? (p->age + 1) * 1e6 : FIGURE_MAX_COUNTER;
  return figure_in_range(p->duration, max);
}

/* php-fpm prints cpu as CPU ticks used over the request's duration (the same duration), 0 when
 * that duration is 0: the CPU time it implies fits in the duration on CPU_MAX_CPUS CPUs, give or
 * take a tick at each end (a 9 ms request that crossed one tick shows 110 %). */
static bool cpu_ok(const process_t *p, double duration_s) {
  if (duration_s == 0)
    return p->cpu == 0;
  return p->cpu >= 0 && p->cpu / 100 * duration_s <= duration_s * CPU_MAX_CPUS + CPU_TICKS_SLACK_S;
}

static int parse_processes(const cJSON *procs, const char *self_uri, fpm_status_t *st, char *err,
                           size_t err_size) {
  double duration_sum = 0, cpu_sum = 0, memory_sum = 0;
  size_t running = 0;
  const cJSON *proc;
  int index = 0;

  if (!cJSON_IsArray(procs)) {
    snprintf(err, err_size, "status JSON field \"processes\" is not an array");
    return -1;
  }
  cJSON_ArrayForEach(proc, procs) {
    char where[48];
    process_t p;
    snprintf(where, sizeof(where), " in process %d", index++);
    if (read_process(proc, where, &p, err, err_size) != 0)
      return -1;

    /* Our own status request is served by one of these workers: count it idle, leave it out of
     * the request figures (its "request" is this very poll). */
    if (self_uri != NULL && !st->self_excluded && p.state != FPM_STATE_IDLE) {
      const cJSON *uri = cJSON_GetObjectItemCaseSensitive(proc, "request uri");
      if (cJSON_IsString(uri) && strcmp(uri->valuestring, self_uri) == 0) {
        st->self_excluded = true;
        st->state_count[FPM_STATE_IDLE]++;
        continue;
      }
    }
    /* A state a newer php-fpm may add is counted in no state, but its figures still count. */
    if (p.state >= 0)
      st->state_count[p.state]++;
    if (p.state == FPM_STATE_RUNNING)
      running++;

    bool duration_valid = duration_ok(&p);
    double duration = p.duration / 1e6; /* µs on the wire */
    if (!duration_valid) {
      figure_left_out(&st->out_of_range,
                      "request duration %.0f µs of pid %.0f (%s, process started %.0f s ago)",
                      p.duration, p.pid, p.state >= 0 ? fpm_state_names[p.state] : "unknown state",
                      p.age >= 0 ? p.age : NAN);
    } else {
      duration_sum += duration;
      if (st->duration_samples++ == 0 || duration > st->duration_max)
        st->duration_max = duration;
      if (p.state == FPM_STATE_RUNNING &&
          (st->running_samples++ == 0 || duration > st->duration_running_max))
        st->duration_running_max = duration;
    }
    /* php-fpm fills in last request cpu and memory only once a request has ended (Idle), and
     * computes cpu over the same duration: no duration, no cpu. */
    if (p.state != FPM_STATE_IDLE)
      continue;
    if (duration_valid && cpu_ok(&p, duration)) {
      cpu_sum += p.cpu;
      if (st->cpu_samples++ == 0 || p.cpu > st->cpu_max)
        st->cpu_max = p.cpu;
    } else {
      figure_left_out(&st->out_of_range,
                      "last request cpu %.17g %% of pid %.0f (request duration %.0f µs)", p.cpu,
                      p.pid, p.duration);
    }
    if (figure_in_range(p.memory, FIGURE_MAX_BYTES)) {
      memory_sum += p.memory;
      if (st->memory_samples++ == 0 || p.memory > st->memory_max)
        st->memory_max = p.memory;
    } else {
      figure_left_out(&st->out_of_range, "last request memory %.0f bytes of pid %.0f", p.memory,
                      p.pid);
    }
  }
  st->running_max_known = running == 0 || st->running_samples > 0;
  if (st->duration_samples > 0)
    st->duration_avg = duration_sum / (double)st->duration_samples;
  if (st->cpu_samples > 0)
    st->cpu_avg = cpu_sum / (double)st->cpu_samples;
  if (st->memory_samples > 0)
    st->memory_avg = memory_sum / (double)st->memory_samples;
  return 0;
}

/* What a reply that does not parse is, for the log, unless it begins like JSON: empty, php-fpm's
 * plain-text page (the query string did not reach it), or something else, shown by the start of
 * its first line. */
static bool describe_non_json(const char *body, size_t len, char *err, size_t err_size) {
  size_t i = 0;
  while (i < len && isspace((unsigned char)body[i]))
    i++;
  if (i == len) {
    snprintf(err, err_size, "status page is empty: no JSON (%zu bytes of white space)", len);
    return true;
  }
  if (body[i] == '{' || body[i] == '[')
    return false; /* JSON, however broken: the parser's error says where */
  char start[41];
  size_t n = 0;
  for (; i < len && n < sizeof(start) - 1 && body[i] != '\n' && body[i] != '\r'; i++)
    start[n++] = isprint((unsigned char)body[i]) ? body[i] : '?';
  start[n] = '\0';
  if (strncmp(start, "pool:", 5) == 0)
    snprintf(err, err_size,
             "status page is php-fpm's plain text, not JSON: the query string \"json\" did not "
             "reach php-fpm (it begins \"%s\")",
             start);
  else
    snprintf(err, err_size, "status page is no JSON object: it begins \"%s\" (%zu bytes)", start,
             len);
  return true;
}

int fpm_status_parse(const char *json, size_t len, const char *self_uri, fpm_status_t *st,
                     char *err, size_t err_size) {
  int status = -1;
  memset(st, 0, sizeof(*st));
  cJSON *root = json_parse_object(json, len, DOC, err, err_size);
  if (root == NULL) {
    describe_non_json(json, len, err, err_size);
    return -1;
  }
  const struct {
    const char *key;
    double *value;
    double max;
  } pool_fields[] = {
      {"start time", &st->start_time, FIGURE_MAX_SECONDS},
      {"start since", &st->start_since, FIGURE_MAX_SECONDS},
      {"accepted conn", &st->accepted_conn, FIGURE_MAX_COUNTER},
      {"listen queue", &st->listen_queue, FIGURE_MAX_INT},
      {"max listen queue", &st->max_listen_queue, FIGURE_MAX_INT},
      {"listen queue len", &st->listen_queue_len, FIGURE_MAX_INT},
      {"idle processes", &st->idle_processes, FIGURE_MAX_INT},
      {"active processes", &st->active_processes, FIGURE_MAX_INT},
      {"total processes", &st->total_processes, FIGURE_MAX_INT},
      {"max active processes", &st->max_active_processes, FIGURE_MAX_INT},
      {"max children reached", &st->max_children_reached, FIGURE_MAX_UINT},
      {"slow requests", &st->slow_requests, FIGURE_MAX_UINT},
  };
  for (size_t i = 0; i < sizeof(pool_fields) / sizeof(pool_fields[0]); i++)
    if (json_figure(root, pool_fields[i].key, pool_fields[i].max, pool_fields[i].value,
                    &st->out_of_range, DOC, "", err, err_size) != 0)
      goto out;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "pool");
  if (cJSON_IsString(name))
    snprintf(st->pool, sizeof(st->pool), "%s", name->valuestring);

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
