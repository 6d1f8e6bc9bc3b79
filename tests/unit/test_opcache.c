/* Unit tests for opcache: the in-pool script's JSON (src/fcgx-status.php) -> opcache_report_t, on
 * replies captured from php-fpm 8.2 (tests/capture-opcache-fixtures) and on hand-written ones.
 * Each fixture is checked twice: against the same JSON read independently here with cJSON, and
 * against invariants of the scenario that captured it (the constants below match the ones in
 * tests/capture-opcache-fixtures). */
#include "unit_helpers.h"

#include <cJSON.h>
#include <stdbool.h>
#include <math.h>
#include <string.h>

#include "opcache.h"

/* From tests/capture-opcache-fixtures. */
#define WARM_SCRIPTS 8
#define WASTED_SCRIPTS 6
#define PRELOAD_FUNCTIONS 3
#define PRELOAD_CLASSES 2
#define JIT_BUFFER (16.0 * 1024 * 1024)
#define RESTRICT_API "/nonexistent"
#define REALPATH_CACHE_SIZE 4194304.0 /* realpath_cache_size's default, 4096K */

static const char *const fixtures[] = {
    "opcache_cold.json",         "opcache_warm.json",
    "opcache_wasted.json",       "opcache_jit.json",
    "opcache_preload.json",      "opcache_pool_disabled.json",
    "opcache_ini_disabled.json", "opcache_ini_disabled_restrict_ok.json",
    "opcache_restricted.json",   "opcache_not_loaded.json",
    "opcache_apcu.json",
};
#define N_FIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

/* ---- helpers ---------------------------------------------------------------------------- */

static void parse_ok(const char *json, size_t len, opcache_report_t *rep) {
  char err[256] = "";
  if (opcache_report_parse(json, len, rep, err, sizeof(err)) != 0)
    fail_msg("parse failed: %s (%.120s)", err, json);
}

static void load(const char *name, opcache_report_t *rep) {
  size_t len;
  char *json = read_fixture(name, &len);
  parse_ok(json, len, rep);
  free(json);
}

/* json must fail to parse, with an error containing word1 and word2 (when not NULL). */
static void parse_fails_len(const char *json, size_t len, const char *word1, const char *word2) {
  opcache_report_t rep;
  char err[256] = "";
  if (opcache_report_parse(json, len, &rep, err, sizeof(err)) != -1)
    fail_msg("parsed, expected an error naming %s: %.300s", word1, json);
  if (strstr(err, word1) == NULL || (word2 != NULL && strstr(err, word2) == NULL))
    fail_msg("error \"%s\" does not contain \"%s\" and \"%s\"", err, word1, word2 ? word2 : "");
}

static void parse_fails(const char *json, const char *word1, const char *word2) {
  parse_fails_len(json, strlen(json), word1, word2);
}

static cJSON *load_tree(const char *name) {
  size_t len;
  char *json = read_fixture(name, &len);
  cJSON *root = cJSON_ParseWithLength(json, len);
  free(json);
  if (!cJSON_IsObject(root))
    fail_msg("%s is not a JSON object", name);
  return root;
}

/* The object at a dotted path ("opcache.memory_usage"), or NULL. */
static cJSON *at(const cJSON *root, const char *path) {
  char buf[128];
  snprintf(buf, sizeof(buf), "%s", path);
  cJSON *node = (cJSON *)root;
  char *save = NULL;
  for (char *part = strtok_r(buf, ".", &save); part != NULL && node != NULL;
       part = strtok_r(NULL, ".", &save))
    node = cJSON_GetObjectItemCaseSensitive(node, part);
  return cJSON_IsObject(node) ? node : NULL;
}

static char *print(const cJSON *root) {
  char *json = cJSON_PrintUnformatted(root);
  assert_non_null(json);
  return json;
}

#define assert_double(a, b) expect_double(#a, (a), (b))

static void expect_double(const char *name, double got, double want) {
  if (got != want)
    fail_msg("%s = %.17g, expected %.17g", name, got, want);
}

/* ---- the parse agrees with the JSON, for every captured fixture ------------------------- */

typedef struct {
  const char *section; /* dotted path from the root */
  const char *key;
  size_t offset; /* of a double in opcache_report_t */
} number_map_t;

#define AT(field) offsetof(opcache_report_t, field)

static const number_map_t numbers[] = {
    {"opcache.memory_usage", "used_memory", AT(used_memory)},
    {"opcache.memory_usage", "free_memory", AT(free_memory)},
    {"opcache.memory_usage", "wasted_memory", AT(wasted_memory)},
    {"opcache.memory_usage", "current_wasted_percentage", AT(wasted_percentage)},
    {"opcache.opcache_statistics", "num_cached_scripts", AT(cached_scripts)},
    {"opcache.opcache_statistics", "num_cached_keys", AT(cached_keys)},
    {"opcache.opcache_statistics", "max_cached_keys", AT(max_cached_keys)},
    {"opcache.opcache_statistics", "hits", AT(hits)},
    {"opcache.opcache_statistics", "misses", AT(misses)},
    {"opcache.opcache_statistics", "blacklist_misses", AT(blacklist_misses)},
    {"opcache.opcache_statistics", "opcache_hit_rate", AT(hit_rate)},
    {"opcache.opcache_statistics", "oom_restarts", AT(oom_restarts)},
    {"opcache.opcache_statistics", "hash_restarts", AT(hash_restarts)},
    {"opcache.opcache_statistics", "manual_restarts", AT(manual_restarts)},
    {"opcache.interned_strings_usage", "used_memory", AT(strings_used)},
    {"opcache.interned_strings_usage", "free_memory", AT(strings_free)},
    {"opcache.interned_strings_usage", "number_of_strings", AT(strings_count)},
    {"opcache.jit", "buffer_size", AT(jit_size)},
    {"opcache.jit", "buffer_free", AT(jit_free)},
    {"opcache.preload_statistics", "memory_consumption", AT(preload_memory)},
    {"apcu", "num_entries", AT(apcu_entries)},
    {"apcu", "num_hits", AT(apcu_hits)},
    {"apcu", "num_misses", AT(apcu_misses)},
    {"apcu", "expunges", AT(apcu_expunges)},
    {"apcu", "avail_mem", AT(apcu_free)},
    {"realpath_cache", "used", AT(realpath_used)},
    {"realpath_cache", "size", AT(realpath_size)},
};
#define N_NUMBERS (sizeof(numbers) / sizeof(numbers[0]))

static double field_of(const opcache_report_t *rep, size_t offset) {
  double value;
  memcpy(&value, (const char *)rep + offset, sizeof(value));
  return value;
}

static void check_against_json(const char *name) {
  opcache_report_t rep;
  load(name, &rep);
  cJSON *root = load_tree(name);
  const cJSON *oc = at(root, "opcache");

  /* availability, and the restrict_api value */
  const cJSON *why = cJSON_GetObjectItemCaseSensitive(root, "opcache_error");
  opcache_availability_t want = OPCACHE_OK;
  if (oc == NULL) {
    assert_true(cJSON_IsString(why));
    want = strcmp(why->valuestring, "not_loaded") == 0   ? OPCACHE_NOT_LOADED
           : strcmp(why->valuestring, "restricted") == 0 ? OPCACHE_RESTRICTED
           : strcmp(why->valuestring, "disabled") == 0   ? OPCACHE_OFF
                                                         : (opcache_availability_t)-1;
  }
  if (rep.availability != want)
    fail_msg("%s: availability %d, expected %d", name, (int)rep.availability, (int)want);
  const cJSON *restrict_api = cJSON_GetObjectItemCaseSensitive(root, "opcache_restrict_api");
  assert_string_equal(rep.restrict_api,
                      cJSON_IsString(restrict_api) ? restrict_api->valuestring : "");

  /* every number, or 0 when its section is absent */
  for (size_t i = 0; i < N_NUMBERS; i++) {
    const cJSON *section = at(root, numbers[i].section);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(section, numbers[i].key);
    double want_value = 0;
    if (section != NULL) {
      if (!cJSON_IsNumber(item))
        fail_msg("%s: %s.%s is not a number in the fixture", name, numbers[i].section,
                 numbers[i].key);
      want_value = item->valuedouble;
    }
    double got = field_of(&rep, numbers[i].offset);
    if (got != want_value)
      fail_msg("%s: %s.%s parsed as %.17g, the JSON says %.17g", name, numbers[i].section,
               numbers[i].key, got, want_value);
  }

  /* the four flags */
  const struct {
    const char *key;
    bool value;
  } flags[] = {
      {"opcache_enabled", rep.enabled},
      {"cache_full", rep.cache_full},
      {"restart_pending", rep.restart_pending},
      {"restart_in_progress", rep.restart_in_progress},
  };
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
    bool want_flag = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(oc, flags[i].key));
    if (flags[i].value != want_flag)
      fail_msg("%s: %s parsed as %d", name, flags[i].key, flags[i].value);
  }

  /* optional sections */
  const cJSON *jit = at(root, "opcache.jit");
  assert_int_equal(rep.has_strings, at(root, "opcache.interned_strings_usage") != NULL);
  assert_int_equal(rep.has_jit,
                   jit != NULL &&
                       cJSON_GetObjectItemCaseSensitive(jit, "buffer_size")->valuedouble > 0);
  assert_int_equal(rep.has_apcu, at(root, "apcu") != NULL);
  assert_int_equal(rep.has_realpath, at(root, "realpath_cache") != NULL);

  const cJSON *preload = at(root, "opcache.preload_statistics");
  assert_int_equal(rep.has_preload, preload != NULL);
  const char *lists[] = {"scripts", "functions", "classes"};
  const double counts[] = {rep.preload_scripts, rep.preload_functions, rep.preload_classes};
  for (size_t i = 0; i < 3; i++) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(preload, lists[i]);
    double want_count = cJSON_IsNumber(item)  ? item->valuedouble
                        : cJSON_IsArray(item) ? cJSON_GetArraySize(item)
                                              : 0;
    if (counts[i] != want_count)
      fail_msg("%s: preload %s parsed as %g, expected %g", name, lists[i], counts[i], want_count);
  }

  const cJSON *apcu = at(root, "apcu");
  if (apcu != NULL) {
    double seg = cJSON_GetObjectItemCaseSensitive(apcu, "seg_size")->valuedouble;
    double nseg = cJSON_GetObjectItemCaseSensitive(apcu, "num_seg")->valuedouble;
    double avail = cJSON_GetObjectItemCaseSensitive(apcu, "avail_mem")->valuedouble;
    assert_double(rep.apcu_used, seg * nseg - avail);
  } else {
    assert_double(rep.apcu_used, 0);
  }
  cJSON_Delete(root);
}

static void test_fixtures_match_the_json(void **state) {
  (void)state;
  for (size_t i = 0; i < N_FIXTURES; i++)
    check_against_json(fixtures[i]);
}

/* ---- what each captured scenario must show ---------------------------------------------- */

/* Common to the fixtures where OPcache answered. */
static void check_opcache_sane(const opcache_report_t *rep) {
  assert_int_equal(rep->availability, OPCACHE_OK);
  assert_string_equal(rep->restrict_api, "");
  assert_false(rep->cache_full);
  assert_false(rep->restart_pending);
  assert_false(rep->restart_in_progress);
  assert_true(rep->used_memory > 0);
  assert_true(rep->free_memory > 0);
  assert_true(rep->wasted_memory <= rep->used_memory);
  assert_true(rep->cached_scripts <= rep->cached_keys);
  assert_true(rep->cached_keys <= rep->max_cached_keys);
  assert_true(rep->hit_rate >= 0 && rep->hit_rate <= 100);
  if (rep->hits + rep->misses > 0)
    assert_true(rep->hit_rate - 100 * rep->hits / (rep->hits + rep->misses) < 1e-9 &&
                100 * rep->hits / (rep->hits + rep->misses) - rep->hit_rate < 1e-9);
  assert_double(rep->oom_restarts, 0);
  assert_double(rep->hash_restarts, 0);
  assert_double(rep->manual_restarts, 0);
  assert_true(rep->has_strings);
  assert_true(rep->strings_used > 0 && rep->strings_free > 0 && rep->strings_count > 0);
  assert_true(rep->has_realpath);
}

static void check_realpath(const opcache_report_t *rep) {
  assert_true(rep->has_realpath);
  assert_double(rep->realpath_size, REALPATH_CACHE_SIZE);
  assert_true(rep->realpath_used > 0 && rep->realpath_used <= rep->realpath_size);
}

static void test_every_fixture_has_realpath(void **state) {
  (void)state;
  for (size_t i = 0; i < N_FIXTURES; i++) {
    opcache_report_t rep;
    load(fixtures[i], &rep);
    check_realpath(&rep);
  }
}

static void test_cold(void **state) {
  (void)state;
  opcache_report_t rep;
  load("opcache_cold.json", &rep);
  check_opcache_sane(&rep);
  assert_true(rep.enabled);
  /* fcgx-status.php itself, run once: one miss, cached */
  assert_double(rep.cached_scripts, 1);
  assert_double(rep.misses, 1);
  assert_double(rep.hits, 0);
  assert_double(rep.hit_rate, 0);
  assert_double(rep.wasted_memory, 0);
  assert_false(rep.has_jit); /* jit section present, buffer 0 */
  assert_double(rep.jit_size, 0);
  assert_false(rep.has_preload);
  assert_false(rep.has_apcu);
  /* exact figures, written out by hand from the fixture */
  assert_double(rep.used_memory, 9176400);
  assert_double(rep.free_memory, 125041328);
  assert_double(rep.used_memory + rep.free_memory, 128.0 * 1024 * 1024); /* default 128M */
  assert_double(rep.max_cached_keys, 16229);
  assert_double(rep.strings_used + rep.strings_free, 8.0 * 1024 * 1024);
  assert_double(rep.strings_count, 3535);
  assert_double(rep.realpath_used, 317);
}

static void test_warm(void **state) {
  (void)state;
  opcache_report_t rep;
  load("opcache_warm.json", &rep);
  check_opcache_sane(&rep);
  assert_true(rep.enabled);
  assert_true(rep.cached_scripts >= WARM_SCRIPTS);
  assert_true(rep.hits > 0);
  /* N scripts run 3 times each, then the status script once: N + 1 misses, 2 N hits */
  assert_double(rep.cached_scripts, WARM_SCRIPTS + 1);
  assert_double(rep.misses, WARM_SCRIPTS + 1);
  assert_double(rep.hits, 2 * WARM_SCRIPTS);
  assert_double(rep.hit_rate, 64);
  assert_double(rep.wasted_memory, 0);
}

static void test_wasted(void **state) {
  (void)state;
  opcache_report_t rep;
  load("opcache_wasted.json", &rep);
  check_opcache_sane(&rep);
  assert_true(rep.wasted_memory > 0);
  assert_true(rep.wasted_percentage > 0);
  assert_double(rep.wasted_memory, 4080);
  assert_double(rep.wasted_percentage, 0.003039836883544922);
  assert_true(rep.wasted_percentage - 100 * rep.wasted_memory / (128.0 * 1024 * 1024) < 1e-12);
  /* each script compiled twice (the first copy wasted) + the status script */
  assert_double(rep.misses, 2 * WASTED_SCRIPTS + 1);
  assert_double(rep.cached_scripts, WASTED_SCRIPTS + 1);
}

static void test_jit(void **state) {
  (void)state;
  opcache_report_t rep;
  load("opcache_jit.json", &rep);
  check_opcache_sane(&rep);
  assert_true(rep.has_jit);
  /* php keeps a few bytes of the 16M buffer for itself */
  assert_true(rep.jit_size <= JIT_BUFFER && rep.jit_size > JIT_BUFFER - 4096);
  assert_double(rep.jit_size, 16777200);
  assert_true(rep.jit_free > 0 && rep.jit_free < rep.jit_size); /* the loop was compiled */
  assert_double(rep.jit_free, 16774448);
}

static void test_preload(void **state) {
  (void)state;
  opcache_report_t rep;
  load("opcache_preload.json", &rep);
  check_opcache_sane(&rep);
  assert_true(rep.has_preload);
  assert_double(rep.preload_functions, PRELOAD_FUNCTIONS);
  assert_double(rep.preload_classes, PRELOAD_CLASSES);
  assert_double(rep.preload_scripts, 1);
  assert_double(rep.preload_memory, 13792);
}

static void test_pool_disabled(void **state) {
  (void)state;
  opcache_report_t rep;
  load("opcache_pool_disabled.json", &rep);
  /* the pool's php_admin_value turns it off: the status is there, the cache unused */
  assert_int_equal(rep.availability, OPCACHE_OK);
  assert_false(rep.enabled);
  assert_double(rep.cached_scripts, 0);
  assert_double(rep.hits, 0);
  assert_double(rep.misses, 0);
  assert_true(rep.used_memory > 0);
  assert_true(rep.has_strings);
}

static void test_unavailable(void **state) {
  (void)state;
  const struct {
    const char *name;
    opcache_availability_t availability;
    const char *restrict_api;
  } cases[] = {
      {"opcache_ini_disabled.json", OPCACHE_OFF, ""},
      {"opcache_ini_disabled_restrict_ok.json", OPCACHE_OFF, ""},
      {"opcache_restricted.json", OPCACHE_RESTRICTED, RESTRICT_API},
      {"opcache_not_loaded.json", OPCACHE_NOT_LOADED, ""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    opcache_report_t rep;
    load(cases[i].name, &rep);
    if (rep.availability != cases[i].availability)
      fail_msg("%s: availability %d", cases[i].name, (int)rep.availability);
    assert_string_equal(rep.restrict_api, cases[i].restrict_api);
    /* nothing of OPcache is reported */
    assert_false(rep.enabled);
    assert_false(rep.has_strings || rep.has_jit || rep.has_preload || rep.has_apcu);
    assert_double(rep.used_memory + rep.hits + rep.misses + rep.cached_scripts, 0);
    check_realpath(&rep);
  }
}

static void test_apcu(void **state) {
  (void)state;
  opcache_report_t rep;
  load("opcache_apcu.json", &rep);
  check_opcache_sane(&rep);
  assert_true(rep.has_apcu);
  /* 5 stores, 5 fetches of them, 2 fetches of missing keys */
  assert_double(rep.apcu_entries, 5);
  assert_double(rep.apcu_hits, 5);
  assert_double(rep.apcu_misses, 2);
  assert_double(rep.apcu_expunges, 0);
  /* used + free == seg_size * num_seg (33554312 * 1) */
  assert_double(rep.apcu_used + rep.apcu_free, 33554312);
  assert_double(rep.apcu_free, 33518840);
  assert_double(rep.apcu_used, 35472);
}

/* ---- hand-written replies --------------------------------------------------------------- */

#define MIN_OPCACHE                                                                                \
  "{\"opcache_enabled\":true,\"cache_full\":false,\"restart_pending\":false,"                      \
  "\"restart_in_progress\":false,"                                                                 \
  "\"memory_usage\":{\"used_memory\":1,\"free_memory\":2,\"wasted_memory\":3,"                     \
  "\"current_wasted_percentage\":4.5},"                                                            \
  "\"opcache_statistics\":{\"num_cached_scripts\":5,\"num_cached_keys\":6,"                        \
  "\"max_cached_keys\":7,\"hits\":8,\"misses\":9,\"blacklist_misses\":10,"                         \
  "\"opcache_hit_rate\":47.05882352941177,\"oom_restarts\":11,\"hash_restarts\":12,"               \
  "\"manual_restarts\":13}"

static void test_minimal(void **state) {
  (void)state;
  /* only the required sections; unknown fields anywhere are ignored */
  const char *json = "{\"fcgx\":1,\"future\":[1,{}],\"opcache\":" MIN_OPCACHE
                     ",\"file_cache\":\"/x\"},\"apcu_error\":\"disabled\"}";
  opcache_report_t rep;
  parse_ok(json, strlen(json), &rep);
  assert_int_equal(rep.availability, OPCACHE_OK);
  assert_true(rep.enabled);
  assert_double(rep.used_memory, 1);
  assert_double(rep.free_memory, 2);
  assert_double(rep.wasted_memory, 3);
  assert_double(rep.wasted_percentage, 4.5);
  assert_double(rep.cached_scripts, 5);
  assert_double(rep.cached_keys, 6);
  assert_double(rep.max_cached_keys, 7);
  assert_double(rep.hits, 8);
  assert_double(rep.misses, 9);
  assert_double(rep.blacklist_misses, 10);
  assert_double(rep.hit_rate, 47.05882352941177);
  assert_double(rep.oom_restarts, 11);
  assert_double(rep.hash_restarts, 12);
  assert_double(rep.manual_restarts, 13);
  assert_false(rep.has_strings || rep.has_jit || rep.has_preload || rep.has_apcu ||
               rep.has_realpath);
}

static void test_preload_lists_are_counted(void **state) {
  (void)state;
  /* opcache_get_status() itself lists the names; fcgx-status.php sends counts */
  const char *json =
      "{\"fcgx\":1,\"opcache\":" MIN_OPCACHE ",\"preload_statistics\":{\"memory_consumption\":100,"
      "\"functions\":[\"f\",\"g\",\"h\",\"i\"],\"classes\":[],"
      "\"scripts\":[\"/a.php\",\"/b.php\"]}}}";
  opcache_report_t rep;
  parse_ok(json, strlen(json), &rep);
  assert_true(rep.has_preload);
  assert_double(rep.preload_memory, 100);
  assert_double(rep.preload_functions, 4);
  assert_double(rep.preload_classes, 0);
  assert_double(rep.preload_scripts, 2);

  /* a list that is neither */
  parse_fails("{\"fcgx\":1,\"opcache\":" MIN_OPCACHE
              ",\"preload_statistics\":{\"memory_consumption\":1,\"functions\":\"f\"}}}",
              "\"functions\"", "preload_statistics");
  parse_fails("{\"fcgx\":1,\"opcache\":" MIN_OPCACHE ",\"preload_statistics\":{\"functions\":2}}}",
              "\"memory_consumption\"", "preload_statistics");
}

static void test_jit_off_and_apcu_clamped(void **state) {
  (void)state;
  const char *json = "{\"fcgx\":1,\"opcache\":" MIN_OPCACHE
                     ",\"jit\":{\"enabled\":false,\"buffer_size\":0,\"buffer_free\":0}},"
                     "\"apcu\":{\"num_entries\":1,\"num_hits\":2,\"num_misses\":3,\"expunges\":4,"
                     "\"seg_size\":100,\"num_seg\":2,\"avail_mem\":250},"
                     "\"realpath_cache\":{\"used\":1.5e2,\"size\":4096}}";
  opcache_report_t rep;
  parse_ok(json, strlen(json), &rep);
  assert_false(rep.has_jit);
  assert_true(rep.has_apcu);
  assert_double(rep.apcu_used, 0); /* never negative */
  assert_double(rep.apcu_free, 250);
  assert_double(rep.apcu_expunges, 4);
  assert_true(rep.has_realpath);
  assert_double(rep.realpath_used, 150);
  assert_double(rep.realpath_size, 4096);
}

static void test_apcu_segments(void **state) {
  (void)state;
  /* used = seg_size * num_seg - avail_mem, with several segments */
  const char *json = "{\"fcgx\":1,\"opcache_error\":\"not_loaded\","
                     "\"apcu\":{\"num_entries\":1,\"num_hits\":2,\"num_misses\":3,\"expunges\":4,"
                     "\"seg_size\":100,\"num_seg\":3,\"avail_mem\":50}}";
  opcache_report_t rep;
  parse_ok(json, strlen(json), &rep);
  assert_int_equal(rep.availability, OPCACHE_NOT_LOADED);
  assert_true(rep.has_apcu);
  assert_double(rep.apcu_used, 250);
  assert_double(rep.apcu_free, 50);
  assert_double(rep.apcu_entries, 1);
  assert_double(rep.apcu_hits, 2);
  assert_double(rep.apcu_misses, 3);
}

/* Each flag flipped alone in a captured reply changes that flag only. */
static void test_each_flag(void **state) {
  (void)state;
  const char *keys[] = {"opcache_enabled", "cache_full", "restart_pending", "restart_in_progress"};
  for (size_t i = 0; i < 4; i++) {
    cJSON *root = load_tree("opcache_warm.json");
    cJSON *oc = at(root, "opcache");
    bool was = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(oc, keys[i]));
    assert_true(cJSON_ReplaceItemInObjectCaseSensitive(oc, keys[i], cJSON_CreateBool(!was)));
    char *json = print(root);
    opcache_report_t rep;
    parse_ok(json, strlen(json), &rep);
    const bool got[] = {rep.enabled, rep.cache_full, rep.restart_pending, rep.restart_in_progress};
    for (size_t j = 0; j < 4; j++) {
      bool want = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(oc, keys[j]));
      if (got[j] != want)
        fail_msg("%s flipped: %s parsed as %d", keys[i], keys[j], got[j]);
    }
    cJSON_free(json);
    cJSON_Delete(root);
  }
}

static void test_envelope_errors(void **state) {
  (void)state;
  parse_fails("{\"opcache_error\":\"not_loaded\"}", "\"fcgx\"", NULL);
  parse_fails("{\"fcgx\":\"1\",\"opcache_error\":\"not_loaded\"}", "\"fcgx\"", NULL);
  /* a raw opcache_get_status() dump is not our reply */
  parse_fails(MIN_OPCACHE "}", "\"fcgx\"", NULL);
  parse_fails("[1,2]", "not a JSON object", NULL);
  parse_fails("42", "not a JSON object", NULL);
  parse_fails("\"fcgx\"", "not a JSON object", NULL);
  parse_fails("null", "not a JSON object", NULL);
  parse_fails("", "not valid JSON", NULL);
  parse_fails("{\"fcgx\":1,", "not valid JSON", NULL);
  parse_fails("{\"fcgx\":1,\"opcache_error\":\"not_loaded\"}x", "unexpected bytes", NULL);
  parse_fails("{\"fcgx\":1,\"opcache_error\":\"not_loaded\"}{}", "unexpected bytes", NULL);
  /* the length is respected: a NUL and what follows are junk, not an end */
  const char nul[] = "{\"fcgx\":1,\"opcache_error\":\"not_loaded\"}\0junk";
  parse_fails_len(nul, sizeof(nul) - 1, "unexpected bytes", NULL);
  /* and nothing past len is read */
  const char *cut = "{\"fcgx\":1,\"opcache_error\":\"not_loaded\"}}}}";
  opcache_report_t rep;
  parse_ok(cut, strlen(cut) - 3, &rep);
  assert_int_equal(rep.availability, OPCACHE_NOT_LOADED);
  /* trailing white space is fine */
  const char *ws = "{\"fcgx\":1,\"opcache_error\":\"disabled\"}\r\n \t";
  parse_ok(ws, strlen(ws), &rep);
  assert_int_equal(rep.availability, OPCACHE_OFF);
}

static void test_opcache_error_values(void **state) {
  (void)state;
  parse_fails("{\"fcgx\":1,\"opcache_error\":\"exploded\"}", "opcache_error", NULL);
  parse_fails("{\"fcgx\":1,\"opcache_error\":\"\"}", "opcache_error", NULL);
  parse_fails("{\"fcgx\":1,\"opcache_error\":\"Disabled\"}", "opcache_error", NULL);
  parse_fails("{\"fcgx\":1,\"opcache_error\":1}", "opcache_error", NULL);
  parse_fails("{\"fcgx\":1}", "opcache_error", NULL);
  /* opcache_get_status() returned false and the script passed it on */
  parse_fails("{\"fcgx\":1,\"opcache\":false}", "non-object", "\"opcache\"");
  parse_fails("{\"fcgx\":1,\"opcache\":[]}", "non-object", "\"opcache\"");
  parse_fails("{\"fcgx\":1,\"opcache_error\":\"not_loaded\",\"apcu\":7}", "non-object", "\"apcu\"");
  parse_fails("{\"fcgx\":1,\"opcache_error\":\"not_loaded\",\"realpath_cache\":\"x\"}",
              "non-object", "\"realpath_cache\"");

  /* a long restrict_api value is cut, not overflowed */
  char json[512], value[300];
  memset(value, 'a', sizeof(value) - 1);
  value[0] = '/';
  value[sizeof(value) - 1] = '\0';
  snprintf(json, sizeof(json),
           "{\"fcgx\":1,\"opcache_error\":\"restricted\",\"opcache_restrict_api\":\"%s\"}", value);
  opcache_report_t rep;
  parse_ok(json, strlen(json), &rep);
  assert_int_equal(rep.availability, OPCACHE_RESTRICTED);
  assert_int_equal(strlen(rep.restrict_api), sizeof(rep.restrict_api) - 1);
  assert_memory_equal(rep.restrict_api, value, sizeof(rep.restrict_api) - 1);
}

/* ---- every required field, removed or mistyped, on the captured replies ----------------- */

typedef struct {
  const char *fixture;
  const char *section; /* dotted path; "opcache" for the top-level flags */
  const char *key;
  bool is_bool;
  const char *where; /* what the error must also name ("" for the top-level flags) */
} required_t;

static const required_t required[] = {
    {"opcache_cold.json", "opcache", "opcache_enabled", true, ""},
    {"opcache_cold.json", "opcache", "cache_full", true, ""},
    {"opcache_cold.json", "opcache", "restart_pending", true, ""},
    {"opcache_cold.json", "opcache", "restart_in_progress", true, ""},
    {"opcache_cold.json", "opcache.memory_usage", "used_memory", false, "memory_usage"},
    {"opcache_cold.json", "opcache.memory_usage", "free_memory", false, "memory_usage"},
    {"opcache_cold.json", "opcache.memory_usage", "wasted_memory", false, "memory_usage"},
    {"opcache_cold.json", "opcache.memory_usage", "current_wasted_percentage", false,
     "memory_usage"},
    {"opcache_cold.json", "opcache.opcache_statistics", "num_cached_scripts", false,
     "opcache_statistics"},
    {"opcache_cold.json", "opcache.opcache_statistics", "num_cached_keys", false,
     "opcache_statistics"},
    {"opcache_cold.json", "opcache.opcache_statistics", "max_cached_keys", false,
     "opcache_statistics"},
    {"opcache_cold.json", "opcache.opcache_statistics", "hits", false, "opcache_statistics"},
    {"opcache_cold.json", "opcache.opcache_statistics", "misses", false, "opcache_statistics"},
    {"opcache_cold.json", "opcache.opcache_statistics", "blacklist_misses", false,
     "opcache_statistics"},
    {"opcache_cold.json", "opcache.opcache_statistics", "opcache_hit_rate", false,
     "opcache_statistics"},
    {"opcache_cold.json", "opcache.opcache_statistics", "oom_restarts", false,
     "opcache_statistics"},
    {"opcache_cold.json", "opcache.opcache_statistics", "hash_restarts", false,
     "opcache_statistics"},
    {"opcache_cold.json", "opcache.opcache_statistics", "manual_restarts", false,
     "opcache_statistics"},
    {"opcache_cold.json", "opcache.interned_strings_usage", "used_memory", false,
     "interned_strings_usage"},
    {"opcache_cold.json", "opcache.interned_strings_usage", "free_memory", false,
     "interned_strings_usage"},
    {"opcache_cold.json", "opcache.interned_strings_usage", "number_of_strings", false,
     "interned_strings_usage"},
    {"opcache_jit.json", "opcache.jit", "buffer_size", false, "jit"},
    {"opcache_jit.json", "opcache.jit", "buffer_free", false, "jit"},
    {"opcache_preload.json", "opcache.preload_statistics", "memory_consumption", false,
     "preload_statistics"},
    {"opcache_apcu.json", "apcu", "num_entries", false, "apcu"},
    {"opcache_apcu.json", "apcu", "num_hits", false, "apcu"},
    {"opcache_apcu.json", "apcu", "num_misses", false, "apcu"},
    {"opcache_apcu.json", "apcu", "expunges", false, "apcu"},
    {"opcache_apcu.json", "apcu", "seg_size", false, "apcu"},
    {"opcache_apcu.json", "apcu", "num_seg", false, "apcu"},
    {"opcache_apcu.json", "apcu", "avail_mem", false, "apcu"},
    {"opcache_cold.json", "realpath_cache", "used", false, "realpath_cache"},
    {"opcache_cold.json", "realpath_cache", "size", false, "realpath_cache"},
    {"opcache_not_loaded.json", "realpath_cache", "size", false, "realpath_cache"},
};
#define N_REQUIRED (sizeof(required) / sizeof(required[0]))

/* The fixture with section.key replaced by replacement (NULL: removed), printed. */
static char *mutated(const required_t *r, cJSON *replacement) {
  cJSON *root = load_tree(r->fixture);
  cJSON *section = at(root, r->section);
  if (section == NULL || cJSON_GetObjectItemCaseSensitive(section, r->key) == NULL)
    fail_msg("%s has no %s.%s", r->fixture, r->section, r->key);
  if (replacement == NULL)
    cJSON_DeleteItemFromObjectCaseSensitive(section, r->key);
  else
    assert_true(cJSON_ReplaceItemInObjectCaseSensitive(section, r->key, replacement));
  char *json = print(root);
  cJSON_Delete(root);
  return json;
}

static void expect_mutation_fails(const required_t *r, cJSON *replacement, const char *what) {
  char *json = mutated(r, replacement);
  opcache_report_t rep;
  char err[256] = "";
  char key[64];
  snprintf(key, sizeof(key), "\"%s\"", r->key);
  if (opcache_report_parse(json, strlen(json), &rep, err, sizeof(err)) != -1)
    fail_msg("%s with %s.%s %s: parsed", r->fixture, r->section, r->key, what);
  if (strstr(err, key) == NULL || strstr(err, r->where) == NULL)
    fail_msg("%s with %s.%s %s: error \"%s\" does not name %s and %s", r->fixture, r->section,
             r->key, what, err, key, r->where);
  cJSON_free(json);
}

static void test_every_required_field(void **state) {
  (void)state;
  for (size_t i = 0; i < N_REQUIRED; i++) {
    const required_t *r = &required[i];
    /* the same value put back: the round trip through cJSON parses */
    cJSON *tree = load_tree(r->fixture);
    cJSON *same =
        cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(at(tree, r->section), r->key), true);
    cJSON_Delete(tree);
    char *json = mutated(r, same);
    opcache_report_t rep;
    parse_ok(json, strlen(json), &rep);
    cJSON_free(json);
    expect_mutation_fails(r, NULL, "removed");
    expect_mutation_fails(r, cJSON_CreateString("1"), "as a string");
    expect_mutation_fails(r, cJSON_CreateNull(), "as null");
    /* a boolean given as a number, or a number as a boolean */
    expect_mutation_fails(r, r->is_bool ? cJSON_CreateNumber(1) : cJSON_CreateTrue(),
                          r->is_bool ? "as a number" : "as a boolean");
    if (!r->is_bool)
      expect_mutation_fails(r, cJSON_CreateArray(), "as an array");
  }
}

static void test_required_sections(void **state) {
  (void)state;
  /* memory_usage and opcache_statistics are required; the others are optional */
  const char *required_sections[] = {"memory_usage", "opcache_statistics"};
  const char *optional_sections[] = {"interned_strings_usage", "jit"};
  for (size_t i = 0; i < 2; i++) {
    cJSON *root = load_tree("opcache_cold.json");
    cJSON_DeleteItemFromObjectCaseSensitive(at(root, "opcache"), required_sections[i]);
    char *json = print(root);
    parse_fails(json, required_sections[i], "has no");
    cJSON_free(json);
    cJSON_Delete(root);

    root = load_tree("opcache_cold.json");
    assert_true(cJSON_ReplaceItemInObjectCaseSensitive(at(root, "opcache"), required_sections[i],
                                                       cJSON_CreateNumber(0)));
    json = print(root);
    parse_fails(json, required_sections[i], "non-object");
    cJSON_free(json);
    cJSON_Delete(root);
  }
  for (size_t i = 0; i < 2; i++) {
    cJSON *root = load_tree("opcache_jit.json");
    cJSON_DeleteItemFromObjectCaseSensitive(at(root, "opcache"), optional_sections[i]);
    char *json = print(root);
    opcache_report_t rep;
    parse_ok(json, strlen(json), &rep);
    assert_true(rep.has_strings == (i != 0));
    assert_true(rep.has_jit == (i != 1));
    cJSON_free(json);
    cJSON_Delete(root);

    root = load_tree("opcache_jit.json");
    assert_true(cJSON_ReplaceItemInObjectCaseSensitive(at(root, "opcache"), optional_sections[i],
                                                       cJSON_CreateString("x")));
    json = print(root);
    parse_fails(json, optional_sections[i], "non-object");
    cJSON_free(json);
    cJSON_Delete(root);
  }
}

static void test_out_of_range_and_truncated(void **state) {
  (void)state;
  parse_fails("{\"fcgx\":1,\"opcache_error\":\"not_loaded\","
              "\"realpath_cache\":{\"used\":1e999,\"size\":1}}",
              "\"used\"", "out of range");
  /* every proper prefix of a captured reply is refused */
  size_t len;
  char *json = read_fixture("opcache_apcu.json", &len);
  for (size_t cut = 0; cut < len; cut++) {
    opcache_report_t rep;
    char err[256];
    if (opcache_report_parse(json, cut, &rep, err, sizeof(err)) == 0)
      fail_msg("a prefix of %zu of %zu bytes parsed", cut, len);
  }
  free(json);
}

/* A gauge or counter outside the range PHP can report (a percentage above 100, a negative count,
 * more bytes than any address space) is NaN, never dispatched, and counted; the rest stays. */
static void test_figures_outside_their_range(void **state) {
  (void)state;
  static const struct {
    const char *section, *key;
    double bad;
    size_t offset;
  } cases[] = {
      {"opcache.opcache_statistics", "opcache_hit_rate", 100.5, AT(hit_rate)},
      {"opcache.opcache_statistics", "hits", -1, AT(hits)},
      {"opcache.opcache_statistics", "oom_restarts", 1.8446744073709552e19, AT(oom_restarts)},
      {"opcache.memory_usage", "used_memory", 1e30, AT(used_memory)},
      {"opcache.memory_usage", "current_wasted_percentage", -0.5, AT(wasted_percentage)},
      {"opcache.interned_strings_usage", "number_of_strings", 4294967296.0, AT(strings_count)},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    cJSON *root = load_tree("opcache_warm.json");
    cJSON *section = at(root, cases[i].section);
    assert_non_null(section);
    cJSON_ReplaceItemInObjectCaseSensitive(section, cases[i].key, cJSON_CreateNumber(cases[i].bad));
    char *json = print(root);
    opcache_report_t rep;
    parse_ok(json, strlen(json), &rep);
    if (!isnan(field_of(&rep, cases[i].offset)))
      fail_msg("%s %.17g was kept as %.17g", cases[i].key, cases[i].bad,
               field_of(&rep, cases[i].offset));
    assert_int_equal(rep.out_of_range.count, 1);
    assert_non_null(strstr(rep.out_of_range.first, cases[i].key));
    assert_double(rep.max_cached_keys, 16229); /* the others are read */
    cJSON_free(json);
    cJSON_Delete(root);
  }
  opcache_report_t rep;
  load("opcache_warm.json", &rep);
  assert_int_equal(rep.out_of_range.count, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures_match_the_json),
      cmocka_unit_test(test_every_fixture_has_realpath),
      cmocka_unit_test(test_cold),
      cmocka_unit_test(test_warm),
      cmocka_unit_test(test_wasted),
      cmocka_unit_test(test_jit),
      cmocka_unit_test(test_preload),
      cmocka_unit_test(test_pool_disabled),
      cmocka_unit_test(test_unavailable),
      cmocka_unit_test(test_apcu),
      cmocka_unit_test(test_minimal),
      cmocka_unit_test(test_preload_lists_are_counted),
      cmocka_unit_test(test_jit_off_and_apcu_clamped),
      cmocka_unit_test(test_apcu_segments),
      cmocka_unit_test(test_each_flag),
      cmocka_unit_test(test_envelope_errors),
      cmocka_unit_test(test_opcache_error_values),
      cmocka_unit_test(test_every_required_field),
      cmocka_unit_test(test_required_sections),
      cmocka_unit_test(test_out_of_range_and_truncated),
      cmocka_unit_test(test_figures_outside_their_range),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
