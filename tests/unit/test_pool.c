/* Unit tests for the I/O layer (transport, poller, pool): fcgx_pools_poll against a scripted
 * FastCGI peer (fake_peer.h) answering with replies captured from php-fpm 8.2, or misbehaving. */
#include "unit_helpers.h"

#include <sys/un.h>
#include "fake_peer.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include "pool.h"

#define SCRIPT "/srv/fcgx/fcgx-status.php"
#define SCRIPT_NAME "/fcgx-status.php"
#define EPS 1e-9

/* ---- fixtures ---------------------------------------------------------------------------------
 */

typedef struct {
  char *data;
  size_t len;
} blob_t;

static blob_t full_wire, full_stdout, plain_stdout, unescaped_stdout, ping_wire, ping_stdout,
    not_found_wire, opcache_stdout;

static blob_t load(const char *name) {
  blob_t b;
  b.data = read_fixture(name, &b.len);
  return b;
}

static int setup_fixtures(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  full_wire = load("status_full_idle.wire");
  full_stdout = load("status_full_idle.stdout");
  plain_stdout = load("status_plain.stdout");
  unescaped_stdout = load("status_full_unescaped.stdout");
  ping_wire = load("ping.wire");
  ping_stdout = load("ping.stdout");
  not_found_wire = load("not_found.wire");
  /* The script's JSON as the pool answers it: CGI headers, then the captured body. */
  blob_t json = load("opcache_warm.json");
  static const char headers[] = "X-Powered-By: PHP/8.2.36\r\n"
                                "Content-Type: application/json\r\n\r\n";
  opcache_stdout.len = strlen(headers) + json.len;
  opcache_stdout.data = malloc(opcache_stdout.len + 1);
  assert_non_null(opcache_stdout.data);
  memcpy(opcache_stdout.data, headers, strlen(headers));
  memcpy(opcache_stdout.data + strlen(headers), json.data, json.len + 1);
  free(json.data);
  return 0;
}

static int teardown_fixtures(void **state) {
  (void)state;
  blob_t *all[] = {&full_wire, &full_stdout,    &plain_stdout,   &unescaped_stdout,
                   &ping_wire, &not_found_wire, &opcache_stdout, &ping_stdout};
  for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
    free(all[i]->data);
  return 0;
}

/* ---- helpers ----------------------------------------------------------------------------------
 */

#define assert_contains(haystack, needle)                                                          \
  do {                                                                                             \
    if (strstr((haystack), (needle)) == NULL)                                                      \
      fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle));                            \
  } while (0)

#define assert_double(a, b)                                                                        \
  do {                                                                                             \
    double a_ = (a), b_ = (b);                                                                     \
    if (!(a_ - b_ <= EPS && b_ - a_ <= EPS))                                                       \
      fail_msg("%s = %.17g, expected %.17g", #a, a_, b_);                                          \
  } while (0)

/* The test's peer: the teardown stops and frees it, also after a failed assertion. */
static peer_t *the_peer;

static peer_t *new_peer(void) {
  assert_null(the_peer);
  the_peer = peer_new();
  assert_non_null(the_peer);
  return the_peer;
}

static int free_peer(void **state) {
  (void)state;
  if (the_peer != NULL)
    peer_free(the_peer);
  the_peer = NULL;
  return 0;
}

static int listen_unix(peer_t *p, const char *name) {
  int i = peer_listen_unix(p, name);
  assert_true(i >= 0);
  return i;
}

static void start(peer_t *p) {
  assert_true(peer_start(p));
}

static void config_unix(fcgx_pool_config_t *cfg, const char *path) {
  char err[200] = "";
  fcgx_pool_config_defaults(cfg);
  snprintf(cfg->name, sizeof(cfg->name), "www");
  snprintf(cfg->opcache_script, sizeof(cfg->opcache_script), "%s", SCRIPT);
  if (fcgx_address_unix(&cfg->addr, path, err, sizeof(err)) != 0)
    fail_msg("fcgx_address_unix(%s): %s", path, err);
}

static void config_tcp(fcgx_pool_config_t *cfg, int port) {
  char err[200] = "", port_text[16];
  fcgx_pool_config_defaults(cfg);
  snprintf(cfg->name, sizeof(cfg->name), "www");
  snprintf(cfg->opcache_script, sizeof(cfg->opcache_script), "%s", SCRIPT);
  snprintf(port_text, sizeof(port_text), "%d", port);
  if (fcgx_address_tcp(&cfg->addr, "127.0.0.1", port_text, err, sizeof(err)) != 0)
    fail_msg("fcgx_address_tcp(%s): %s", port_text, err);
}

/* Polls one pool (a fresh poll struct) and returns how long it took in ms. */
static double poll_one(const fcgx_pool_config_t *cfg, fcgx_pool_poll_t *poll) {
  fcgx_pool_poll_init(poll, cfg);
  uint64_t t0 = peer_now_ns();
  fcgx_pools_poll(poll, 1);
  double ms = (double)(peer_now_ns() - t0) / 1e6;
  fcgx_pool_poll_release(poll);
  return ms;
}

/* The healthy answers: status (full and plain), ping, the script. */
static void rules_healthy(peer_t *p) {
  peer_rule(p, "/status", "json&full", PEER_RAW, full_wire.data, full_wire.len);
  peer_rule(p, "/status", "json", PEER_REPLY, plain_stdout.data, plain_stdout.len);
  peer_rule(p, "/ping", NULL, PEER_RAW, ping_wire.data, ping_wire.len);
  peer_rule(p, SCRIPT_NAME, NULL, PEER_REPLY, opcache_stdout.data, opcache_stdout.len);
}

static void assert_status_full_idle(const fcgx_pool_result_t *res, bool self_excluded) {
  if (!res->status_ok)
    fail_msg("status not ok: %s", res->status_error);
  assert_string_equal(res->status_error, "");
  assert_true(res->status_full);
  assert_true(res->status.has_processes);
  assert_double(res->status.accepted_conn, 6);
  assert_double(res->status.total_processes, 3);
  assert_double(res->status.start_time, 1795663630);
  assert_double(res->status.max_active_processes, 2);
  assert_int_equal(res->status.self_excluded, self_excluded);
  /* Through the pool's own socket our request is the Running worker, counted idle. */
  assert_double(res->status.idle_processes, self_excluded ? 3 : 2);
  assert_double(res->status.active_processes, self_excluded ? 0 : 1);
  assert_double(res->status.cpu_max, 96.62);
}

static void assert_opcache_warm(const fcgx_pool_result_t *res) {
  if (!res->opcache_ok)
    fail_msg("OPcache not ok: %s", res->opcache_error);
  assert_int_equal(res->opcache.availability, OPCACHE_OK);
  assert_true(res->opcache.enabled);
  assert_double(res->opcache.hits, 16);
  assert_double(res->opcache.misses, 9);
  assert_double(res->opcache.cached_scripts, 9);
  assert_double(res->opcache.used_memory, 9182352);
}

static void assert_healthy(const fcgx_pool_result_t *res, bool self_excluded) {
  assert_status_full_idle(res, self_excluded);
  assert_string_equal(res->fallback_reason, "");
  assert_true(res->ping_enabled);
  if (!res->ping_ok)
    fail_msg("ping not ok: %s", res->ping_error);
  assert_true(res->up);
  assert_true(res->opcache_enabled);
  assert_opcache_warm(res);
  assert_string_equal(res->ping_error, "");
  assert_string_equal(res->opcache_error, "");
  assert_true(res->status_seconds > 0 && res->status_seconds < 1);
  assert_true(res->ping_seconds > 0 && res->ping_seconds < 1);
  assert_true(res->opcache_seconds > 0 && res->opcache_seconds < 1);
}

/* Every logged request was well formed: one RESPONDER BEGIN_REQUEST with flags 0 (never
 * KEEP_CONN), version 1, request id 1, PARAMS then the empty STDIN, and a rule answered it. */
static void assert_requests_well_formed(const peer_t *p) {
  assert_int_equal(p->unmatched, 0);
  for (int i = 0; i < p->n_conns; i++) {
    const peer_conn_t *c = &p->conns[i];
    if (!c->request_ok)
      fail_msg("connection %d: %s", i, c->request_error);
    assert_int_equal(c->version, 1);
    assert_int_equal(c->role, 1);
    assert_int_equal(c->flags, 0);
    assert_int_equal(c->request_id, 1);
    assert_false(c->saw_other_record);
    assert_string_equal(peer_param(c, "REQUEST_METHOD"), "GET");
    assert_string_equal(peer_param(c, "FCGX_STATUS_REQUEST"), "1");
    const char *filename = peer_param(c, "SCRIPT_FILENAME");
    assert_non_null(filename);
    assert_true(filename[0] != '\0');
  }
}

static void assert_param(const peer_conn_t *c, const char *name, const char *value) {
  const char *got = peer_param(c, name);
  if (got == NULL)
    fail_msg("param %s not sent (expected \"%s\")", name, value);
  if (strcmp(got, value) != 0)
    fail_msg("param %s = \"%s\", expected \"%s\"", name, got, value);
}

/* ---- healthy pools ----------------------------------------------------------------------------
 */

static void test_healthy_unix(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_healthy(&poll.result, true);
  assert_requests_well_formed(p);
  assert_int_equal(p->n_conns, 3);
  const peer_conn_t *st = peer_find(p, "/status", 0);
  assert_non_null(st);
  assert_param(st, "QUERY_STRING", "json&full");
  assert_param(st, "SCRIPT_FILENAME", "/status");
  assert_param(st, "REQUEST_URI", "/status?json&full");
  assert_param(st, "DOCUMENT_URI", "/status");
  const peer_conn_t *ping = peer_find(p, "/ping", 0);
  assert_non_null(ping);
  assert_param(ping, "QUERY_STRING", "");
  assert_param(ping, "REQUEST_URI", "/ping");
  const peer_conn_t *script = peer_find(p, SCRIPT_NAME, 0);
  assert_non_null(script);
  assert_param(script, "SCRIPT_FILENAME", SCRIPT);
  assert_param(script, "QUERY_STRING", "");
}

static void test_healthy_tcp(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = peer_listen_tcp(p);
  assert_true(l >= 0);
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_tcp(&cfg, peer_port(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_healthy(&poll.result, true);
  assert_requests_well_formed(p);
  assert_int_equal(p->n_conns, 3);
}

/* The same poll struct polled again (as the plugin does every interval) gives the same result. */
static void test_poll_struct_reused(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  config_unix(&cfg, peer_path(p, l));
  fcgx_pool_poll_t poll;
  fcgx_pool_poll_init(&poll, &cfg);
  for (int i = 0; i < 3; i++) {
    fcgx_pools_poll(&poll, 1);
    assert_healthy(&poll.result, true);
    fcgx_pool_poll_release(&poll);
  }
  peer_stop(p);
  assert_requests_well_formed(p);
  assert_int_equal(p->n_conns, 9);
}

/* ---- which request goes where, and when --------------------------------------------------------
 */

/* Through the pool's own socket, ping and the script connect only once status has answered. */
static void test_order_own_socket(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", "json&full", PEER_RAW, full_wire.data, full_wire.len)->delay_ms = 50;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_healthy(&poll.result, true);
  assert_requests_well_formed(p);
  assert_int_equal(p->n_conns, 3);
  const peer_conn_t *st = peer_find(p, "/status", 0);
  assert_int_equal(st->rule, 0); /* the delayed one */
  assert_true(st->reply_seq > 0);
  for (int i = 0; i < p->n_conns; i++) {
    const peer_conn_t *c = &p->conns[i];
    if (c == st)
      continue;
    if (c->accept_seq < st->reply_seq || c->accept_ns < st->reply_ns)
      fail_msg("%s connected before the status reply began", peer_param(c, "SCRIPT_NAME"));
  }
}

/* With pm.status_listen, all three go to the status address at once; nothing to the pool's. */
/* An ondemand pool's own socket gets one request at a time: the script after ping's reply, so
 * php-fpm never forks a second worker for fcgx's requests. */
static void test_order_ondemand_one_at_a_time(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/ping", NULL, PEER_RAW, ping_wire.data, ping_wire.len)->delay_ms = 50;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  cfg.ondemand = true;
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_healthy(&poll.result, true);
  assert_int_equal(p->n_conns, 3);
  const peer_conn_t *ping = peer_find(p, "/ping", 0);
  const peer_conn_t *script = peer_find(p, SCRIPT_NAME, 0);
  assert_non_null(ping);
  assert_non_null(script);
  if (script->accept_seq < ping->reply_seq || script->accept_ns < ping->reply_ns)
    fail_msg("the script connected before ping's reply");
}

static void test_order_status_addr(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int main_l = listen_unix(p, "www.sock");
  int status_l = listen_unix(p, "www-status.sock");
  peer_rule(p, "/status", "json&full", PEER_RAW, full_wire.data, full_wire.len)->delay_ms = 100;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  char err[200] = "";
  config_unix(&cfg, peer_path(p, main_l));
  assert_int_equal(fcgx_address_unix(&cfg.status_addr, peer_path(p, status_l), err, sizeof(err)),
                   0);
  cfg.has_status_addr = true;
  double ms = poll_one(&cfg, &poll);
  peer_stop(p);

  /* The hidden status pool does not count our request: no self exclusion. */
  assert_healthy(&poll.result, false);
  assert_requests_well_formed(p);
  assert_int_equal(p->n_conns, 3);
  for (int i = 0; i < p->n_conns; i++)
    if (p->conns[i].listener != status_l)
      fail_msg("%s went to the pool's own socket", peer_param(&p->conns[i], "SCRIPT_NAME"));
  const peer_conn_t *st = peer_find(p, "/status", 0);
  const peer_conn_t *ping = peer_find(p, "/ping", 0);
  const peer_conn_t *script = peer_find(p, SCRIPT_NAME, 0);
  assert_non_null(ping);
  assert_non_null(script);
  /* They overlap: ping and the script connected while status was still unanswered. */
  assert_true(ping->accept_seq < st->reply_seq);
  assert_true(script->accept_seq < st->reply_seq);
  assert_true(ms >= 100 && ms < 300);
  assert_true(poll.result.ping_seconds < 0.09);
}

/* ---- status retry and fallback
 * ------------------------------------------------------------------- */

static const char status_500[] = "Status: 500 Internal Server Error\r\n"
                                 "Content-type: text/html; charset=UTF-8\r\n\r\n";
static const char status_503[] = "Status: 503 Service Unavailable\r\n"
                                 "Content-type: text/html; charset=UTF-8\r\n\r\n";

static void retry_case(const char *reply, int failures, bool via_status_addr) {
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_REPLY, reply, strlen(reply))->times = failures;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  if (via_status_addr) {
    cfg.status_addr = cfg.addr;
    cfg.has_status_addr = true;
  }
  poll_one(&cfg, &poll);
  peer_stop(p);
  const fcgx_pool_result_t *res = &poll.result;

  assert_requests_well_formed(p);
  assert_int_equal(peer_count_name(p, "/status"), 2); /* retried once, never more */
  assert_param(peer_find(p, "/status", 1), "QUERY_STRING", "json&full");
  if (failures == 1) {
    assert_healthy(res, !via_status_addr);
    assert_int_equal(p->n_conns, 4);
  } else {
    char code[8];
    snprintf(code, sizeof(code), "%.3s", reply + strlen("Status: "));
    assert_false(res->status_ok);
    assert_contains(res->status_error, "status request to ");
    assert_contains(res->status_error, code);
    /* The pool answered: ping and the script are still asked, and ping says it is up. */
    assert_int_equal(p->n_conns, 4);
    assert_true(res->ping_ok);
    assert_true(res->up);
    assert_true(res->opcache_ok);
    if (!via_status_addr) {
      /* Through the pool's socket, only after the second status reply. */
      const peer_conn_t *second = peer_find(p, "/status", 1);
      assert_true(peer_find(p, "/ping", 0)->accept_seq > second->reply_seq);
      assert_true(peer_find(p, SCRIPT_NAME, 0)->accept_seq > second->reply_seq);
    }
  }
}

static void test_status_500_then_200(void **state) {
  (void)state;
  retry_case(status_500, 1, false);
}

static void test_status_503_then_200(void **state) {
  (void)state;
  retry_case(status_503, 1, false);
}

static void test_status_500_twice(void **state) {
  (void)state;
  retry_case(status_500, 2, false);
}

static void test_status_503_twice(void **state) {
  (void)state;
  retry_case(status_503, 2, false);
}

static void test_status_500_then_200_status_addr(void **state) {
  (void)state;
  retry_case(status_500, 1, true);
}

static void test_status_500_twice_status_addr(void **state) {
  (void)state;
  retry_case(status_500, 2, true);
}

/* A 404 on status (wrong StatusPath) is not retried and quotes php-fpm's STDERR. */
static void test_status_404_not_retried(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_RAW, not_found_wire.data, not_found_wire.len);
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_int_equal(peer_count_name(p, "/status"), 1);
  assert_false(poll.result.status_ok);
  assert_true(poll.result.ping_ok); /* a wrong StatusPath: the pool itself is up */
  assert_true(poll.result.up);
  char want[300];
  snprintf(want, sizeof(want), "status request to %s answered HTTP 404: Primary script unknown",
           peer_path(p, l));
  assert_string_equal(poll.result.status_error, want);
}

static void test_full_json_fallback(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", "json&full", PEER_REPLY, unescaped_stdout.data, unescaped_stdout.len);
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);
  const fcgx_pool_result_t *res = &poll.result;

  assert_requests_well_formed(p);
  if (!res->status_ok)
    fail_msg("status not ok: %s", res->status_error);
  assert_false(res->status_full);
  assert_false(res->status.has_processes);
  assert_double(res->status.accepted_conn, 7); /* status_plain's figures */
  assert_double(res->status.total_processes, 3);
  assert_true(res->status.self_excluded);
  assert_contains(res->fallback_reason, "status with process details from ");
  assert_contains(res->fallback_reason, peer_path(p, l));
  assert_contains(res->fallback_reason, "not valid JSON");
  assert_true(res->ping_ok && res->up && res->opcache_ok);
  assert_int_equal(peer_count_name(p, "/status"), 2);
  assert_param(peer_find(p, "/status", 0), "QUERY_STRING", "json&full");
  assert_param(peer_find(p, "/status", 1), "QUERY_STRING", "json");
  assert_param(peer_find(p, "/status", 1), "REQUEST_URI", "/status?json");
  assert_int_equal(peer_count_name(p, "/ping"), 1);
  assert_int_equal(peer_count_name(p, SCRIPT_NAME), 1);
}

/* Plain JSON invalid as well: no third request, the error names the plain reply. */
static void test_plain_json_invalid_too(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_REPLY, unescaped_stdout.data, unescaped_stdout.len);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_false(poll.result.status_ok);
  assert_contains(poll.result.status_error, "status from ");
  assert_contains(poll.result.status_error, "not valid JSON");
  assert_true(poll.result.fallback_reason[0] != '\0');
  assert_int_equal(peer_count_name(p, "/status"), 2);
}

/* ProcessDetails false asks for plain json from the start. */
static void test_no_process_details(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  cfg.process_details = false;
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_true(poll.result.status_ok);
  assert_false(poll.result.status_full);
  assert_string_equal(poll.result.fallback_reason, "");
  assert_double(poll.result.status.accepted_conn, 7);
  assert_int_equal(peer_count_name(p, "/status"), 1);
  assert_param(peer_find(p, "/status", 0), "QUERY_STRING", "json");
}

/* ---- ping
 * ---------------------------------------------------------------------------------------- */

static void test_ping_wrong_body(void **state) {
  (void)state;
  static const char pang[] = "Content-type: text/plain;charset=UTF-8\r\n\r\npang";
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/ping", NULL, PEER_REPLY, pang, strlen(pang));
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_status_full_idle(&poll.result, true);
  assert_false(poll.result.ping_ok);
  assert_false(poll.result.up);
  char want[300];
  snprintf(want, sizeof(want), "ping to %s answered \"pang\" instead of \"pong\" (PingResponse)",
           peer_path(p, l));
  assert_string_equal(poll.result.ping_error, want);
}

/* Only the exact PingResponse counts: not a prefix of it, nor it with a newline. */
static void test_ping_body_not_exact(void **state) {
  (void)state;
  static const char prefix[] = "Content-type: text/plain;charset=UTF-8\r\n\r\npon";
  static const char newline[] = "Content-type: text/plain;charset=UTF-8\r\n\r\npong\n";
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/ping", NULL, PEER_REPLY, prefix, strlen(prefix))->times = 1;
  peer_rule(p, "/ping", NULL, PEER_REPLY, newline, strlen(newline))->times = 1;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  assert_false(poll.result.ping_ok);
  assert_false(poll.result.up);
  assert_contains(poll.result.ping_error, "answered \"pon\" instead of \"pong\"");
  poll_one(&cfg, &poll);
  assert_false(poll.result.ping_ok);
  assert_contains(poll.result.ping_error, "answered \"pong\n\" instead of \"pong\"");
  poll_one(&cfg, &poll); /* the captured reply again */
  assert_true(poll.result.ping_ok);
  assert_true(poll.result.up);
}

/* PingResponse set to something else: the captured "pong" is then wrong, the configured one ok. */
static void test_ping_custom_response(void **state) {
  (void)state;
  static const char ok[] = "Content-type: text/plain;charset=UTF-8\r\n\r\nI am alive";
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/health", NULL, PEER_REPLY, ok, strlen(ok));
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  snprintf(cfg.ping_path, sizeof(cfg.ping_path), "/health");
  snprintf(cfg.ping_response, sizeof(cfg.ping_response), "I am alive");
  poll_one(&cfg, &poll);
  if (!poll.result.ping_ok)
    fail_msg("ping: %s", poll.result.ping_error);
  assert_true(poll.result.up);

  snprintf(cfg.ping_path, sizeof(cfg.ping_path), "/ping");
  poll_one(&cfg, &poll);
  assert_false(poll.result.ping_ok);
  assert_contains(poll.result.ping_error, "answered \"pong\" instead of \"I am alive\"");
  assert_false(poll.result.up);
  peer_stop(p);
}

/* PingPath "": no ping request; up follows status (one pool healthy, one answering 500). */
static void test_ping_off(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int good = listen_unix(p, "good.sock");
  int bad = listen_unix(p, "bad.sock");
  peer_rule(p, "/status", NULL, PEER_REPLY, status_500, strlen(status_500))->listener = bad;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg[2];
  fcgx_pool_poll_t polls[2];
  config_unix(&cfg[0], peer_path(p, good));
  config_unix(&cfg[1], peer_path(p, bad));
  memset(polls, 0, sizeof(polls));
  for (int i = 0; i < 2; i++) {
    cfg[i].ping_path[0] = '\0';
    fcgx_pool_poll_init(&polls[i], &cfg[i]);
  }
  fcgx_pools_poll(polls, 2);
  fcgx_pool_poll_release(&polls[0]);
  fcgx_pool_poll_release(&polls[1]);
  peer_stop(p);

  assert_int_equal(peer_count_name(p, "/ping"), 0);
  assert_false(polls[0].result.ping_enabled);
  assert_false(polls[0].result.ping_ok);
  assert_true(polls[0].result.status_ok);
  assert_true(polls[0].result.up);
  assert_true(polls[0].result.opcache_ok);
  assert_false(polls[1].result.status_ok);
  assert_false(polls[1].result.up);
}

/* OPcache false: no script request. */
static void test_opcache_off(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  cfg.opcache = false;
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_int_equal(peer_count_name(p, SCRIPT_NAME), 0);
  assert_false(poll.result.opcache_enabled);
  assert_false(poll.result.opcache_ok);
  assert_true(poll.result.up);
  assert_int_equal(p->n_conns, 2);
}

/* ---- unreachable pools --------------------------------------------------------------------------
 */

static void test_missing_unix_socket(void **state) {
  (void)state;
  char dir[] = "/tmp/fcgx-missing-XXXXXX", path[200];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/nothing.sock", dir);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, path);
  double ms = poll_one(&cfg, &poll);
  rmdir(dir);

  char want[300];
  snprintf(want, sizeof(want), "connect to %s: No such file or directory", path);
  assert_false(poll.result.status_ok);
  assert_false(poll.result.up);
  assert_contains(poll.result.status_error, want);
  assert_contains(poll.result.ping_error, want);
  assert_true(ms < 50);
}

/* A socket file nobody listens on any more (php-fpm killed): refused at once. */
static void test_stale_unix_socket(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  close(p->listen_fd[l]);
  p->listen_fd[l] = -1;
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  char want[300];
  snprintf(want, sizeof(want), "connect to %s: Connection refused", peer_path(p, l));
  assert_contains(poll.result.status_error, want);
  assert_false(poll.result.up);
  peer_stop(p);
}

static int free_tcp_port(void) {
  struct sockaddr_in sin = {.sin_family = AF_INET};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sin);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
  close(fd);
  return ntohs(sin.sin_port);
}

static void test_refused_tcp(void **state) {
  (void)state;
  int port = free_tcp_port();
  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_tcp(&cfg, port);
  double ms = poll_one(&cfg, &poll);

  char want[300];
  snprintf(want, sizeof(want), "connect to 127.0.0.1:%d: Connection refused", port);
  assert_false(poll.result.status_ok);
  assert_false(poll.result.up);
  assert_contains(poll.result.status_error, want);
  assert_true(ms < 50);
}

/* A host name with two addresses (::1 and 127.0.0.1, say), the first refusing. Status, ping and
 * the script start together (pm.status_listen): each request walks the addresses with its own
 * cursor, so none is sent back to the one that just refused by another's failure; the one that
 * answered is tried first next time. */
static void test_each_request_has_its_own_connect_cursor(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = peer_listen_tcp(p);
  assert_true(l >= 0);
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  char err[200];
  config_tcp(&cfg, peer_port(p, l));
  cfg.status_addr = cfg.addr;
  cfg.has_status_addr = true;
  fcgx_pool_poll_init(&poll, &cfg);
  assert_int_equal(fcgx_pool_poll_resolve(&poll, err, sizeof(err)), 0);
  fcgx_endpoint_t *ep = &poll.status_endpoint;
  assert_int_equal(ep->n_sa, 1);
  ep->sa[1] = ep->sa[0];
  ep->sa_len[1] = ep->sa_len[0];
  ((struct sockaddr_in *)&ep->sa[0])->sin_port = htons((uint16_t)free_tcp_port());
  ep->n_sa = 2;
  fcgx_pools_poll(&poll, 1);
  fcgx_pool_poll_release(&poll);
  assert_healthy(&poll.result, false);
  assert_int_equal(ep->preferred, 1);
  assert_int_equal(p->n_conns, 3);

  fcgx_pools_poll(&poll, 1); /* straight to the one that answered */
  fcgx_pool_poll_release(&poll);
  peer_stop(p);
  assert_healthy(&poll.result, false);
  assert_int_equal(p->n_conns, 6);
}

/* A unix socket in a container's root: reached through its file opened inside the root, so a
 * root+path longer than sun_path works, and a link to a socket outside the root (an absolute
 * one) reaches nothing there. */
static void test_socket_inside_a_root(void **state) {
  (void)state;
  peer_t *p = new_peer();
  char outside[64], err[200], root[PATH_MAX], link[PATH_MAX];
  snprintf(outside, sizeof(outside), "../fcgx-outside-%d.sock", (int)getpid());
  int l = listen_unix(p, "www.sock");
  int ol = listen_unix(p, outside); /* beside the root, not in it */
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  /* root + path longer than sun_path: the socket moved (renamed) into a deep directory */
  char deep[PATH_MAX], inner[128];
  snprintf(root, sizeof(root), "%s", p->dir);
  snprintf(inner, sizeof(inner), "/%080d/www.sock", 0);
  snprintf(deep, sizeof(deep), "%s/%080d", root, 0);
  assert_int_equal(mkdir(deep, 0755), 0);
  snprintf(deep, sizeof(deep), "%s%s", root, inner);
  assert_int_equal(rename(peer_path(p, l), deep), 0);
  assert_true(strlen(deep) >= sizeof(((struct sockaddr_un *)0)->sun_path));
  assert_int_equal(fcgx_address_unix_in(&cfg.addr, root, inner, err, sizeof(err)), 0);
  poll_one(&cfg, &poll);
  assert_healthy(&poll.result, true);
  int before = p->n_conns;

  /* a link inside the root to the socket outside it */
  snprintf(link, sizeof(link), "%s/evil.sock", p->dir);
  assert_int_equal(symlink(peer_path(p, ol), link), 0);
  assert_int_equal(fcgx_address_unix_in(&cfg.addr, root, "/evil.sock", err, sizeof(err)), 0);
  poll_one(&cfg, &poll);
  peer_stop(p);
  assert_false(poll.result.up);
  assert_contains(poll.result.status_error, "evil.sock: No such file or directory");
  assert_int_equal(p->n_conns, before); /* nothing reached the outside socket */
  unlink(link);
  unlink(deep);
  *strrchr(deep, '/') = '\0';
  rmdir(deep);
  unlink(peer_path(p, ol));
}

/* Each failure says what kind it is, beside its words. */
static void test_error_kinds(void **state) {
  (void)state;
  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_tcp(&cfg, free_tcp_port());
  poll_one(&cfg, &poll);
  assert_int_equal(poll.result.status_error_kind, FCGX_ERR_REFUSED);
  assert_int_equal(poll.result.ping_error_kind, FCGX_ERR_REFUSED);
  assert_string_equal(fcgx_error_kind_name(FCGX_ERR_REFUSED), "refused");

  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_HANG, NULL, 0);
  rules_healthy(p);
  start(p);
  config_unix(&cfg, peer_path(p, l));
  cfg.timeout_ms = 100;
  poll_one(&cfg, &poll);
  peer_stop(p);
  assert_int_equal(poll.result.status_error_kind, FCGX_ERR_TIMEOUT);
  assert_string_equal(fcgx_error_kind_name(FCGX_ERR_TIMEOUT), "timeout");
}

/* A host name that does not resolve: the error says so, and the lookup (which may block, under
 * no deadline) is not tried again at the next poll but its error kept. */
static void test_unresolvable_host(void **state) {
  (void)state;
  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  char err[200];
  fcgx_pool_config_defaults(&cfg);
  cfg.opcache = false;
  assert_int_equal(fcgx_address_tcp(&cfg.addr, "fcgx-test.invalid", "9000", err, sizeof(err)), 0);
  fcgx_pool_poll_init(&poll, &cfg); /* the endpoint keeps what it learnt across polls */
  fcgx_pools_poll(&poll, 1);
  fcgx_pool_poll_release(&poll);
  assert_false(poll.result.up);
  assert_contains(poll.result.status_error, "resolve fcgx-test.invalid:9000: ");
  assert_contains(poll.result.status_error, "(tried again in a minute)");
  assert_int_equal(poll.result.status_error_kind, FCGX_ERR_RESOLVE);
  uint64_t first = poll.endpoint.resolve_ns;
  assert_int_not_equal(first, 0);
  fcgx_pools_poll(&poll, 1);
  fcgx_pool_poll_release(&poll);
  assert_contains(poll.result.status_error, "resolve fcgx-test.invalid:9000: ");
  assert_int_equal(poll.endpoint.resolve_ns, first); /* not looked up again */
}

/* ---- deadlines and concurrency ------------------------------------------------------------------
 */

static void test_hung_peer(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, NULL, NULL, PEER_HANG, NULL, 0);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  cfg.timeout_ms = 300;
  double ms = poll_one(&cfg, &poll);
  peer_stop(p);

  if (!(ms >= 290 && ms < 450))
    fail_msg("the poll took %.1f ms with Timeout 300", ms);
  char want[300];
  snprintf(want, sizeof(want), "status request: %s: no reply within 300 ms (0 bytes received)",
           peer_path(p, l));
  assert_string_equal(poll.result.status_error, want);
  assert_false(poll.result.up);
  assert_int_equal(p->n_conns, 1); /* no ping or script behind a hung status */
}

/* A hung pool delays no other pool polled with it. */
static void test_hung_beside_healthy(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int hung = listen_unix(p, "hung.sock");
  int good = listen_unix(p, "good.sock");
  peer_rule(p, NULL, NULL, PEER_HANG, NULL, 0)->listener = hung;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg[2];
  fcgx_pool_poll_t polls[2];
  config_unix(&cfg[0], peer_path(p, hung));
  config_unix(&cfg[1], peer_path(p, good));
  cfg[0].timeout_ms = 300;
  memset(polls, 0, sizeof(polls));
  fcgx_pool_poll_init(&polls[0], &cfg[0]);
  fcgx_pool_poll_init(&polls[1], &cfg[1]);
  uint64_t t0 = peer_now_ns();
  fcgx_pools_poll(polls, 2);
  double ms = (double)(peer_now_ns() - t0) / 1e6;
  fcgx_pool_poll_release(&polls[0]);
  fcgx_pool_poll_release(&polls[1]);
  peer_stop(p);

  if (!(ms >= 290 && ms < 450))
    fail_msg("the poll took %.1f ms with Timeout 300", ms);
  assert_contains(polls[0].result.status_error, "no reply within 300 ms (0 bytes received)");
  assert_healthy(&polls[1].result, true);
  if (polls[1].result.status_seconds >= 0.1)
    fail_msg("healthy status took %.3f s", polls[1].result.status_seconds);
  assert_true(polls[1].result.ping_seconds < 0.1);
  assert_true(polls[1].result.opcache_seconds < 0.1);
}

/* Ping and the script share the pool's deadline (start + Timeout), not a fresh Timeout each. */
static void test_followers_share_deadline(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", "json&full", PEER_RAW, full_wire.data, full_wire.len)->delay_ms = 200;
  peer_rule(p, NULL, NULL, PEER_HANG, NULL, 0);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  cfg.timeout_ms = 300;
  double ms = poll_one(&cfg, &poll);
  peer_stop(p);

  if (!(ms >= 290 && ms < 450))
    fail_msg("the poll took %.1f ms with Timeout 300", ms);
  assert_status_full_idle(&poll.result, true);
  assert_contains(poll.result.ping_error, "ping request: ");
  assert_contains(poll.result.ping_error, "no reply within 300 ms (0 bytes received)");
  assert_contains(poll.result.opcache_error, "no reply within 300 ms");
  assert_false(poll.result.up);
  assert_false(poll.result.opcache_ok);
}

/* n pools on a started peer, every request answered after 100 ms, each pool with Timeout
 * timeout_ms. */
static peer_t *slow_pools(int n, fcgx_pool_config_t *cfg, fcgx_pool_poll_t *polls, int timeout_ms) {
  peer_t *p = new_peer();
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof(name), "pool%02d.sock", i);
    listen_unix(p, name);
  }
  peer_rule(p, "/status", "json&full", PEER_RAW, full_wire.data, full_wire.len)->delay_ms = 100;
  peer_rule(p, "/ping", NULL, PEER_RAW, ping_wire.data, ping_wire.len)->delay_ms = 100;
  peer_rule(p, SCRIPT_NAME, NULL, PEER_REPLY, opcache_stdout.data, opcache_stdout.len)->delay_ms =
      100;
  start(p);
  memset(polls, 0, (size_t)n * sizeof(*polls));
  for (int i = 0; i < n; i++) {
    config_unix(&cfg[i], peer_path(p, i));
    cfg[i].timeout_ms = timeout_ms;
    fcgx_pool_poll_init(&polls[i], &cfg[i]);
  }
  return p;
}

#define N_POOLS 50

static void test_many_pools_concurrent(void **state) {
  (void)state;
  static fcgx_pool_config_t cfg[N_POOLS];
  static fcgx_pool_poll_t polls[N_POOLS];
  peer_t *p = slow_pools(N_POOLS, cfg, polls, 3000);
  uint64_t t0 = peer_now_ns();
  fcgx_pools_poll(polls, N_POOLS);
  double ms = (double)(peer_now_ns() - t0) / 1e6;
  for (int i = 0; i < N_POOLS; i++)
    fcgx_pool_poll_release(&polls[i]);
  peer_stop(p);

  for (int i = 0; i < N_POOLS; i++)
    if (!polls[i].result.up || !polls[i].result.opcache_ok)
      print_message("pool %d: status \"%s\" ping \"%s\" script \"%s\"\n", i,
                    polls[i].result.status_error, polls[i].result.ping_error,
                    polls[i].result.opcache_error);
  /* Status, then ping and the script: 200 ms in all when the 50 pools run at once. */
  if (!(ms >= 200 && ms < 1000))
    fail_msg("%d pools answering in 100 ms took %.1f ms", N_POOLS, ms);
  for (int i = 0; i < N_POOLS; i++)
    assert_healthy(&polls[i].result, true);
  assert_requests_well_formed(p);
  assert_int_equal(p->n_conns, 3 * N_POOLS);
  for (int i = 0; i < N_POOLS; i++) {
    int n = 0;
    for (int c = 0; c < p->n_conns; c++)
      n += p->conns[c].listener == i;
    assert_int_equal(n, 3);
  }
}

/* The most connections open at once on the peer's side, from when each was accepted to when
 * its reply began. */
static int peak_connections(const peer_t *p) {
  int peak = 0;
  for (int a = 0; a < p->n_conns; a++) {
    int open = 0;
    for (int b = 0; b < p->n_conns; b++)
      open += p->conns[b].accept_ns <= p->conns[a].accept_ns &&
              (p->conns[b].reply_ns == 0 || p->conns[b].reply_ns > p->conns[a].accept_ns);
    peak = open > peak ? open : peak;
  }
  return peak;
}

#define N_BOUNDED 12

/* With MaxConnections 8 (two pools of four descriptors each), pools wait their turn within the
 * read, and each one's Timeout runs from its own start: 12 pools of 200 ms each take 6 rounds,
 * far past one Timeout of 300 ms, and none times out. */
static void test_connections_bounded(void **state) {
  (void)state;
  static fcgx_pool_config_t cfg[N_BOUNDED];
  static fcgx_pool_poll_t polls[N_BOUNDED];
  peer_t *p = slow_pools(N_BOUNDED, cfg, polls, 300);
  fcgx_pools_max_connections(8);
  uint64_t t0 = peer_now_ns();
  fcgx_pools_poll(polls, N_BOUNDED);
  double ms = (double)(peer_now_ns() - t0) / 1e6;
  fcgx_pools_max_connections(FCGX_DEFAULT_MAX_CONNECTIONS);
  for (int i = 0; i < N_BOUNDED; i++)
    fcgx_pool_poll_release(&polls[i]);
  peer_stop(p);

  for (int i = 0; i < N_BOUNDED; i++)
    assert_healthy(&polls[i].result, true);
  /* two pools in flight, each with its ping and script at once after its status */
  int peak = peak_connections(p);
  if (peak > 4)
    fail_msg("%d connections open at once, at most 4 allowed", peak);
  if (ms < 6 * 200)
    fail_msg("12 pools two at a time took only %.1f ms", ms);
}

/* A pool that could not start in time to end by the read's end is skipped, not down; one
 * already in flight still ends under its own Timeout. */
static void test_pools_past_the_end_skipped(void **state) {
  (void)state;
  peer_t *p = new_peer();
  enum { N = 4 };
  fcgx_pool_config_t cfg[N];
  fcgx_pool_poll_t polls[N], *each[N];
  for (int i = 0; i < N; i++) {
    char name[32];
    snprintf(name, sizeof(name), "pool%d.sock", i);
    listen_unix(p, name);
  }
  peer_rule(p, "/status", "json&full", PEER_RAW, full_wire.data, full_wire.len)->delay_ms = 300;
  rules_healthy(p);
  start(p);
  for (int i = 0; i < N; i++) {
    config_unix(&cfg[i], peer_path(p, i));
    cfg[i].timeout_ms = 1000;
    cfg[i].opcache = false;
    fcgx_pool_poll_init(&polls[i], &cfg[i]);
    each[i] = &polls[i];
  }
  fcgx_pools_max_connections(4); /* one pool at a time */
  fcgx_pools_prepare(each, N);
  polls[1].plan = FCGX_POLL_ASLEEP;
  /* The read ends at 800 ms. Pool 0 starts at once with its whole Timeout and answers at 300
   * ms; pool 2 waits for it, starts with the read's end as its deadline and answers by 600 ms;
   * pool 3 starts after that and its 300 ms reply would come after the end: skipped, not down. */
  fcgx_pools_poll_each(each, N, peer_now_ns() + 800000000u);
  for (int i = 0; i < N; i++)
    fcgx_pool_poll_release(&polls[i]);
  fcgx_pool_result_t first[N];
  for (int i = 0; i < N; i++)
    first[i] = polls[i].result;
  /* An end sooner than one Timeout (Timeout as long as the Interval): the first pool still
   * starts, with its whole Timeout; the ones that would have to wait do not. */
  fcgx_pools_prepare(each, N);
  fcgx_pools_poll_each(each, N, peer_now_ns() + 1000000u);
  fcgx_pools_max_connections(FCGX_DEFAULT_MAX_CONNECTIONS);
  for (int i = 0; i < N; i++)
    fcgx_pool_poll_release(&polls[i]);
  peer_stop(p);
  if (!polls[0].result.up)
    fail_msg("plan %d, status: %s, ping: %s", polls[0].result.plan, polls[0].result.status_error,
             polls[0].result.ping_error);
  for (int i = 1; i < N; i++)
    assert_int_equal(polls[i].result.plan, FCGX_POLL_SKIPPED);
  assert_contains(polls[1].result.skipped, "before it could start");

  assert_int_equal(first[0].plan, FCGX_POLL_ASK);
  assert_true(first[0].up);
  assert_int_equal(first[1].plan, FCGX_POLL_ASLEEP); /* sent nothing, up */
  assert_true(first[1].up);
  assert_false(first[1].status_ok);
  if (first[2].plan != FCGX_POLL_ASK || !first[2].up)
    fail_msg("pool 2: plan %d, %s", first[2].plan, first[2].skipped);
  assert_int_equal(first[3].plan, FCGX_POLL_SKIPPED);
  assert_false(first[3].up);
  assert_contains(first[3].skipped, "MaxConnections");
  for (int c = 0; c < p->n_conns; c++)
    if (p->conns[c].listener == 1)
      fail_msg("a request reached the pool that sleeps");
}

/* What reached the pool's own socket, before its status page and after: php-fpm counts them in
 * `accepted conn`. Through pm.status_listen, nothing reaches it. */
static void test_own_requests_counted(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int own = listen_unix(p, "www.sock");
  int status = listen_unix(p, "status.sock");
  peer_rule(p, "/status", "json&full", PEER_REPLY, status_500, strlen(status_500))->times = 1;
  rules_healthy(p);
  start(p);
  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, own));
  poll_one(&cfg, &poll);
  assert_true(poll.result.up);
  assert_int_equal(poll.result.own_before_status, 2); /* a 500, then the page */
  assert_int_equal(poll.result.own_after_status, 2);  /* ping and the script */

  char err[200];
  assert_int_equal(fcgx_address_unix(&cfg.status_addr, peer_path(p, status), err, sizeof(err)), 0);
  cfg.has_status_addr = true;
  poll_one(&cfg, &poll);
  peer_stop(p);
  assert_true(poll.result.up);
  assert_int_equal(poll.result.own_before_status, 0);
  assert_int_equal(poll.result.own_after_status, 0);
}

/* Out of file descriptors: the pool is skipped with the reason, never reported down. */
static void test_out_of_descriptors_skipped(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  rules_healthy(p);
  start(p);
  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  struct rlimit saved, tight;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
  tight = saved;
  int lowest_free = dup(0); /* a new descriptor takes the lowest free number */
  assert_true(lowest_free >= 0);
  close(lowest_free);
  tight.rlim_cur = (rlim_t)lowest_free; /* none free below the limit: socket() fails */
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &tight), 0);
  poll_one(&cfg, &poll);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
  peer_stop(p);
  assert_int_equal(poll.result.plan, FCGX_POLL_SKIPPED);
  assert_false(poll.result.up);
  assert_contains(poll.result.skipped, "Too many open files");
}

static void test_slow_drip(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_RAW, full_wire.data, full_wire.len)->drip_ms = 50;
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  cfg.timeout_ms = 300;
  double ms = poll_one(&cfg, &poll);
  peer_stop(p);

  if (!(ms >= 290 && ms < 450))
    fail_msg("the poll took %.1f ms with Timeout 300", ms);
  assert_false(poll.result.status_ok);
  size_t received = 0;
  const char *at = strstr(poll.result.status_error, "no reply within 300 ms (");
  if (at == NULL)
    fail_msg("status error: %s", poll.result.status_error);
  assert_int_equal(sscanf(at, "no reply within 300 ms (%zu bytes received)", &received), 1);
  assert_true(received > 0 && received < 20);
  assert_int_equal(received, poll.status_req.received);
}

/* The 500 came from a php-fpm that is gone at once (its socket removed): the retry fails on
 * connect, each request's end is reported once, and ping and the script are not tried. */
static void test_retry_fails_at_once(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_REPLY, status_500, strlen(status_500))->unlink_listener = true;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  double ms = poll_one(&cfg, &poll);
  peer_stop(p);

  char want[300];
  snprintf(want, sizeof(want), "status request: connect to %s: No such file or directory",
           peer_path(p, l));
  assert_string_equal(poll.result.status_error, want);
  assert_string_equal(poll.result.ping_error, want);
  assert_string_equal(poll.result.opcache_error, want);
  assert_false(poll.result.up);
  assert_int_equal(poll.status_attempts, 2);
  assert_int_equal(p->n_conns, 1);
  assert_true(ms < 100);
}

/* Status answered, then the socket is gone: ping and the script fail on connect at once, from
 * inside the status callback, and each failure is still reported. */
static void test_followers_fail_at_once(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_RAW, full_wire.data, full_wire.len)->unlink_listener = true;
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  double ms = poll_one(&cfg, &poll);
  peer_stop(p);

  assert_status_full_idle(&poll.result, true);
  char want[300];
  snprintf(want, sizeof(want), "connect to %s: No such file or directory", peer_path(p, l));
  assert_contains(poll.result.ping_error, "ping request: ");
  assert_contains(poll.result.ping_error, want);
  assert_contains(poll.result.opcache_error, "OPcache script request: ");
  assert_contains(poll.result.opcache_error, want);
  assert_false(poll.result.ping_ok);
  assert_false(poll.result.opcache_ok);
  assert_false(poll.result.up);
  assert_true(ms < 100);
}

/* A peer that keeps the connection open after END_REQUEST (as with KEEP_CONN): the reply is
 * complete at END_REQUEST, nothing waits for the close. */
static void test_reply_without_close(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_RAW, full_wire.data, full_wire.len)->hold_open = true;
  peer_rule(p, "/ping", NULL, PEER_RAW, ping_wire.data, ping_wire.len)->hold_open = true;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  double ms = poll_one(&cfg, &poll);
  peer_stop(p);

  assert_healthy(&poll.result, true);
  if (ms >= 100)
    fail_msg("the poll took %.1f ms", ms);
}

/* A reply arriving in small pieces (split headers, records, padding) is put together. */
static void test_reply_in_pieces(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule_t *r = peer_rule(p, "/status", NULL, PEER_RAW, full_wire.data, full_wire.len);
  r->drip_ms = 1;
  r->drip_bytes = 61;
  r = peer_rule(p, "/ping", NULL, PEER_RAW, ping_wire.data, ping_wire.len);
  r->drip_ms = 1;
  r->drip_bytes = 3;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_healthy(&poll.result, true);
  assert_int_equal(poll.status_req.received, full_wire.len);
}

/* Another capture: 30000 bytes of output in 4 STDOUT and 2 STDERR records, as the script's reply
 * (not JSON: the error names the script); and a max_reply just below its size. */
static void test_big_reply_and_cap(void **state) {
  (void)state;
  size_t len;
  char *mixed = read_fixture("mixed.wire", &len);
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, SCRIPT_NAME, NULL, PEER_RAW, mixed, len);
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  config_unix(&cfg, peer_path(p, l));
  fcgx_pool_poll_t poll;
  fcgx_pool_poll_init(&poll, &cfg);
  fcgx_pools_poll(&poll, 1);
  assert_true(poll.result.up);
  assert_false(poll.result.opcache_ok);
  assert_contains(poll.result.opcache_error, SCRIPT " from ");
  /* every byte read (the buffers are released as soon as the pool's poll ends) */
  assert_int_equal(poll.opcache_req.received, len);
  assert_null(poll.opcache_req.dec.out.data);
  fcgx_pool_poll_release(&poll);

  cfg.max_reply = 30068 + 39 - 1;
  poll_one(&cfg, &poll);
  assert_true(poll.result.up);
  assert_contains(poll.result.opcache_error, "reply larger than 30106 bytes");
  peer_stop(p);
  free(mixed);
}

/* A unix socket whose accept queue is full refuses at once (EAGAIN): named as such. */
static void test_unix_listen_queue_full(void **state) {
  (void)state;
  peer_t *p = new_peer(); /* for its folder only */
  char path[200];
  snprintf(path, sizeof(path), "%s/full.sock", p->dir);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(lfd >= 0);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
  assert_int_equal(listen(lfd, 0), 0);
  int clients[64], n = 0;
  for (; n < 64; n++) {
    clients[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(clients[n] >= 0);
    if (connect(clients[n], (struct sockaddr *)&sun, sizeof(sun)) != 0) {
      assert_int_equal(errno, EAGAIN);
      close(clients[n]);
      break;
    }
  }
  assert_true(n < 64);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, path);
  double ms = poll_one(&cfg, &poll);
  for (int i = 0; i < n; i++)
    close(clients[i]);
  close(lfd);
  unlink(path);

  char want[300];
  snprintf(want, sizeof(want), "connect to %s: listen queue full (%s)", path, strerror(EAGAIN));
  assert_contains(poll.result.status_error, want);
  assert_false(poll.result.up);
  assert_true(ms < 100);
}

/* A TCP listener whose accept queue is full drops the SYN: the connect is still pending at the
 * deadline. */
static void test_tcp_no_connection(void **state) {
  (void)state;
  struct sockaddr_in sin = {.sin_family = AF_INET};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t sin_len = sizeof(sin);
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(lfd >= 0);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
  assert_int_equal(listen(lfd, 0), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sin_len), 0);
  /* Fill the queue: connections that complete at once until one stays pending. */
  int clients[16], n = 0;
  bool pending = false;
  while (n < 16 && !pending) {
    clients[n] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(clients[n] >= 0);
    if (connect(clients[n], (struct sockaddr *)&sin, sizeof(sin)) != 0) {
      assert_int_equal(errno, EINPROGRESS);
      struct pollfd pfd = {.fd = clients[n], .events = POLLOUT};
      pending = poll(&pfd, 1, 50) == 0;
    }
    n++;
  }
  if (!pending) {
    for (int i = 0; i < n; i++)
      close(clients[i]);
    close(lfd);
    skip();
  }

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_tcp(&cfg, ntohs(sin.sin_port));
  cfg.timeout_ms = 200;
  double ms = poll_one(&cfg, &poll);
  for (int i = 0; i < n; i++)
    close(clients[i]);
  close(lfd);

  char want[300];
  snprintf(want, sizeof(want), "connect to 127.0.0.1:%d: no connection within 200 ms",
           ntohs(sin.sin_port));
  assert_contains(poll.result.status_error, want);
  if (!(ms >= 190 && ms < 350))
    fail_msg("the poll took %.1f ms with Timeout 200", ms);
}

/* ---- broken replies -----------------------------------------------------------------------------
 */

/* Polls a pool whose status request gets raw bytes (len 0: the peer closes at once); the status
 * error must contain "status request: ADDRESS: want". */
static void status_raw_case(const char *raw, size_t len, size_t max_reply, const char *want) {
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_RAW, raw, len);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  cfg.timeout_ms = 2000;
  if (max_reply)
    cfg.max_reply = max_reply;
  double ms = poll_one(&cfg, &poll);
  peer_stop(p);

  assert_false(poll.result.status_ok);
  assert_false(poll.result.up);
  assert_int_equal(p->n_conns, 1); /* neither retried nor followed */
  char full_want[400];
  snprintf(full_want, sizeof(full_want), "status request: %s: %s", peer_path(p, l), want);
  assert_contains(poll.result.status_error, full_want);
  if (ms >= 500)
    fail_msg("a broken reply took %.1f ms to notice", ms);
}

static void test_reply_over_cap(void **state) {
  (void)state;
  peer_buf_t b = {0};
  size_t n = 10 * 1024;
  char *out = malloc(n);
  assert_non_null(out);
  memcpy(out, "Content-Type: application/json\r\n\r\n", 35);
  memset(out + 35, 'x', n - 35);
  peer_wrap(&b, 1, out, n, NULL, 0);
  status_raw_case(b.data, b.len, 4096, "reply larger than 4096 bytes (the cap on a reply)");
  free(b.data);
  free(out);
}

static void test_wrong_request_id(void **state) {
  (void)state;
  peer_buf_t b = {0};
  peer_wrap(&b, 2, full_stdout.data, full_stdout.len, NULL, 0);
  status_raw_case(b.data, b.len, 0, "FastCGI record for request id 2 (expected 1)");
  free(b.data);
}

static void test_wrong_version(void **state) {
  (void)state;
  peer_buf_t b = {0};
  peer_record(&b, 2, 6, 1, full_stdout.data, 100);
  status_raw_case(b.data, b.len, 0, "FastCGI protocol version 2 in a record header (expected 1)");
  free(b.data);
}

static void test_unexpected_record_type(void **state) {
  (void)state;
  peer_buf_t b = {0};
  static const char values[] = "\x0e\x01"
                               "FCGI_MPXS_CONNS0";
  peer_record(&b, 1, 10 /* GET_VALUES_RESULT */, 1, values, sizeof(values) - 1);
  status_raw_case(b.data, b.len, 0, "unexpected FastCGI record type 10 (request id 1)");
  free(b.data);
}

static void test_unknown_type_answer(void **state) {
  (void)state;
  peer_buf_t b = {0};
  static const char body[8] = {9};
  peer_record(&b, 1, 11 /* UNKNOWN_TYPE */, 0, body, sizeof(body));
  status_raw_case(b.data, b.len, 0, "FastCGI peer answered UNKNOWN_TYPE");
  free(b.data);
}

static void test_garbage(void **state) {
  (void)state;
  static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  /* 'H' is 72: an HTTP server on the FastCGI port. */
  status_raw_case(http, strlen(http), 0, "FastCGI protocol version 72 in a record header");
}

static void test_overloaded(void **state) {
  (void)state;
  peer_buf_t b = {0};
  peer_end_request(&b, 1, 0, 2 /* OVERLOADED */);
  status_raw_case(b.data, b.len, 0, "FastCGI request refused: protocolStatus 2 (OVERLOADED)");
  free(b.data);
}

static void test_closed_mid_reply(void **state) {
  (void)state;
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_RAW, full_wire.data, full_wire.len)->cut_at = 700;
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  char want[300];
  snprintf(want, sizeof(want),
           "status request: %s: connection closed before the end of the reply (700 bytes "
           "received)",
           peer_path(p, l));
  assert_string_equal(poll.result.status_error, want);
  assert_false(poll.result.up);
}

static void test_closed_without_reply(void **state) {
  (void)state;
  status_raw_case("", 0, 0, "connection closed before the end of the reply (0 bytes received)");
}

/* The whole reply but END_REQUEST: the same as closed mid-reply. */
static void test_closed_before_end_request(void **state) {
  (void)state;
  status_raw_case(full_wire.data, full_wire.len - 16, 0,
                  "connection closed before the end of the reply");
}

/* STDOUT that is not a CGI response (no blank line after the headers). */
static void test_status_not_cgi(void **state) {
  (void)state;
  static const char text[] = "{\"pool\":\"www\"}";
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule(p, "/status", NULL, PEER_REPLY, text, strlen(text));
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  char want[300];
  snprintf(want, sizeof(want), "status request to %s: ", peer_path(p, l));
  assert_false(poll.result.status_ok);
  assert_contains(poll.result.status_error, want);
  assert_int_equal(peer_count_name(p, "/status"), 1);
}

/* ---- the OPcache script's failures --------------------------------------------------------------
 */

static void script_case(const char *out, size_t out_len, const char *err, size_t err_len, bool raw,
                        const char *want) {
  peer_t *p = new_peer();
  int l = listen_unix(p, "www.sock");
  peer_rule_t *r = peer_rule(p, SCRIPT_NAME, NULL, raw ? PEER_RAW : PEER_REPLY, out, out_len);
  r->err = err;
  r->err_len = err_len;
  rules_healthy(p);
  start(p);

  fcgx_pool_config_t cfg;
  fcgx_pool_poll_t poll;
  config_unix(&cfg, peer_path(p, l));
  poll_one(&cfg, &poll);
  peer_stop(p);

  assert_requests_well_formed(p);
  assert_status_full_idle(&poll.result, true);
  assert_true(poll.result.ping_ok);
  assert_true(poll.result.up);
  assert_false(poll.result.opcache_ok);
  assert_contains(poll.result.opcache_error, want);
}

static void test_script_404(void **state) {
  (void)state;
  script_case(not_found_wire.data, not_found_wire.len, NULL, 0, true,
              "the pool cannot find " SCRIPT " (HTTP 404): OPcacheScript is the path as the pool "
              "sees it");
}

static void test_script_403(void **state) {
  (void)state;
  static const char denied[] = "Status: 403 Forbidden\r\n"
                               "Content-type: text/html; charset=UTF-8\r\n\r\nAccess denied.\n";
  static const char warning[] = "PHP message: PHP Warning:  Unknown: open_basedir restriction in "
                                "effect. File(" SCRIPT ") is not within the allowed path(s)";
  script_case(denied, strlen(denied), warning, strlen(warning), false,
              "the pool refuses to run " SCRIPT " (HTTP 403): security.limit_extensions");
}

static void test_script_not_loaded(void **state) {
  (void)state;
  static const char fatal[] = "Status: 500 Internal Server Error\r\n"
                              "Content-type: text/html; charset=UTF-8\r\n\r\n";
  static const char err[] =
      "PHP message: PHP Fatal error:  Uncaught Error: Call to undefined function "
      "opcache_get_status() in " SCRIPT ":3";
  script_case(fatal, strlen(fatal), err, strlen(err), false,
              "OPcache is not loaded in the pool (zend_extension=opcache.so)");
}

/* Another 5xx keeps php-fpm's STDERR line. */
static void test_script_other_500(void **state) {
  (void)state;
  static const char fatal[] = "Status: 500 Internal Server Error\r\n\r\n";
  static const char err[] = "PHP message: PHP Fatal error:  Allowed memory size exhausted\nmore";
  script_case(fatal, strlen(fatal), err, strlen(err), false,
              "answered HTTP 500: PHP message: PHP Fatal error:  Allowed memory size exhausted");
}

static void test_script_bad_json(void **state) {
  (void)state;
  static const char html[] = "Content-type: text/html\r\n\r\n<html>hello</html>";
  script_case(html, strlen(html), NULL, 0, false, SCRIPT " from ");
}

/* ---- resources ----------------------------------------------------------------------------------
 */

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  const struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

/* A batch of polls of every kind, healthy and failing, with reused poll structs as the plugin
 * keeps them: no socket stays open. */
static void test_no_fd_leak(void **state) {
  (void)state;
  int before = count_fds();
  peer_t *p = new_peer();
  int good = listen_unix(p, "good.sock");
  int hung = listen_unix(p, "hung.sock");
  int e500 = listen_unix(p, "500.sock");
  int cut = listen_unix(p, "cut.sock");
  int big = listen_unix(p, "big.sock");
  int slow_ping = listen_unix(p, "slowping.sock");
  int tcp = peer_listen_tcp(p);
  assert_true(tcp >= 0);
  peer_rule(p, NULL, NULL, PEER_HANG, NULL, 0)->listener = hung;
  peer_rule(p, NULL, NULL, PEER_REPLY, status_500, strlen(status_500))->listener = e500;
  peer_rule_t *r = peer_rule(p, "/status", NULL, PEER_RAW, full_wire.data, full_wire.len);
  r->listener = cut;
  r->cut_at = 100;
  peer_rule(p, "/status", NULL, PEER_RAW, full_wire.data, full_wire.len)->listener = big;
  peer_rule(p, "/ping", NULL, PEER_HANG, NULL, 0)->listener = slow_ping;
  rules_healthy(p);
  start(p);

  enum { N = 9 };
  fcgx_pool_config_t cfg[N];
  fcgx_pool_poll_t polls[N];
  char missing[200];
  snprintf(missing, sizeof(missing), "%s/missing.sock", p->dir);
  config_unix(&cfg[0], peer_path(p, good));
  config_unix(&cfg[1], peer_path(p, hung));
  config_unix(&cfg[2], peer_path(p, e500));
  config_unix(&cfg[3], peer_path(p, cut));
  config_unix(&cfg[4], peer_path(p, big));
  config_unix(&cfg[5], peer_path(p, slow_ping));
  config_unix(&cfg[6], missing);
  config_tcp(&cfg[7], peer_port(p, tcp));
  config_tcp(&cfg[8], free_tcp_port());
  cfg[4].max_reply = 100;
  cfg[7].has_status_addr = true;
  cfg[7].status_addr = cfg[7].addr;
  memset(polls, 0, sizeof(polls));
  for (int i = 0; i < N; i++) {
    cfg[i].timeout_ms = 150;
    fcgx_pool_poll_init(&polls[i], &cfg[i]);
  }
  for (int round = 0; round < 3; round++) {
    fcgx_pools_poll(polls, N);
    assert_true(polls[0].result.up);
    assert_true(polls[7].result.up);
    for (int i = 1; i < 7; i++)
      if (polls[i].result.up)
        fail_msg("pool %d is up", i);
    assert_false(polls[8].result.up);
    for (int i = 0; i < N; i++)
      fcgx_pool_poll_release(&polls[i]);
  }
  /* Each pool alone too (an fd opened and ended in the same loop). */
  for (int i = 0; i < N; i++) {
    fcgx_pool_poll_t one;
    poll_one(&cfg[i], &one);
  }
  free_peer(NULL);
  assert_int_equal(count_fds(), before);
}

/* Releasing a poll that was never run, or twice, is harmless and closes nothing of others. */
static void test_release_idle_poll(void **state) {
  (void)state;
  int before = count_fds();
  fcgx_pool_config_t cfg;
  config_unix(&cfg, "/nonexistent/www.sock");
  fcgx_pool_poll_t poll;
  fcgx_pool_poll_init(&poll, &cfg);
  int fd = dup(0);
  assert_true(fd >= 0);
  fcgx_pool_poll_release(&poll);
  fcgx_pool_poll_release(&poll);
  /* fd 0 and our dup are still open. */
  assert_int_equal(fcntl(0, F_GETFD) >= 0, 1);
  assert_int_equal(fcntl(fd, F_GETFD) >= 0, 1);
  close(fd);
  assert_int_equal(count_fds(), before);
}

#define TEST(f) cmocka_unit_test_teardown(f, free_peer)

int main(void) {
  const struct CMUnitTest tests[] = {
      TEST(test_healthy_unix),
      TEST(test_healthy_tcp),
      TEST(test_poll_struct_reused),
      TEST(test_order_own_socket),
      TEST(test_order_status_addr),
      TEST(test_order_ondemand_one_at_a_time),
      TEST(test_status_500_then_200),
      TEST(test_status_503_then_200),
      TEST(test_status_500_twice),
      TEST(test_status_503_twice),
      TEST(test_status_500_then_200_status_addr),
      TEST(test_status_500_twice_status_addr),
      TEST(test_status_404_not_retried),
      TEST(test_full_json_fallback),
      TEST(test_plain_json_invalid_too),
      TEST(test_no_process_details),
      TEST(test_ping_wrong_body),
      TEST(test_ping_body_not_exact),
      TEST(test_ping_custom_response),
      TEST(test_ping_off),
      TEST(test_opcache_off),
      TEST(test_missing_unix_socket),
      TEST(test_stale_unix_socket),
      TEST(test_refused_tcp),
      TEST(test_each_request_has_its_own_connect_cursor),
      TEST(test_error_kinds),
      TEST(test_socket_inside_a_root),
      TEST(test_unresolvable_host),
      TEST(test_hung_peer),
      TEST(test_hung_beside_healthy),
      TEST(test_connections_bounded),
      TEST(test_pools_past_the_end_skipped),
      TEST(test_own_requests_counted),
      TEST(test_out_of_descriptors_skipped),
      TEST(test_followers_share_deadline),
      TEST(test_many_pools_concurrent),
      TEST(test_slow_drip),
      TEST(test_retry_fails_at_once),
      TEST(test_followers_fail_at_once),
      TEST(test_reply_without_close),
      TEST(test_reply_in_pieces),
      TEST(test_big_reply_and_cap),
      TEST(test_unix_listen_queue_full),
      TEST(test_tcp_no_connection),
      TEST(test_reply_over_cap),
      TEST(test_wrong_request_id),
      TEST(test_wrong_version),
      TEST(test_unexpected_record_type),
      TEST(test_unknown_type_answer),
      TEST(test_garbage),
      TEST(test_overloaded),
      TEST(test_closed_mid_reply),
      TEST(test_closed_without_reply),
      TEST(test_closed_before_end_request),
      TEST(test_status_not_cgi),
      TEST(test_script_404),
      TEST(test_script_403),
      TEST(test_script_not_loaded),
      TEST(test_script_other_500),
      TEST(test_script_bad_json),
      TEST(test_no_fd_leak),
      TEST(test_release_idle_poll),
  };
  return cmocka_run_group_tests(tests, setup_fixtures, teardown_fixtures);
}
