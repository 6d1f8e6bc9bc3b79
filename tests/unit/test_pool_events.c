/* Unit tests for pool_events: every transition from (previous state, poll result) to events. */
#include "unit_helpers.h"

#include <math.h>
#include <string.h>

#include "pool_events.h"

/* A poll result: up or down; status with a master start time; OPcache with its counts. */
static fcgx_pool_result_t result(bool up, double start_time) {
  fcgx_pool_result_t res;
  memset(&res, 0, sizeof(res));
  res.up = up;
  res.status_ok = up;
  res.status.start_time = start_time;
  res.status.start_since = 42;
  snprintf(res.status_error, sizeof(res.status_error), "connect to /x.sock: refused");
  return res;
}

static fcgx_pool_result_t with_opcache(fcgx_pool_result_t res, double oom, double hash, bool full) {
  res.opcache_ok = true;
  res.opcache.availability = OPCACHE_OK;
  res.opcache.oom_restarts = oom;
  res.opcache.hash_restarts = hash;
  res.opcache.cache_full = full;
  return res;
}

/* Feeds res and checks the events, in order; -1 ends the list. */
static void expect(pool_events_state_t *st, fcgx_pool_result_t res, const int *kinds) {
  pool_event_t out[POOL_EVENTS_MAX];
  size_t n = pool_events_next(st, &res, out);
  size_t want = 0;
  while (kinds[want] >= 0)
    want++;
  if (n != want)
    fail_msg("%zu events, expected %zu (first %d)", n, want, n ? (int)out[0].kind : -1);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(out[i].kind, kinds[i]);
}

#define NONE ((const int[]){-1})
#define EVENTS(...) ((const int[]){__VA_ARGS__, -1})

static void test_down_and_up(void **state) {
  (void)state;
  pool_events_state_t st = {0};
  expect(&st, result(true, 100), NONE); /* first poll up: nothing to say */
  expect(&st, result(true, 100), NONE);
  expect(&st, result(false, 0), EVENTS(POOL_EVENT_DOWN));
  expect(&st, result(false, 0), NONE); /* once */
  expect(&st, result(true, 100), EVENTS(POOL_EVENT_UP));
  expect(&st, result(true, 100), NONE);

  pool_events_state_t fresh = {0};
  expect(&fresh, result(false, 0), EVENTS(POOL_EVENT_DOWN)); /* down from the first poll */
}

static void test_gone(void **state) {
  (void)state;
  pool_events_state_t st = {0};
  assert_false(pool_events_gone(&st)); /* never polled */
  expect(&st, result(true, 100), NONE);
  assert_false(pool_events_gone(&st)); /* up: no FAILURE to clear */
  expect(&st, result(false, 0), EVENTS(POOL_EVENT_DOWN));
  assert_true(pool_events_gone(&st));
}

static void test_reload(void **state) {
  (void)state;
  pool_events_state_t st = {0};
  expect(&st, result(true, 100), NONE);
  pool_event_t out[POOL_EVENTS_MAX];
  fcgx_pool_result_t res = result(true, 200);
  assert_int_equal(pool_events_next(&st, &res, out), 1);
  assert_int_equal(out[0].kind, POOL_EVENT_RELOAD);
  assert_true(out[0].value == 42); /* uptime */
  expect(&st, result(true, 200), NONE);
  expect(&st, result(false, 0), EVENTS(POOL_EVENT_DOWN)); /* no status: no start time */
  expect(&st, result(true, 200), EVENTS(POOL_EVENT_UP));  /* same master: no reload */
  expect(&st, result(true, NAN), NONE);                   /* a start time left out says nothing */
  expect(&st, result(true, 200), NONE);
}

static void test_opcache(void **state) {
  (void)state;
  pool_events_state_t st = {0};
  expect(&st, with_opcache(result(true, 1), 3, 1, false), NONE); /* first look: no rise */
  expect(&st, with_opcache(result(true, 1), 4, 1, false), EVENTS(POOL_EVENT_OPCACHE_OOM_RESTART));
  expect(&st, with_opcache(result(true, 1), 4, 2, true),
         EVENTS(POOL_EVENT_OPCACHE_HASH_RESTART, POOL_EVENT_OPCACHE_FULL));
  expect(&st, with_opcache(result(true, 1), 4, 2, true), NONE);
  expect(&st, with_opcache(result(true, 1), 4, 2, false), EVENTS(POOL_EVENT_OPCACHE_NOT_FULL));
  /* a reload resets the counters: a fall is no restart, the next rise is */
  expect(&st, with_opcache(result(true, 2), 0, 0, false), EVENTS(POOL_EVENT_RELOAD));
  expect(&st, with_opcache(result(true, 2), 1, 0, false), EVENTS(POOL_EVENT_OPCACHE_OOM_RESTART));
  /* counts left out (outside their range): that poll is not compared */
  expect(&st, with_opcache(result(true, 2), NAN, 0, true), NONE);
  expect(&st, with_opcache(result(true, 2), 1, 0, false), NONE);
  /* no figures (script failed, OPcache off): nothing, and the state is kept */
  fcgx_pool_result_t off = with_opcache(result(true, 2), 9, 9, true);
  off.opcache.availability = OPCACHE_OFF;
  expect(&st, off, NONE);
  expect(&st, with_opcache(result(true, 2), 2, 0, false), EVENTS(POOL_EVENT_OPCACHE_OOM_RESTART));
}

static void test_descriptions(void **state) {
  (void)state;
  fcgx_pool_result_t res = result(false, 0);
  char buf[300];
  pool_event_describe((pool_event_t){POOL_EVENT_DOWN, 0}, "www", &res, buf, sizeof(buf));
  assert_string_equal(buf, "PHP-FPM pool \"www\" is down: connect to /x.sock: refused");
  pool_event_describe((pool_event_t){POOL_EVENT_OPCACHE_OOM_RESTART, 3}, "www", &res, buf,
                      sizeof(buf));
  assert_string_equal(buf, "OPcache of pool \"www\" restarted for lack of memory (3 so far): "
                           "raise opcache.memory_consumption");
  for (int k = POOL_EVENT_DOWN; k <= POOL_EVENT_OPCACHE_NOT_FULL; k++) {
    buf[0] = '\0';
    pool_event_describe((pool_event_t){(pool_event_kind_t)k, 1}, "www", &res, buf, sizeof(buf));
    assert_non_null(strstr(buf, "\"www\""));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_down_and_up),  cmocka_unit_test(test_gone),
      cmocka_unit_test(test_reload),       cmocka_unit_test(test_opcache),
      cmocka_unit_test(test_descriptions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
