/* Unit tests for fpm_status: pool figures and per-process aggregates from php-fpm's status JSON,
 * captured from php-fpm 8.2 (tests/capture-fixtures) or hand-written to mimic it. */
#include "unit_helpers.h"

#include <cJSON.h>
#include <math.h>
#include <string.h>

#include "cgi_response.h"
#include "fpm_status.h"

#define SELF "/status?json&full"
#define EPS 1e-9

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
  char *data; /* the whole fixture */
  const char *json;
  size_t len;
} body_t;

/* Loads a fixture: a .stdout file is a whole CGI reply (its body is the JSON), others are JSON. */
static void load_body(const char *name, body_t *b) {
  size_t len;
  b->data = read_fixture(name, &len);
  b->json = b->data;
  b->len = len;
  if (strstr(name, ".stdout") != NULL) {
    cgi_response_t resp;
    char err[128];
    if (cgi_response_parse(b->data, len, &resp, err, sizeof(err)) != 0)
      fail_msg("%s: %s", name, err);
    assert_int_equal(resp.status, 200);
    b->json = resp.body;
    b->len = resp.body_len;
  }
}

static void parse_ok(const body_t *b, const char *self_uri, fpm_status_t *st) {
  char err[256] = "";
  if (fpm_status_parse(b->json, b->len, self_uri, st, err, sizeof(err)) != 0)
    fail_msg("parse failed: %s", err);
}

/* Parses json, which must fail with an error containing each of the given words. */
static void parse_fails(const char *json, size_t len, const char *word1, const char *word2) {
  fpm_status_t st;
  char err[256] = "";
  if (fpm_status_parse(json, len, NULL, &st, err, sizeof(err)) != -1)
    fail_msg("parsed, expected an error naming %s: %.200s", word1, json);
  if (strstr(err, word1) == NULL || (word2 != NULL && strstr(err, word2) == NULL))
    fail_msg("error \"%s\" does not contain \"%s\" and \"%s\"", err, word1, word2 ? word2 : "");
}

#define assert_double(a, b) expect_double("", #a, (a), (b))

static void expect_double(const char *what, const char *name, double got, double want) {
  if (!(got - want <= EPS && want - got <= EPS))
    fail_msg("%s%s%s = %.17g, expected %.17g", what, *what ? ": " : "", name, got, want);
}

/* The pool fields, in the order field() returns them. */
static const char *const pool_fields[] = {
    "start time",       "start since",          "accepted conn",        "listen queue",
    "max listen queue", "listen queue len",     "idle processes",       "active processes",
    "total processes",  "max active processes", "max children reached", "slow requests",
};
#define N_POOL_FIELDS (sizeof(pool_fields) / sizeof(pool_fields[0]))

static double field(const fpm_status_t *st, size_t i) {
  const double values[N_POOL_FIELDS] = {
      st->start_time,           st->start_since,          st->accepted_conn,
      st->listen_queue,         st->max_listen_queue,     st->listen_queue_len,
      st->idle_processes,       st->active_processes,     st->total_processes,
      st->max_active_processes, st->max_children_reached, st->slow_requests,
  };
  return values[i];
}

/* What a parse must give, written out by hand from the fixture. */
typedef struct {
  double idle, active; /* pool figures after any self adjustment */
  double count[FPM_STATE_COUNT];
  size_t duration_samples; /* the rest only when has_processes */
  double duration_avg, duration_max;
  size_t running_samples;
  double running_max;
  size_t idle_samples;
  double cpu_avg, cpu_max, memory_avg, memory_max;
  bool has_processes, self_excluded;
} expected_t;

static void assert_status(const char *what, const fpm_status_t *st, const expected_t *e) {
#define EXPECT(field, want) expect_double(what, #field, (double)st->field, (double)(want))
  EXPECT(idle_processes, e->idle);
  EXPECT(active_processes, e->active);
  EXPECT(has_processes, e->has_processes);
  EXPECT(self_excluded, e->self_excluded);
  for (int s = 0; s < FPM_STATE_COUNT; s++)
    expect_double(what, fpm_state_names[s], st->state_count[s], e->count[s]);
  EXPECT(duration_samples, e->duration_samples);
  EXPECT(duration_avg, e->duration_avg);
  EXPECT(duration_max, e->duration_max);
  EXPECT(running_samples, e->running_samples);
  EXPECT(duration_running_max, e->running_max);
  /* every idle process of these fixtures has its cpu and memory in range */
  EXPECT(cpu_samples, e->idle_samples);
  EXPECT(memory_samples, e->idle_samples);
  EXPECT(out_of_range.count, 0);
  EXPECT(cpu_avg, e->cpu_avg);
  EXPECT(cpu_max, e->cpu_max);
  EXPECT(memory_avg, e->memory_avg);
  EXPECT(memory_max, e->memory_max);
#undef EXPECT
}

enum { IDLE = FPM_STATE_IDLE, RUN = FPM_STATE_RUNNING };

/* ---- pool figures ------------------------------------------------------------------------ */

/* Every pool field equals the number read from the same JSON with cJSON directly (no self). */
static void test_pool_fields_match_the_json(void **state) {
  (void)state;
  static const char *const names[] = {
      "status_full_idle.stdout", "status_full_busy.stdout", "status_plain.stdout",
      "status_tcp_full.stdout",  "status_states.json",
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    body_t b;
    load_body(names[i], &b);
    fpm_status_t st;
    parse_ok(&b, NULL, &st);
    cJSON *root = cJSON_ParseWithLength(b.json, b.len);
    assert_non_null(root);
    for (size_t f = 0; f < N_POOL_FIELDS; f++) {
      const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, pool_fields[f]);
      assert_true(cJSON_IsNumber(item));
      if (field(&st, f) != item->valuedouble)
        fail_msg("%s: \"%s\" = %.17g, JSON has %.17g", names[i], pool_fields[f], field(&st, f),
                 item->valuedouble);
    }
    assert_int_equal(st.has_processes, cJSON_GetObjectItem(root, "processes") != NULL);
    cJSON_Delete(root);
    free(b.data);
  }
}

/* The same, as exact numbers, so a wrong mapping of two fields cannot hide. */
static void test_pool_fields_exact(void **state) {
  (void)state;
  static const struct {
    const char *name;
    double values[N_POOL_FIELDS]; /* in pool_fields order */
  } cases[] = {
      {"status_tcp_full.stdout", {1795663630, 0, 2, 0, 0, 4096, 1, 1, 2, 1, 0, 0}},
      {"status_plain.stdout", {1795663630, 0, 7, 0, 0, 0, 2, 1, 3, 2, 0, 0}},
      {"status_full_busy.stdout", {1795663630, 0, 12, 0, 0, 0, 0, 3, 3, 3, 0, 0}},
      /* floats, exponents and a count above 2^32 */
      {"status_states.json", {1795663630, 150, 1234567890123, 3, 17, 4096, 2, 6, 8, 7, 1, 2}},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    body_t b;
    load_body(cases[i].name, &b);
    fpm_status_t st;
    parse_ok(&b, NULL, &st);
    for (size_t f = 0; f < N_POOL_FIELDS; f++)
      if (field(&st, f) != cases[i].values[f])
        fail_msg("%s: \"%s\" = %.17g, expected %.17g", cases[i].name, pool_fields[f], field(&st, f),
                 cases[i].values[f]);
    free(b.data);
  }
}

/* ---- processes and self exclusion ----------------------------------------------------------- */

typedef struct {
  const char *what;
  const char *fixture;
  const char *self_uri;
  expected_t e;
} aggregate_case_t;

/* Durations are µs on the wire, seconds here. */
static const aggregate_case_t aggregate_cases[] = {
    /* 2 Idle (mixed.php 232 µs, cpu 0, 2 MiB; work.php 51750 µs, cpu 96.62, 6295552 B), and our
     * own request Running for 66 µs. */
    {"idle pool, self excluded",
     "status_full_idle.stdout",
     SELF,
     {.idle = 3,
      .active = 0,
      .count = {[IDLE] = 3},
      .duration_samples = 2,
      .duration_avg = (232 + 51750) / 2e6,
      .duration_max = 0.05175,
      .idle_samples = 2,
      .cpu_avg = 96.62 / 2,
      .cpu_max = 96.62,
      .memory_avg = (2097152 + 6295552) / 2.0,
      .memory_max = 6295552,
      .has_processes = true,
      .self_excluded = true}},
    {"idle pool, no self",
     "status_full_idle.stdout",
     NULL,
     {.idle = 2,
      .active = 1,
      .count = {[IDLE] = 2, [RUN] = 1},
      .duration_samples = 3,
      .duration_avg = (232 + 51750 + 66) / 3e6,
      .duration_max = 0.05175,
      .running_samples = 1,
      .running_max = 66e-6,
      .idle_samples = 2,
      .cpu_avg = 96.62 / 2,
      .cpu_max = 96.62,
      .memory_avg = (2097152 + 6295552) / 2.0,
      .memory_max = 6295552,
      .has_processes = true}},
    /* 2 Running sleep.php (300342 and 300435 µs) and our own request (126 µs). */
    {"busy pool, self excluded",
     "status_full_busy.stdout",
     SELF,
     {.idle = 1,
      .active = 2,
      .count = {[IDLE] = 1, [RUN] = 2},
      .duration_samples = 2,
      .duration_avg = (300342 + 300435) / 2e6,
      .duration_max = 0.300435,
      .running_samples = 2,
      .running_max = 0.300435,
      .has_processes = true,
      .self_excluded = true}},
    {"busy pool, no self",
     "status_full_busy.stdout",
     NULL,
     {.idle = 0,
      .active = 3,
      .count = {[RUN] = 3},
      .duration_samples = 3,
      .duration_avg = (300342 + 300435 + 126) / 3e6,
      .duration_max = 0.300435,
      .running_samples = 3,
      .running_max = 0.300435,
      .has_processes = true}},
    /* TCP pool: Idle after /ping (147 µs, 2 MiB), our own request Running. */
    {"tcp pool, self excluded",
     "status_tcp_full.stdout",
     SELF,
     {.idle = 2,
      .active = 0,
      .count = {[IDLE] = 2},
      .duration_samples = 1,
      .duration_avg = 147e-6,
      .duration_max = 147e-6,
      .idle_samples = 1,
      .memory_avg = 2097152,
      .memory_max = 2097152,
      .has_processes = true,
      .self_excluded = true}},
    /* Hand-written, every state: Idle (last uri SELF, 1000 µs, cpu 71.428..., 2 MiB), Idle (3000
     * µs, cpu 0, 4 MiB), Running 2.5 s, Running SELF 150 µs, Reading headers 4 s, "Getting request
     * information" (Info) 100 µs, Finishing 0.5 s, Ending 200 µs. */
    {"every state, self excluded",
     "status_states.json",
     SELF,
     {.idle = 3,
      .active = 5,
      .count = {1 + 2, 1, 1, 1, 1, 1},
      .duration_samples = 7,
      .duration_avg = (1000 + 3000 + 2500000 + 4000000 + 100 + 500000 + 200) / 7e6,
      .duration_max = 4.0, /* Reading headers: the longest, but not Running */
      .running_samples = 1,
      .running_max = 2.5,
      .idle_samples = 2,
      .cpu_avg = 71.42857142857143 / 2,
      .cpu_max = 71.42857142857143,
      .memory_avg = 3145728,
      .memory_max = 4194304,
      .has_processes = true,
      .self_excluded = true}},
    {"every state, no self",
     "status_states.json",
     NULL,
     {.idle = 2,
      .active = 6,
      .count = {2, 2, 1, 1, 1, 1},
      .duration_samples = 8,
      .duration_avg = (1000 + 3000 + 2500000 + 150 + 4000000 + 100 + 500000 + 200) / 8e6,
      .duration_max = 4.0,
      .running_samples = 2,
      .running_max = 2.5,
      .idle_samples = 2,
      .cpu_avg = 71.42857142857143 / 2,
      .cpu_max = 71.42857142857143,
      .memory_avg = 3145728,
      .memory_max = 4194304,
      .has_processes = true}},
    /* Only an Idle process has this URI: that was an earlier request, not ours. */
    {"self uri only on an Idle process",
     "status_states.json",
     "/index.php",
     {.idle = 2,
      .active = 6,
      .count = {2, 2, 1, 1, 1, 1},
      .duration_samples = 8,
      .duration_avg = (1000 + 3000 + 2500000 + 150 + 4000000 + 100 + 500000 + 200) / 8e6,
      .duration_max = 4.0,
      .running_samples = 2,
      .running_max = 2.5,
      .idle_samples = 2,
      .cpu_avg = 71.42857142857143 / 2,
      .cpu_max = 71.42857142857143,
      .memory_avg = 3145728,
      .memory_max = 4194304,
      .has_processes = true}},
    /* Without `processes` our worker is one of the active ones. */
    {"plain, self", "status_plain.stdout", SELF, {.idle = 3, .active = 0, .self_excluded = true}},
    {"plain, no self", "status_plain.stdout", NULL, {.idle = 2, .active = 1}},
};

static void test_aggregates(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(aggregate_cases) / sizeof(aggregate_cases[0]); i++) {
    const aggregate_case_t *t = &aggregate_cases[i];
    body_t b;
    load_body(t->fixture, &b);
    fpm_status_t st;
    parse_ok(&b, t->self_uri, &st);
    assert_status(t->what, &st, &t->e);
    /* Self exclusion moves one worker from active to idle; the total never changes. */
    expect_double(t->what, "idle + active", st.idle_processes + st.active_processes,
                  st.total_processes);
    free(b.data);
  }
}

static void test_self_on_idle_pool_without_processes(void **state) {
  (void)state;
  static const char json[] =
      "{\"start time\":1,\"start since\":2,\"accepted conn\":3,\"listen queue\":0,"
      "\"max listen queue\":0,\"listen queue len\":0,\"idle processes\":4,\"active processes\":0,"
      "\"total processes\":4,\"max active processes\":1,\"max children reached\":0,"
      "\"slow requests\":0}";
  fpm_status_t st;
  char err[256];
  /* active 0: php-fpm did not count us (another pool served the request): nothing to undo. */
  assert_int_equal(fpm_status_parse(json, sizeof(json) - 1, SELF, &st, err, sizeof(err)), 0);
  assert_double(st.active_processes, 0);
  assert_double(st.idle_processes, 4);
  assert_false(st.self_excluded);
}

/* Two non-idle workers show our URI (another poller, or a previous poll still running): only
 * one of them is ours. A URI nobody shows excludes nothing. */
static void test_self_is_excluded_once(void **state) {
  (void)state;
  static const char json[] =
      "{\"start time\":1,\"start since\":2,\"accepted conn\":3,\"listen queue\":0,"
      "\"max listen queue\":0,\"listen queue len\":0,\"idle processes\":0,\"active processes\":2,"
      "\"total processes\":2,\"max active processes\":2,\"max children reached\":0,"
      "\"slow requests\":0,\"processes\":["
      "{\"state\":\"Running\",\"request duration\":10,\"request uri\":\"\\/status?json&full\","
      "\"last request cpu\":0,\"last request memory\":0},"
      "{\"state\":\"Finishing\",\"request duration\":30,\"request uri\":\"/status?json&full\","
      "\"last request cpu\":0,\"last request memory\":0}]}";
  fpm_status_t st;
  char err[256];
  assert_int_equal(fpm_status_parse(json, sizeof(json) - 1, SELF, &st, err, sizeof(err)), 0);
  assert_true(st.self_excluded);
  assert_double(st.active_processes, 1);
  assert_double(st.idle_processes, 1);
  assert_double(st.state_count[FPM_STATE_IDLE], 1);
  assert_double(st.state_count[FPM_STATE_RUNNING] + st.state_count[FPM_STATE_FINISHING], 1);
  assert_int_equal(st.duration_samples, 1);

  assert_int_equal(fpm_status_parse(json, sizeof(json) - 1, "/status?json", &st, err, sizeof(err)),
                   0);
  assert_false(st.self_excluded);
  assert_double(st.active_processes, 2);
  assert_double(st.idle_processes, 0);
  assert_double(st.state_count[FPM_STATE_RUNNING], 1);
  assert_double(st.state_count[FPM_STATE_FINISHING], 1);
  assert_double(st.duration_avg, 20e-6);
}

/* A state a newer php-fpm may add (php-src master has "Creating") is counted in no state, but
 * its request still counts in the durations. */
static void test_unknown_state_is_counted_nowhere(void **state) {
  (void)state;
  static const char json[] =
      "{\"start time\":1,\"start since\":2,\"accepted conn\":3,\"listen queue\":0,"
      "\"max listen queue\":0,\"listen queue len\":0,\"idle processes\":1,\"active processes\":1,"
      "\"total processes\":2,\"max active processes\":1,\"max children reached\":0,"
      "\"slow requests\":0,\"processes\":["
      "{\"state\":\"Idle\",\"request duration\":1000,\"request uri\":\"/a\","
      "\"last request cpu\":5,\"last request memory\":100},"
      "{\"state\":\"Creating\",\"request duration\":3000,\"request uri\":\"-\","
      "\"last request cpu\":50,\"last request memory\":900}]}";
  fpm_status_t st;
  char err[256];
  assert_int_equal(fpm_status_parse(json, sizeof(json) - 1, NULL, &st, err, sizeof(err)), 0);
  const expected_t e = {.idle = 1,
                        .active = 1,
                        .count = {[IDLE] = 1},
                        .duration_samples = 2,
                        .duration_avg = 0.002,
                        .duration_max = 0.003,
                        .idle_samples = 1,
                        .cpu_avg = 5,
                        .cpu_max = 5,
                        .memory_avg = 100,
                        .memory_max = 100,
                        .has_processes = true};
  assert_status("unknown state", &st, &e);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void test_invalid_json(void **state) {
  (void)state;
  body_t b;
  load_body("status_full_unescaped.stdout", &b);
  parse_fails(b.json, b.len, "JSON", NULL);
  free(b.data);

  load_body("status_full_idle.stdout", &b);
  parse_fails(b.json, b.len / 2, "JSON", NULL); /* truncated */
  free(b.data);

  parse_fails("", 0, "JSON", NULL);
  parse_fails("[1,2]", 5, "object", NULL);
  parse_fails("\"pool\"", 6, "object", NULL);
}

static void test_missing_and_mistyped_fixtures(void **state) {
  (void)state;
  body_t b;
  load_body("status_missing_field.json", &b);
  parse_fails(b.json, b.len, "\"accepted conn\"", NULL);
  free(b.data);
  load_body("status_mistyped_field.json", &b);
  parse_fails(b.json, b.len, "\"listen queue\"", "number");
  free(b.data);
}

/* Every pool field, removed or replaced by a non-number, gives an error naming it. */
static void test_every_pool_field_is_required(void **state) {
  (void)state;
  body_t b;
  load_body("status_full_idle.stdout", &b);
  for (size_t f = 0; f < N_POOL_FIELDS; f++) {
    char quoted[64];
    snprintf(quoted, sizeof(quoted), "\"%s\"", pool_fields[f]);
    for (int variant = 0; variant < 4; variant++) {
      cJSON *root = cJSON_ParseWithLength(b.json, b.len);
      assert_non_null(root);
      cJSON *bad[] = {NULL, cJSON_CreateString("0"), cJSON_CreateNull(), cJSON_CreateTrue()};
      if (variant == 0)
        cJSON_DeleteItemFromObjectCaseSensitive(root, pool_fields[f]);
      else
        cJSON_ReplaceItemInObjectCaseSensitive(root, pool_fields[f], bad[variant]);
      for (int k = 1; k < 4; k++)
        if (k != variant)
          cJSON_Delete(bad[k]);
      char *json = cJSON_PrintUnformatted(root);
      parse_fails(json, strlen(json), quoted, NULL);
      cJSON_free(json);
      cJSON_Delete(root);
    }
  }
  free(b.data);
}

/* The per-process fields the aggregates need, removed or mistyped in the second process. */
static void test_process_fields_are_required(void **state) {
  (void)state;
  static const struct {
    const char *key;
    const char *replacement; /* NULL: removed */
  } cases[] = {
      {"state", NULL},
      {"state", "1"},
      {"request duration", NULL},
      {"request duration", "\"12\""},
      {"last request cpu", NULL},
      {"last request cpu", "\"0.00\""},
      {"last request memory", NULL},
      {"last request memory", "null"},
  };
  body_t b;
  load_body("status_full_idle.stdout", &b);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cJSON *root = cJSON_ParseWithLength(b.json, b.len);
    cJSON *proc = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "processes"), 1);
    assert_non_null(proc);
    if (cases[i].replacement == NULL)
      cJSON_DeleteItemFromObjectCaseSensitive(proc, cases[i].key);
    else
      cJSON_ReplaceItemInObjectCaseSensitive(proc, cases[i].key, cJSON_Parse(cases[i].replacement));
    char *json = cJSON_PrintUnformatted(root);
    char quoted[64];
    snprintf(quoted, sizeof(quoted), "\"%s\"", cases[i].key);
    parse_fails(json, strlen(json), quoted, NULL);
    cJSON_free(json);
    cJSON_Delete(root);
  }
  free(b.data);

  static const char not_array[] =
      "{\"start time\":1,\"start since\":2,\"accepted conn\":3,\"listen queue\":0,"
      "\"max listen queue\":0,\"listen queue len\":0,\"idle processes\":4,\"active processes\":0,"
      "\"total processes\":4,\"max active processes\":1,\"max children reached\":0,"
      "\"slow requests\":0,\"processes\":{}}";
  parse_fails(not_array, sizeof(not_array) - 1, "processes", NULL);
}

/* ---- ranges -------------------------------------------------------------------------------- */

/* A pool figure outside what php-fpm's scoreboard can hold is NaN (never dispatched) and counted;
 * the rest of the page still counts. */
static void test_pool_figures_out_of_range(void **state) {
  (void)state;
  static const struct {
    const char *key;
    double bad, good; /* just outside, and the largest inside */
  } cases[] = {
      {"start since", 4294967297.0, 4294967296.0},      /* 136 years */
      {"accepted conn", 1.8446744073709552e19, 9.2e18}, /* within a DERIVE */
      {"active processes", -1, 2147483647.0},           /* an int */
      {"listen queue len", 2147483648.0, 2147483647.0},
      {"slow requests", 4294967296.0, 4294967295.0}, /* an unsigned int */
  };
  body_t b;
  load_body("status_plain.stdout", &b);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    for (int inside = 0; inside < 2; inside++) {
      cJSON *root = cJSON_ParseWithLength(b.json, b.len);
      assert_non_null(root);
      cJSON_ReplaceItemInObjectCaseSensitive(
          root, cases[i].key, cJSON_CreateNumber(inside ? cases[i].good : cases[i].bad));
      char *json = cJSON_PrintUnformatted(root);
      fpm_status_t st;
      char err[256] = "";
      assert_int_equal(fpm_status_parse(json, strlen(json), NULL, &st, err, sizeof(err)), 0);
      size_t k;
      for (k = 0; strcmp(pool_fields[k], cases[i].key) != 0; k++)
        ;
      if (inside) {
        expect_double(cases[i].key, "inside", field(&st, k), cases[i].good);
        assert_int_equal(st.out_of_range.count, 0);
      } else {
        if (!isnan(field(&st, k)))
          fail_msg("%s = %.17g was kept", cases[i].key, field(&st, k));
        assert_int_equal(st.out_of_range.count, 1);
        assert_non_null(strstr(st.out_of_range.first, cases[i].key));
        assert_false(isnan(st.start_time)); /* the others are still read */
      }
      cJSON_free(json);
      cJSON_Delete(root);
    }
  }
  free(b.data);
}

/* One process's figures as php-fpm prints them, with start since 10 s. */
static void parse_one_process(const char *state_name, double duration_us, double cpu, double memory,
                              fpm_status_t *st) {
  char json[1024];
  snprintf(json, sizeof(json),
           "{\"start time\":1,\"start since\":20,\"accepted conn\":3,\"listen queue\":0,"
           "\"max listen queue\":0,\"listen queue len\":0,\"idle processes\":1,"
           "\"active processes\":0,\"total processes\":1,\"max active processes\":1,"
           "\"max children reached\":0,\"slow requests\":0,\"processes\":[{\"pid\":7,"
           "\"state\":\"%s\",\"start since\":10,\"request duration\":%.17g,"
           "\"last request cpu\":%.17g,\"last request memory\":%.17g}]}",
           state_name, duration_us, cpu, memory);
  char err[256] = "";
  if (fpm_status_parse(json, strlen(json), NULL, st, err, sizeof(err)) != 0)
    fail_msg("%s", err);
}

/* A request's duration is at most its worker's age (start since + 1 s, whole seconds): beyond
 * it, a negative duration printed unsigned (php bug 62382). Left out of avg, max, running_max. */
static void test_duration_range(void **state) {
  (void)state;
  fpm_status_t st;
  parse_one_process("Running", 11e6, 0, 0, &st);
  assert_int_equal(st.duration_samples, 1);
  assert_double(st.duration_running_max, 11.0);
  assert_true(st.running_max_known);
  assert_int_equal(st.out_of_range.count, 0);

  parse_one_process("Running", 11e6 + 1, 0, 0, &st);
  assert_int_equal(st.duration_samples, 0);
  assert_int_equal(st.running_samples, 0);
  assert_false(st.running_max_known); /* a process runs, its duration unknown: not 0 */
  assert_double(st.state_count[FPM_STATE_RUNNING], 1);
  assert_int_equal(st.out_of_range.count, 1);
  assert_non_null(strstr(st.out_of_range.first, "request duration 11000001 µs of pid 7"));

  parse_one_process("Running", -5, 0, 0, &st);
  assert_int_equal(st.duration_samples, 0);
  assert_int_equal(st.out_of_range.count, 1);

  /* Idle: the duration and the cpu php-fpm computed over it go; the memory stays. */
  parse_one_process("Idle", 1.8446744073709552e19, 10, 4096, &st);
  assert_int_equal(st.duration_samples, 0);
  assert_int_equal(st.cpu_samples, 0);
  assert_int_equal(st.memory_samples, 1);
  assert_double(st.memory_max, 4096);
  assert_int_equal(st.out_of_range.count, 2);
}

/* last request cpu is CPU ticks (10 ms) over the request's duration: above 100 % for a short
 * request that crossed a tick, never negative, never more CPU time than 1024 CPUs plus two ticks
 * give in that duration, and 0 when the duration is 0. */
static void test_cpu_range(void **state) {
  (void)state;
  static const struct {
    double duration_us, cpu;
    bool kept;
  } cases[] = {
      {9530, 104.93, true}, /* Telegraf's page: one tick over 9.53 ms */
      {100, 10000, true},   /* one tick over 0.1 ms */
      {100, 20000, true},   /* two ticks */
      {100, 20000 + 102400 + 1, false},
      {1e6, 102400, true}, /* 1024 CPUs for a second */
      {1e6, 102402.1, false},
      {0, 0, true},
      {0, 5, false}, /* php-fpm prints 0 when the duration is 0 */
      {5000, -1, false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    fpm_status_t st;
    parse_one_process("Idle", cases[i].duration_us, cases[i].cpu, 0, &st);
    if ((st.cpu_samples == 1) != cases[i].kept)
      fail_msg("cpu %.17g over %.0f µs: %s, expected %s", cases[i].cpu, cases[i].duration_us,
               st.cpu_samples ? "kept" : "left out", cases[i].kept ? "kept" : "left out");
    assert_int_equal(st.out_of_range.count, cases[i].kept ? 0 : 1);
    if (cases[i].kept)
      assert_double(st.cpu_max, cases[i].cpu);
  }
}

/* last request memory: bytes, at most 2^57 (the largest 64-bit address space). */
static void test_memory_range(void **state) {
  (void)state;
  fpm_status_t st;
  parse_one_process("Idle", 1000, 0, 144115188075855872.0, &st);
  assert_int_equal(st.memory_samples, 1);
  parse_one_process("Idle", 1000, 0, 144115188075855872.0 * 2, &st);
  assert_int_equal(st.memory_samples, 0);
  assert_int_equal(st.cpu_samples, 1);
  assert_int_equal(st.out_of_range.count, 1);
  assert_non_null(strstr(st.out_of_range.first, "last request memory"));
  parse_one_process("Idle", 1000, 0, -1, &st);
  assert_int_equal(st.memory_samples, 0);
}

/* Only len bytes are read: the reply buffer need not be NUL-terminated after the JSON. */
static void test_len_is_respected(void **state) {
  (void)state;
  body_t b;
  load_body("status_plain.stdout", &b);
  char *copy = malloc(b.len + 8);
  memcpy(copy, b.json, b.len);
  memcpy(copy + b.len, "garbage", 8);
  fpm_status_t st;
  char err[256];
  assert_int_equal(fpm_status_parse(copy, b.len, NULL, &st, err, sizeof(err)), 0);
  assert_double(st.accepted_conn, 7);
  free(copy);
  free(b.data);
}

static void test_state_names(void **state) {
  (void)state;
  static const char *const names[] = {"Idle", "Running",   "Reading headers",
                                      "Info", "Finishing", "Ending"};
  static const char *const metric[] = {"idle", "running",   "reading_headers",
                                       "info", "finishing", "ending"};
  for (int s = 0; s < FPM_STATE_COUNT; s++) {
    assert_string_equal(fpm_state_names[s], names[s]);
    assert_string_equal(fpm_state_metric_names[s], metric[s]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pool_fields_match_the_json),
      cmocka_unit_test(test_pool_fields_exact),
      cmocka_unit_test(test_aggregates),
      cmocka_unit_test(test_self_on_idle_pool_without_processes),
      cmocka_unit_test(test_self_is_excluded_once),
      cmocka_unit_test(test_unknown_state_is_counted_nowhere),
      cmocka_unit_test(test_invalid_json),
      cmocka_unit_test(test_missing_and_mistyped_fixtures),
      cmocka_unit_test(test_every_pool_field_is_required),
      cmocka_unit_test(test_process_fields_are_required),
      cmocka_unit_test(test_pool_figures_out_of_range),
      cmocka_unit_test(test_duration_range),
      cmocka_unit_test(test_cpu_range),
      cmocka_unit_test(test_memory_range),
      cmocka_unit_test(test_len_is_respected),
      cmocka_unit_test(test_state_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
