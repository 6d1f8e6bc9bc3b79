/* Unit tests for the metric catalogue: it, types.db.fcgx and the README's metric tables name the
 * same metrics with the same kinds, so that none of the three can drift from the others; and its
 * getters read the right figures from a poll result. */
#include "unit_helpers.h"

#include <math.h>
#include <string.h>

#include "metrics.h"

#define MAX_NAMES 200

typedef struct {
  char name[96];
  char kind[16]; /* "GAUGE" / "DERIVE" */
  bool used;
} listed_t;

typedef struct {
  listed_t items[MAX_NAMES];
  size_t n;
} list_t;

static listed_t *find(list_t *l, const char *name) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->items[i].name, name) == 0)
      return &l->items[i];
  return NULL;
}

static void add(list_t *l, const char *name, const char *kind) {
  assert_true(l->n < MAX_NAMES);
  if (find(l, name) != NULL)
    fail_msg("%s is listed twice", name);
  snprintf(l->items[l->n].name, sizeof(l->items[0].name), "%s", name);
  snprintf(l->items[l->n].kind, sizeof(l->items[0].kind), "%s", kind);
  l->n++;
}

/* types.db.fcgx: "name value:KIND:min:max" lines. */
static void read_types_db(list_t *types) {
  size_t len;
  char *text = read_file_opt(SOURCE_DIR, "types.db.fcgx", &len);
  assert_non_null(text);
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    char name[64], kind[16];
    if (line[0] == '#' || sscanf(line, "%63s value:%15[A-Z]:", name, kind) != 2)
      continue;
    add(types, name, kind);
  }
  free(text);
}

/* The README's metric tables under "## Metrics": the first cell of a row names metrics in
 * backquotes,
 * "`fpm_processes-active`, `-idle`" (a leading '-' keeps the type before it); the third is the
 * kind. */
static void read_readme(list_t *names) {
  size_t len;
  char *text = read_file_opt(SOURCE_DIR, "README.md", &len);
  assert_non_null(text);
  char *start = strstr(text, "\n## Metrics\n");
  assert_non_null(start);
  char *end = strstr(start + 1, "\n## ");
  assert_non_null(end);
  *end = '\0';
  bool in_table = false; /* a table whose header is "| type-type_instance |" */
  for (char *save = NULL, *line = strtok_r(start, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    if (line[0] != '|')
      in_table = false;
    else if (strncmp(line, "| type-type_instance |", 22) == 0)
      in_table = true;
    if (!in_table || strncmp(line, "| `", 3) != 0)
      continue;
    char *cells[4] = {NULL};
    char *cell_save = NULL;
    for (int c = 0; c < 4; c++)
      cells[c] = strtok_r(c == 0 ? line + 1 : NULL, "|", &cell_save);
    assert_non_null(cells[2]);
    char kind[16] = "";
    sscanf(cells[2], " %15[A-Z]", kind);
    char type[64] = "";
    for (char *tick = strchr(cells[0], '`'); tick != NULL;) {
      char *close = strchr(tick + 1, '`');
      assert_non_null(close);
      *close = '\0';
      const char *name = tick + 1;
      char full[96];
      if (name[0] == '-') {
        snprintf(full, sizeof(full), "%s%s", type, name);
      } else {
        snprintf(full, sizeof(full), "%s", name);
        snprintf(type, sizeof(type), "%.*s", (int)strcspn(name, "-"), name);
      }
      add(names, full, kind);
      tick = strchr(close + 1, '`');
    }
  }
  free(text);
}

static const char *kind_name(metric_kind_t kind) {
  return kind == METRIC_DERIVE ? "DERIVE" : "GAUGE";
}

static void test_catalogue_matches_types_db(void **state) {
  (void)state;
  list_t types = {.n = 0};
  read_types_db(&types);
  assert_true(types.n > 20);
  for (size_t i = 0; i < fcgx_metrics_count; i++) {
    const metric_t *m = &fcgx_metrics[i];
    if (strcmp(m->type, "uptime") == 0) { /* collectd's own types.db */
      assert_int_equal(m->kind, METRIC_GAUGE);
      continue;
    }
    listed_t *t = find(&types, m->type);
    if (t == NULL)
      fail_msg("type %s is not in types.db.fcgx", m->type);
    if (strcmp(t->kind, kind_name(m->kind)) != 0)
      fail_msg("type %s is %s in types.db.fcgx, %s in the catalogue", m->type, t->kind,
               kind_name(m->kind));
    t->used = true;
  }
  for (size_t i = 0; i < types.n; i++)
    if (!types.items[i].used)
      fail_msg("types.db.fcgx has %s, which no metric uses", types.items[i].name);
}

static void test_catalogue_matches_readme(void **state) {
  (void)state;
  list_t readme = {.n = 0};
  read_readme(&readme);
  assert_true(readme.n > 50);
  list_t seen = {.n = 0};
  for (size_t i = 0; i < fcgx_metrics_count; i++) {
    char name[96];
    metric_name(&fcgx_metrics[i], name, sizeof(name));
    add(&seen, name, kind_name(fcgx_metrics[i].kind)); /* and no name twice */
    listed_t *r = find(&readme, name);
    if (r == NULL)
      fail_msg("%s is not in the README's metric tables", name);
    if (strcmp(r->kind, seen.items[seen.n - 1].kind) != 0)
      fail_msg("%s is %s in the README, %s in the catalogue", name, r->kind,
               seen.items[seen.n - 1].kind);
    r->used = true;
  }
  for (size_t i = 0; i < readme.n; i++)
    if (!readme.items[i].used)
      fail_msg("the README lists %s, which fcgx never dispatches", readme.items[i].name);
}

static bool value_of(const char *name, const metric_source_t *src, double *v) {
  for (size_t i = 0; i < fcgx_metrics_count; i++) {
    char n[96];
    metric_name(&fcgx_metrics[i], n, sizeof(n));
    if (strcmp(n, name) == 0)
      return metric_value(&fcgx_metrics[i], src, v);
  }
  fail_msg("no metric %s", name);
  return false;
}

/* The getters read the field they name, and leave out what the poll does not have. */
static void test_values_from_a_result(void **state) {
  (void)state;
  fcgx_pool_result_t res;
  memset(&res, 0, sizeof(res));
  metric_source_t src = {.res = &res, .max_children = 4, .script = true};
  double v;
  assert_true(value_of("fpm_up", &src, &v));
  assert_true(v == 0);
  assert_false(value_of("fpm_processes-active", &src, &v)); /* no status */

  res.up = res.status_ok = true;
  res.status.active_processes = 3;
  res.status.accepted_conn = 1.8e19; /* beyond a DERIVE: not dispatched */
  res.status.idle_processes = NAN;
  assert_true(value_of("fpm_processes-active", &src, &v) && v == 3);
  assert_true(value_of("fpm_utilization-active", &src, &v) && v == 75);
  assert_true(value_of("fpm_processes-limit", &src, &v) && v == 4);
  assert_false(value_of("fpm_requests-accepted", &src, &v));
  assert_false(value_of("fpm_processes-idle", &src, &v));       /* NaN: left out by the parser */
  assert_false(value_of("fpm_processes-state_idle", &src, &v)); /* not full */
  res.status_full = true;
  res.status.state_count[FPM_STATE_READING_HEADERS] = 2;
  assert_true(value_of("fpm_processes-state_reading_headers", &src, &v) && v == 2);
  assert_false(value_of("fpm_request_cpu-avg", &src, &v)); /* no sample */
  res.status.cpu_samples = 1;
  res.status.cpu_avg = 12.5;
  assert_true(value_of("fpm_request_cpu-avg", &src, &v) && v == 12.5);

  res.opcache_ok = true;
  res.opcache.availability = OPCACHE_OFF;
  assert_true(value_of("opcache_state-enabled", &src, &v) && v == 0);
  assert_false(value_of("opcache_memory-used", &src, &v));
  // cppcheck-suppress redundantAssignment ; read through src.res by value_of
  res.opcache.availability = OPCACHE_RESTRICTED;
  assert_false(value_of("opcache_state-enabled", &src, &v));
  // cppcheck-suppress redundantAssignment ; likewise
  res.opcache.availability = OPCACHE_OK;
  res.opcache.enabled = true;
  res.opcache.hits = 42;
  assert_true(value_of("opcache_state-enabled", &src, &v) && v == 1);
  assert_true(value_of("opcache_lookups-hits", &src, &v) && v == 42);
  src.script = false; /* another pool reports its master's cache */
  assert_false(value_of("opcache_lookups-hits", &src, &v));

  worker_usage_t workers = {.master_alive = true, .count = 2, .cpu_seconds = 1.5};
  src.workers = &workers;
  assert_true(value_of("fpm_workers_cpu", &src, &v) && v == 150);
  workers.master_alive = false;
  assert_false(value_of("fpm_workers-count", &src, &v));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_catalogue_matches_types_db),
      cmocka_unit_test(test_catalogue_matches_readme),
      cmocka_unit_test(test_values_from_a_result),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
