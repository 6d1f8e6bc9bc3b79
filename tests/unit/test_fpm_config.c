/* Unit tests for fpm_config: php-fpm configurations read as php-fpm 8.2 reads them. The trees
 * under fixtures/fpm_config are read through opt.root, as discovery reads a master's files; what
 * they must give was checked against `php-fpm8.2 -tt` (see fixtures/fpm_config/README.md). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fpm_config.h"

#define TREE FIXTURES_DIR "/fpm_config"

/* ---- helpers ---------------------------------------------------------------------------- */

static const fpm_pool_conf_t *find_pool(const fpm_config_t *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_pools; i++)
    if (strcmp(cfg->pools[i].name, name) == 0)
      return &cfg->pools[i];
  fail_msg("no pool %s", name);
  return NULL;
}

static void expect_unix(const fpm_listen_t *l, const char *path) {
  assert_int_equal(l->kind, FPM_LISTEN_UNIX);
  assert_string_equal(l->path, path);
}

static void expect_tcp(const fpm_listen_t *l, const char *host, const char *port) {
  assert_int_equal(l->kind, FPM_LISTEN_TCP);
  assert_string_equal(l->host, host);
  assert_string_equal(l->port, port);
}

/* Parses text as one file and finishes; returns what they return, err filled. */
static int parse(const char *text, const fpm_config_options_t *opt, fpm_config_t *cfg, char *err,
                 size_t err_size) {
  fpm_config_init(cfg);
  err[0] = '\0';
  int rc = fpm_config_parse_text(cfg, text, strlen(text), "t.conf", opt, NULL, NULL, err, err_size);
  if (rc == 0)
    rc = fpm_config_finish(cfg, opt, err, err_size);
  return rc;
}

static void parse_ok(const char *text, const fpm_config_options_t *opt, fpm_config_t *cfg) {
  char err[512];
  if (parse(text, opt, cfg, err, sizeof(err)) != 0)
    fail_msg("unexpected error: %s", err);
}

static void check_error(const char *text, const char *expected) {
  fpm_config_t cfg;
  char err[512];
  assert_int_equal(parse(text, NULL, &cfg, err, sizeof(err)), -1);
  if (strstr(err, expected) == NULL)
    fail_msg("error \"%s\" does not contain \"%s\"", err, expected);
  fpm_config_free(&cfg);
}

/* One pool "p" whose pm.status_path is the value given, as the INI parser reads it. */
static void check_value(const char *value, const char *expected) {
  char text[512];
  fpm_config_t cfg;
  static const char env[] = "HOME=/root\0EMPTY=\0SOCKDIR=/run/php\0";
  fpm_config_options_t opt = {.env = env, .env_len = sizeof(env) - 1};
  snprintf(text, sizeof(text), "[p]\nlisten = /a\npm.status_path = %s\n", value);
  parse_ok(text, &opt, &cfg);
  assert_int_equal(cfg.n_pools, 1);
  if (strcmp(cfg.pools[0].status_path, expected) != 0)
    fail_msg("pm.status_path = %s: got \"%s\", expected \"%s\"", value, cfg.pools[0].status_path,
             expected);
  fpm_config_free(&cfg);
}

/* ---- whole trees ------------------------------------------------------------------------ */

/* Debian's stock php-fpm.conf and www.conf, unmodified, next to pools written by hand. */
static void test_debian_layout(void **state) {
  (void)state;
  fpm_config_t cfg;
  char err[512] = "";
  fpm_config_options_t opt = {.root = TREE "/debian"};
  if (fpm_config_load("/etc/php/8.2/fpm/php-fpm.conf", &opt, &cfg, err, sizeof(err)) != 0)
    fail_msg("%s", err);
  assert_int_equal(cfg.n_pools, 8);
  /* glob(3) order: shop.conf, tcp.conf, www.conf */
  static const char *const order[] = {"shop", "api", "any", "v6", "named", "wild4", "wild6", "www"};
  for (size_t i = 0; i < 8; i++)
    assert_string_equal(cfg.pools[i].name, order[i]);

  /* the stock pool: no status page, which the plugin will name */
  const fpm_pool_conf_t *www = find_pool(&cfg, "www");
  assert_string_equal(www->file, "/etc/php/8.2/fpm/pool.d/www.conf");
  assert_int_equal(www->line, 4);
  assert_string_equal(www->listen_raw, "/run/php/php8.2-fpm.sock");
  expect_unix(&www->listen, "/run/php/php8.2-fpm.sock");
  assert_string_equal(www->status_path, "");
  assert_int_equal(www->status_listen.kind, FPM_LISTEN_NONE);
  assert_string_equal(www->ping_path, "");
  assert_string_equal(www->ping_response, "");
  assert_int_equal(www->max_children, 5);
  assert_string_equal(www->chroot, "");

  /* $pool, quotes, comments, case-insensitive keys, php_admin_value ignored, reopened by [SHOP] */
  const fpm_pool_conf_t *shop = find_pool(&cfg, "shop");
  assert_string_equal(shop->file, "/etc/php/8.2/fpm/pool.d/shop.conf");
  assert_int_equal(shop->line, 2);
  expect_unix(&shop->listen, "/run/php/shop.sock");
  assert_string_equal(shop->status_path, "/fpm-status");
  assert_string_equal(shop->ping_path, "/fpm-ping");
  assert_string_equal(shop->ping_response, "pong");
  assert_string_equal(shop->chroot, "/srv/shop");
  assert_int_equal(shop->max_children, 20);
  assert_true(shop->ondemand);
  assert_int_equal(shop->idle_timeout_s, 10);
  assert_false(www->ondemand); /* Debian's stock pool: pm = dynamic */

  const fpm_pool_conf_t *p = find_pool(&cfg, "api");
  expect_tcp(&p->listen, "127.0.0.1", "9001");
  assert_string_equal(p->ping_response, "ok");
  assert_int_equal(p->max_children, 4);
  expect_tcp(&find_pool(&cfg, "any")->listen, "127.0.0.1", "9002");
  p = find_pool(&cfg, "v6");
  expect_tcp(&p->listen, "::1", "9003");
  expect_tcp(&p->status_listen, "127.0.0.1", "9103");
  assert_string_equal(p->status_path, "/status");
  expect_tcp(&find_pool(&cfg, "named")->listen, "localhost", "9004");
  p = find_pool(&cfg, "wild4");
  expect_tcp(&p->listen, "127.0.0.1", "9005");
  expect_unix(&p->status_listen, "/run/php/wild4-status.sock");
  assert_string_equal(p->status_path, "/");
  assert_int_equal(p->max_children, 0);
  p = find_pool(&cfg, "wild6");
  expect_tcp(&p->listen, "::1", "9006");
  assert_string_equal(p->status_path, "");
  assert_int_equal(p->line, 30);
  fpm_config_free(&cfg);
}

/* include, listen, pid and chroot relative to the prefix (-p), not to the including file. */
static void test_relative_paths(void **state) {
  (void)state;
  fpm_config_t cfg;
  char err[1024] = "";
  fpm_config_options_t opt = {.root = TREE "/relative/", .prefix = "/opt/fpm"};
  if (fpm_config_load("/opt/fpm/php-fpm.conf", &opt, &cfg, err, sizeof(err)) != 0)
    fail_msg("%s", err);
  assert_int_equal(cfg.n_pools, 2);
  const fpm_pool_conf_t *app = find_pool(&cfg, "app");
  assert_string_equal(app->file, "/opt/fpm/etc/pool.d/app.conf");
  assert_string_equal(app->prefix, "/opt/app");
  expect_unix(&app->listen, "/opt/app/var/app.sock");
  /* pm.status_listen is a pool of its own in php-fpm: the global prefix, not the pool's */
  expect_unix(&app->status_listen, "/opt/fpm/var/status.sock");
  assert_string_equal(app->chroot, "/opt/app/jail");
  const fpm_pool_conf_t *other = find_pool(&cfg, "other");
  assert_string_equal(other->prefix, "");
  expect_unix(&other->listen, "/opt/fpm/sockets/other.sock");
  assert_string_equal(other->chroot, "/opt/fpm/jail");
  fpm_config_free(&cfg);

  /* Without -p, php-fpm uses PHP_PREFIX (/usr): /usr/etc/pool.d does not exist, and glob(3)
   * with GLOB_ERR fails as in php-fpm ("Unable to globalize"). */
  opt.prefix = NULL;
  assert_int_equal(fpm_config_load("/opt/fpm/php-fpm.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "/opt/fpm/php-fpm.conf:4: include /usr/etc/pool.d/*.conf:"));
  assert_int_equal(cfg.n_pools, 0);
  assert_null(cfg.pools);

  /* a build with another PHP_PREFIX */
  opt.php_prefix = "/opt/fpm";
  if (fpm_config_load("/opt/fpm/php-fpm.conf", &opt, &cfg, err, sizeof(err)) != 0)
    fail_msg("%s", err);
  expect_unix(&find_pool(&cfg, "other")->listen, "/opt/fpm/sockets/other.sock");
  fpm_config_free(&cfg);
}

/* level1 includes level2 ... : the sixth file is one too deep, as in php-fpm. */
static void test_include_depth(void **state) {
  (void)state;
  fpm_config_t cfg;
  char err[2048] = "";
  fpm_config_options_t opt = {.root = TREE "/deep"};
  assert_int_equal(fpm_config_load("/etc/level1.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "/etc/level1.conf:4: include /etc/level2.conf: /etc/level2.conf:4"));
  assert_non_null(strstr(err, "/etc/level6.conf: includes nest more than 5 files deep"));
  /* starting one level lower, all five files are read; level6 includes a missing level7: a
   * pattern without wildcards that matches nothing is, to glob(3) and php-fpm, only a warning */
  if (fpm_config_load("/etc/level2.conf", &opt, &cfg, err, sizeof(err)) != 0)
    fail_msg("%s", err);
  assert_int_equal(cfg.n_pools, 5);
  assert_string_equal(cfg.pools[4].name, "level6");
  fpm_config_free(&cfg);
}

/* ---- the INI syntax --------------------------------------------------------------------- */

static void test_values(void **state) {
  (void)state;
  check_value("/run/php/x.sock", "/run/php/x.sock");
  check_value("/run/php/x.sock ; a comment", "/run/php/x.sock");
  check_value("/run/php/x.sock;", "/run/php/x.sock");
  check_value("\"/run/php/x y.sock\"  ; c", "/run/php/x y.sock");
  check_value("'/run/php/x y.sock'", "/run/php/x y.sock");
  check_value("\"a;b\"", "a;b");
  check_value("'a;b'", "a;b");
  check_value("/a b  c ", "/a b  c");
  check_value("x\ty", "x\ty");
  check_value("\"a\" b \"c\"", "abc");
  check_value("x \"y\"", "xy");
  check_value("\"x\"y", "xy");
  check_value("\"a\\\"b\"", "a\"b");
  check_value("\"a\\\\b\"", "a\\b");
  check_value("\"a\\$b\"", "a$b");
  check_value("\"a\\nb\"", "a\\nb");
  check_value("'a\\nb'", "a\\nb");
  check_value("a\\b", "a\\b");
  check_value("yes", "1");
  check_value("On", "1");
  check_value("TRUE", "1");
  check_value("off", "");
  check_value("none", "");
  check_value("null", "");
  check_value("\"yes\"", "yes");
  check_value("", "");
  check_value("\"\"", "");
  check_value("   ; only a comment", "");
  check_value("${HOME}/x", "/root/x");
  check_value("x ${HOME} y", "x /root y");
  check_value("${SOCKDIR}/$pool.sock", "/run/php/p.sock");
  check_value("\"${HOME}/q\"", "/root/q");
  check_value("'${HOME}/q'", "${HOME}/q");
  check_value("${NOPE}/x", "/x");
  check_value("${NOPE:-/tmp}/x", "/tmp/x");
  check_value("${EMPTY:-/tmp}/x", "/tmp/x");
  check_value("${HOME:-/tmp}/x", "/root/x");
  check_value("$x{y}", "$x{y}");
  check_value("/x#y", "/x#y");
  check_value("127.0.0.1:9000", "127.0.0.1:9000");
  check_value("[::1]:9000", "[::1]:9000");
  check_value("\"/run/$pool/a\"", "/run/p/a");
  check_value("'$pool'", "p");
}

static void test_env_block_edges(void **state) {
  (void)state;
  fpm_config_t cfg;
  /* The last entry not NUL-terminated within env_len: not used. "A" must not match "AB". */
  static const char env[] = "AB=1\0A=2\0C=3";
  fpm_config_options_t opt = {.env = env, .env_len = sizeof(env) - 1};
  parse_ok("[p]\nlisten = /${A}/${AB}/${C}\n", &opt, &cfg);
  assert_string_equal(cfg.pools[0].listen_raw, "/2/1/");
  fpm_config_free(&cfg);
  /* NULL env: the process environment */
  setenv("FCGX_TEST_DIR", "/from/env", 1);
  parse_ok("[p]\nlisten = ${FCGX_TEST_DIR}/s.sock\n", NULL, &cfg);
  expect_unix(&cfg.pools[0].listen, "/from/env/s.sock");
  fpm_config_free(&cfg);
}

static void test_sections_and_keys(void **state) {
  (void)state;
  fpm_config_t cfg;
  parse_ok("; comment\n"
           "  ; indented comment\n"
           "\n"
           "[global]\r\n"
           "pid = /run/a.pid\r\n"
           "error_log = /var/log/x.log\n"
           "unknown.global.key = \"unterminated\n" /* keys we do not read: not looked at */
           "[a] ; trailing comment\n"
           "LISTEN = /run/a.sock\n"
           "listen = /run/a2.sock\n" /* a later value replaces */
           "Pm.Max_Children = 7\n"
           "php_admin_value[error_reporting] = E_ALL & ~E_DEPRECATED\n"
           "php_flag[display_errors] = off\n"
           "env[TMP] = ${NOPE\n"
           "some.future.key = (x) | y\n"
           "access.suppress_path[] = /ping\n"
           "[ spaced name ]\n"
           "listen = 9000\n"
           "[GLOBAL]\n"
           "pid = /run/b.pid\n"
           "[A]\n" /* reopens a */
           "pm.status_path = /s\n"
           "[\"quoted\"]\n"
           "listen = 9001\n",
           NULL, &cfg);
  assert_int_equal(cfg.n_pools, 3);
  assert_string_equal(cfg.pools[0].name, "a");
  assert_int_equal(cfg.pools[0].line, 8);
  expect_unix(&cfg.pools[0].listen, "/run/a2.sock");
  assert_int_equal(cfg.pools[0].max_children, 7);
  assert_string_equal(cfg.pools[0].status_path, "/s");
  assert_string_equal(cfg.pools[1].name, " spaced name ");
  assert_string_equal(cfg.pools[2].name, "quoted");
  fpm_config_free(&cfg);

  /* pm.max_children as php-fpm reads integers: "" is 0, a negative number is refused later */
  parse_ok("[a]\nlisten=/a\npm.max_children =\n[b]\nlisten=/b\npm.max_children = -3\n", NULL, &cfg);
  assert_int_equal(cfg.pools[0].max_children, 0);
  assert_int_equal(cfg.pools[1].max_children, 0);
  fpm_config_free(&cfg);
}

/* pm and pm.process_idle_timeout as php-fpm reads them (fpm_conf_set_pm, fpm_conf_set_time). */
static void test_pm_and_idle_timeout(void **state) {
  (void)state;
  fpm_config_t cfg;
  parse_ok("[a]\nlisten = /a\npm = ondemand\npm.process_idle_timeout = 10s\n"
           "[b]\nlisten = /b\npm = OnDemand\nPM.Process_Idle_Timeout = 2m\n"
           "[c]\nlisten = /c\npm = dynamic\npm.process_idle_timeout = 1h\n"
           "[d]\nlisten = /d\npm = static\npm.process_idle_timeout = 2d\n"
           "[e]\nlisten = /e\npm.process_idle_timeout = 45\n"
           "[f]\nlisten = /f\npm = ondemand\npm.process_idle_timeout = 0s\n"
           "[g]\nlisten = /g\npm.process_idle_timeout = -5\n"
           "[h]\nlisten = /h\npm.process_idle_timeout = 99999999999d\n"
           "[global]\npm = ondemand\n" /* a pool key in [global]: not read */
           "[A]\npm = static\n",       /* reopened: a later value replaces */
           NULL, &cfg);
  static const struct {
    const char *name;
    bool ondemand;
    int idle;
  } want[] = {{"a", false, 10}, {"b", true, 120}, {"c", false, 3600}, {"d", false, 172800},
              {"e", false, 45}, {"f", true, 0},   {"g", false, 0},    {"h", false, 2147472000}};
  assert_int_equal(cfg.n_pools, 8);
  for (size_t i = 0; i < 8; i++) {
    const fpm_pool_conf_t *p = find_pool(&cfg, want[i].name);
    if (p->ondemand != want[i].ondemand || p->idle_timeout_s != want[i].idle)
      fail_msg("[%s]: ondemand %d, idle %d; expected %d, %d", want[i].name, p->ondemand,
               p->idle_timeout_s, want[i].ondemand, want[i].idle);
  }
  fpm_config_free(&cfg);
  /* no pm (php-fpm refuses the pool; not ondemand here) and no timeout: php-fpm's 10 s */
  parse_ok("[a]\nlisten = /a\n", NULL, &cfg);
  assert_false(cfg.pools[0].ondemand);
  assert_int_equal(cfg.pools[0].idle_timeout_s, FPM_CONFIG_DEFAULT_IDLE_TIMEOUT);
  fpm_config_free(&cfg);
  /* what php-fpm itself refuses */
  check_error("[a]\nlisten = /a\npm = lazy\n",
              "t.conf:3: pm: \"lazy\" is an invalid process manager (static, dynamic or ondemand)");
  check_error("[a]\nlisten = /a\npm = off\n", "t.conf:3: pm: \"\" is an invalid process manager");
  check_error("[a]\nlisten = /a\npm.process_idle_timeout =\n",
              "t.conf:3: pm.process_idle_timeout: invalid time value");
  check_error("[a]\nlisten = /a\npm.process_idle_timeout = 10x\n",
              "t.conf:3: pm.process_idle_timeout: unknown suffix used in time value \"10x\"");
}

static void test_syntax_errors(void **state) {
  (void)state;
  check_error("[a]\nlisten = /a\n#comment\n", "t.conf:3: expected key = value");
  check_error("[a]\nbarekey\n", "t.conf:2: expected key = value");
  check_error("[a]\n = x\n", "t.conf:2: '=' without a key");
  check_error("[a\nlisten = /a\n", "t.conf:1: section header without a closing ']'");
  check_error("[a;b]\n", "t.conf:1: section header without a closing ']'");
  check_error("[]\n", "t.conf:1: empty section name");
  check_error("[a]\nlisten = \"/a\n", "t.conf:2: listen: unterminated double-quoted string");
  check_error("[a]\nlisten = '/a\n", "t.conf:2: listen: unterminated single-quoted string");
  check_error("[a]\nlisten = ${HOME\n", "t.conf:2: listen: unterminated ${");
  check_error("[a]\nlisten = ${}\n", "t.conf:2: listen: empty variable name");
  check_error("[a]\nlisten = /status~x\n", "t.conf:2: listen: '~' outside quotes");
  check_error("[a]\nlisten = a=b\n", "t.conf:2: listen: '=' outside quotes");
  check_error("[a]\nlisten = /a\npm.max_children = 3x\n",
              "t.conf:3: pm.max_children: \"3x\" is not a valid number");
  check_error("[a]\nlisten = /a\npm.max_children = 99999999999\n",
              "t.conf:3: pm.max_children: 99999999999 is out of range");
  /* after the files: errors name the pool and where it starts */
  check_error("\n[a]\npm = static\n", "pool a (t.conf:2): no listen address");
  check_error("[a]\nlisten = 127.0.0.1:70000\n",
              "pool a (t.conf:1): invalid port \"70000\" in listen address");
  check_error("[a]\nlisten = /a\npm.status_listen = :9000\n",
              "pool a (t.conf:1): empty host in listen address");
  check_error("[a]\nlisten = /a\nchroot = jail/$prefix\n",
              "pool a (t.conf:1): chroot: $prefix must start the value");
}

static void test_nul_byte(void **state) {
  (void)state;
  static const char text[] = "[a]\nlisten = /a\0b\n";
  fpm_config_t cfg;
  char err[256];
  fpm_config_init(&cfg);
  assert_int_equal(fpm_config_parse_text(&cfg, text, sizeof(text) - 1, "t.conf", NULL, NULL, NULL,
                                         err, sizeof(err)),
                   -1);
  assert_string_equal(err, "t.conf:2: NUL byte in the line");
  fpm_config_free(&cfg);
}

static void test_limits(void **state) {
  (void)state;
  fpm_config_t cfg;
  char err[512];
  /* 5,001 pools: no cap a shared host reaches; a lower guard (the real one is 100,000) stops
   * one past it */
  size_t cap = 5001 * 40, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  for (int i = 0; i < 5001; i++)
    len += (size_t)snprintf(text + len, cap - len, "[p%d]\nlisten = /run/p%d.sock\n", i, i);
  fpm_config_init(&cfg);
  assert_int_equal(
      fpm_config_parse_text(&cfg, text, len, "many.conf", NULL, NULL, NULL, err, sizeof(err)), 0);
  assert_int_equal(cfg.n_pools, 5001);
  assert_string_equal(cfg.pools[5000].name, "p5000");
  fpm_config_free(&cfg);
  fpm_config_options_t guard = {.max_pools = 1024};
  fpm_config_init(&cfg);
  assert_int_equal(
      fpm_config_parse_text(&cfg, text, len, "many.conf", &guard, NULL, NULL, err, sizeof(err)),
      -1);
  assert_string_equal(err, "many.conf:2049: more than 1024 pools");
  assert_int_equal(cfg.n_pools, 1024);
  fpm_config_free(&cfg);
  free(text);

  /* a pool name longer than collectd's plugin instance, a value longer than its field */
  char big[1200];
  memset(big, 'n', 200);
  snprintf(big + 200, sizeof(big) - 200, "]\n");
  char line[1300];
  snprintf(line, sizeof(line), "[%s", big);
  check_error(line, "t.conf:1: pool name \"nnnn");
  memset(big, 'x', 600);
  big[600] = '\0';
  snprintf(line, sizeof(line), "[a]\nlisten = /%s\n", big);
  check_error(line, "t.conf:2: listen: value longer than 511 bytes");
  snprintf(line, sizeof(line), "[a]\nlisten = /a\npm.status_path = /%s\n", big);
  check_error(line, "t.conf:3: pm.status_path: value longer than 255 bytes");
  /* $pool expanding past the field */
  memset(big, 'p', 120);
  big[120] = '\0';
  snprintf(line, sizeof(line), "[%s]\nlisten = /$pool/$pool/$pool/$pool/$pool\n", big);
  check_error(line, "t.conf:2: listen: value longer than 511 bytes");
}

static void test_listen_forms(void **state) {
  (void)state;
  fpm_listen_t l;
  char err[256];
  static const struct {
    const char *raw, *host, *port, *path;
  } ok[] = {
      {"/run/php/www.sock", NULL, NULL, "/run/php/www.sock"},
      {"www.sock", NULL, NULL, "/usr/www.sock"},
      {"run/www.sock", NULL, NULL, "/usr/run/www.sock"},
      {"9000", "127.0.0.1", "9000", NULL},
      {"127.0.0.1:9000", "127.0.0.1", "9000", NULL},
      {"0.0.0.0:9000", "127.0.0.1", "9000", NULL},
      {"[::1]:9000", "::1", "9000", NULL},
      {"[::]:9000", "::1", "9000", NULL},
      {"::1:9000", "::1", "9000", NULL}, /* php-fpm splits at the last ':' */
      {"localhost:9000", "localhost", "9000", NULL},
      {"10.1.2.3:65535", "10.1.2.3", "65535", NULL},
      {"fpm.example:1", "fpm.example", "1", NULL},
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    if (fpm_listen_parse(ok[i].raw, "/usr", &l, err, sizeof(err)) != 0)
      fail_msg("%s: %s", ok[i].raw, err);
    if (ok[i].path != NULL)
      expect_unix(&l, ok[i].path);
    else
      expect_tcp(&l, ok[i].host, ok[i].port);
  }
  assert_int_equal(fpm_listen_parse("a.sock", "/opt/", &l, err, sizeof(err)), 0);
  expect_unix(&l, "/opt/a.sock");
  static const struct {
    const char *raw, *why;
  } bad[] = {
      {"", "empty listen address"},
      {"0", "invalid port \"0\""},
      {"65536", "invalid port \"65536\""},
      {"127.0.0.1:", "invalid port \"\""},
      {"127.0.0.1:90x", "invalid port \"90x\""},
      {"127.0.0.1:-1", "invalid port \"-1\""},
      {"/run/php:x.sock", "invalid port \"x.sock\""}, /* a ':' makes it TCP, as in php-fpm */
      {":9000", "empty host"},
      {"[]:9000", "empty host"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(fpm_listen_parse(bad[i].raw, "/usr", &l, err, sizeof(err)), -1);
    if (strstr(err, bad[i].why) == NULL)
      fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].raw, err, bad[i].why);
  }
  char longpath[600];
  memset(longpath, 'a', sizeof(longpath) - 1);
  longpath[sizeof(longpath) - 1] = '\0';
  assert_int_equal(fpm_listen_parse(longpath, "/usr", &l, err, sizeof(err)), -1);
}

/* ---- include= through the pure parser --------------------------------------------------- */

typedef struct {
  fpm_config_t *cfg;
  const fpm_config_options_t *opt;
  char patterns[4][256];
  int n;
  const char *text; /* what the included "file" holds */
  bool fail;
} include_rec_t;

static int record_include(void *ctx, const char *pattern, char *err, size_t err_size) {
  include_rec_t *rec = ctx;
  if (rec->fail) {
    snprintf(err, err_size, "refused");
    return -1;
  }
  snprintf(rec->patterns[rec->n++ % 4], sizeof(rec->patterns[0]), "%s", pattern);
  if (rec->text == NULL)
    return 0;
  return fpm_config_parse_text(rec->cfg, rec->text, strlen(rec->text), "inc.conf", rec->opt, NULL,
                               NULL, err, err_size);
}

static void test_include_callback(void **state) {
  (void)state;
  fpm_config_t cfg;
  char err[512];
  fpm_config_options_t opt = {.prefix = "/opt/php"};
  include_rec_t rec = {.cfg = &cfg, .opt = &opt};
  static const char text[] = "[global]\n"
                             "include = pool.d/*.conf\n"
                             "include=/abs/*.conf\n"
                             "include = \"${NOPE:-/x}/y.conf\"\n";
  fpm_config_init(&cfg);
  assert_int_equal(fpm_config_parse_text(&cfg, text, strlen(text), "main.conf", &opt,
                                         record_include, &rec, err, sizeof(err)),
                   0);
  assert_int_equal(rec.n, 3);
  assert_string_equal(rec.patterns[0], "/opt/php/pool.d/*.conf");
  assert_string_equal(rec.patterns[1], "/abs/*.conf");
  assert_string_equal(rec.patterns[2], "/x/y.conf");
  fpm_config_free(&cfg);

  /* the section carries into the included file and back out of it (php-fpm's current_wp) */
  static const char outer[] = "[global]\n"
                              "include = /inc.conf\n"
                              "listen = /after-include.sock\n";
  rec.text = "[inner]\npm.max_children = 3\n";
  rec.n = 0;
  fpm_config_init(&cfg);
  assert_int_equal(fpm_config_parse_text(&cfg, outer, strlen(outer), "main.conf", &opt,
                                         record_include, &rec, err, sizeof(err)),
                   0);
  assert_int_equal(fpm_config_finish(&cfg, &opt, err, sizeof(err)), 0);
  assert_int_equal(cfg.n_pools, 1);
  assert_string_equal(cfg.pools[0].file, "inc.conf");
  expect_unix(&cfg.pools[0].listen, "/after-include.sock");
  assert_int_equal(cfg.pools[0].max_children, 3);
  fpm_config_free(&cfg);

  /* errors inside say where they were included from */
  rec.text = "[inner]\nlisten = \"/x\n";
  fpm_config_init(&cfg);
  assert_int_equal(fpm_config_parse_text(&cfg, outer, strlen(outer), "main.conf", &opt,
                                         record_include, &rec, err, sizeof(err)),
                   -1);
  assert_string_equal(err, "main.conf:2: include /inc.conf: inc.conf:2: listen: unterminated "
                           "double-quoted string");
  fpm_config_free(&cfg);
  rec.fail = true;
  fpm_config_init(&cfg);
  assert_int_equal(fpm_config_parse_text(&cfg, outer, strlen(outer), "main.conf", &opt,
                                         record_include, &rec, err, sizeof(err)),
                   -1);
  assert_string_equal(err, "main.conf:2: include /inc.conf: refused");
  fpm_config_free(&cfg);
  check_error("include =\n", "t.conf:1: include: empty pattern");
  /* no callback: include lines are only checked */
  parse_ok("include = /nowhere/*.conf\n[a]\nlisten = /a\n", NULL, &cfg);
  fpm_config_free(&cfg);
}

/* ---- files ------------------------------------------------------------------------------ */

static void write_file(const char *dir, const char *name, const char *text) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void remove_tree(const char *dir) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void test_files(void **state) {
  (void)state;
  fpm_config_t cfg;
  char err[1024], path[PATH_MAX];
  char dir[] = "/tmp/fcgx-fpm-config-XXXXXX";
  assert_non_null(mkdtemp(dir));
  fpm_config_options_t opt = {.root = dir};
  snprintf(path, sizeof(path), "%s/d", dir);
  assert_int_equal(mkdir(path, 0755), 0);
  snprintf(path, sizeof(path), "%s/d/pools", dir);
  assert_int_equal(mkdir(path, 0755), 0);

  /* missing file, directory, relative path */
  assert_int_equal(fpm_config_load("/missing.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "cannot open /missing.conf (read as "));
  assert_non_null(strstr(err, "No such file or directory"));
  assert_int_equal(fpm_config_load("/d", &opt, &cfg, err, sizeof(err)), -1);
  assert_string_equal(err, "/d: not a regular file");
  assert_int_equal(fpm_config_load("d/x.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_string_equal(err, "d/x.conf: not an absolute path");

  /* an include that matches nothing: php-fpm only warns */
  write_file(dir, "/d/main.conf", "include=/d/pools/*.conf\n");
  assert_int_equal(fpm_config_load("/d/main.conf", &opt, &cfg, err, sizeof(err)), 0);
  fpm_config_free(&cfg);

  /* more files than the guard (lowered to 256 here; 100,000 by default) */
  for (int i = 0; i < 256; i++) {
    char name[64], text[96];
    snprintf(name, sizeof(name), "/d/pools/p%03d.conf", i);
    snprintf(text, sizeof(text), "[p%d]\nlisten = /run/p%d.sock\n", i, i);
    write_file(dir, name, text);
  }
  opt.max_files = 256;
  assert_int_equal(fpm_config_load("/d/main.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "/d/main.conf:1: include /d/pools/*.conf: /d/pools/p255.conf: more "
                              "than 256 files included"));
  opt.max_files = 0; /* the default: all 257 read */
  assert_int_equal(fpm_config_load("/d/main.conf", &opt, &cfg, err, sizeof(err)), 0);
  assert_int_equal(cfg.n_pools, 256);
  fpm_config_free(&cfg);
  snprintf(path, sizeof(path), "%s/d/pools/p255.conf", dir);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(fpm_config_load("/d/main.conf", &opt, &cfg, err, sizeof(err)), 0);
  assert_int_equal(cfg.n_pools, 255);
  assert_string_equal(cfg.pools[254].name, "p254");
  assert_string_equal(cfg.pools[254].file, "/d/pools/p254.conf");
  fpm_config_free(&cfg);

  /* a file over 1 MiB (comments: only the size matters) */
  snprintf(path, sizeof(path), "%s/d/big.conf", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (int i = 0; i < FPM_CONFIG_MAX_FILE_SIZE / 32; i++)
    fprintf(f, "; %60s\n", "padding");
  fclose(f);
  assert_int_equal(fpm_config_load("/d/big.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_string_equal(err, "/d/big.conf: larger than 1048576 bytes");
  assert_int_equal(truncate(path, FPM_CONFIG_MAX_FILE_SIZE), 0); /* exactly the limit: read */
  write_file(dir, "/d/main.conf", "include = /d/big.conf\n[a]\nlisten = /a\n");
  assert_int_equal(fpm_config_load("/d/main.conf", &opt, &cfg, err, sizeof(err)), 0);
  assert_int_equal(cfg.n_pools, 1);
  fpm_config_free(&cfg);

  /* no root: paths are read as they are */
  snprintf(path, sizeof(path), "%s/d/main.conf", dir);
  write_file(dir, "/d/main.conf", "[a]\nlisten = /a\n");
  assert_int_equal(fpm_config_load(path, NULL, &cfg, err, sizeof(err)), 0);
  assert_string_equal(cfg.pools[0].file, path);
  fpm_config_free(&cfg);
  remove_tree(dir);
}

/* A container's root read through /proc/PID/root: links in it are resolved inside it, as its
 * own processes see them; an absolute link, a "../.." one or a linked directory never leads
 * collectd (root) to a file of the host. */
static void test_links_stay_inside_the_root(void **state) {
  (void)state;
  fpm_config_t cfg;
  char err[1024], path[PATH_MAX], host[] = "/tmp/fcgx-host-XXXXXX";
  char dir[] = "/tmp/fcgx-container-XXXXXX";
  assert_non_null(mkdtemp(dir));
  assert_non_null(mkdtemp(host));
  fpm_config_options_t opt = {.root = dir};
  write_file(host, "/secret.conf", "[stolen]\nlisten = /run/host.sock\n");
  snprintf(path, sizeof(path), "%s/etc", dir);
  assert_int_equal(mkdir(path, 0755), 0);
  snprintf(path, sizeof(path), "%s/etc/pool.d", dir);
  assert_int_equal(mkdir(path, 0755), 0);
  write_file(dir, "/etc/php-fpm.conf", "include=/etc/pool.d/*.conf\n");
  write_file(dir, "/etc/pool.d/www.conf", "[www]\nlisten = /run/www.sock\n");

  /* an absolute link to the host's file: inside the root, that path does not exist */
  char target[PATH_MAX], link[PATH_MAX];
  snprintf(target, sizeof(target), "%s/secret.conf", host);
  snprintf(link, sizeof(link), "%s/etc/pool.d/evil.conf", dir);
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(fpm_config_load("/etc/php-fpm.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "/etc/pool.d/evil.conf"));
  assert_null(strstr(err, "stolen"));
  /* "../../.." stops at the root: the same */
  assert_int_equal(unlink(link), 0);
  snprintf(target, sizeof(target), "../../../../../../../../..%s/secret.conf", host);
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(fpm_config_load("/etc/php-fpm.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "/etc/pool.d/evil.conf"));
  /* a link whose target exists inside the root is read there, as php-fpm reads it */
  write_file(dir, "/etc/inside.conf", "[inside]\nlisten = /run/inside.sock\n");
  assert_int_equal(unlink(link), 0);
  assert_int_equal(symlink("/etc/inside.conf", link), 0);
  assert_int_equal(fpm_config_load("/etc/php-fpm.conf", &opt, &cfg, err, sizeof(err)), 0);
  assert_int_equal(cfg.n_pools, 2);
  assert_non_null(find_pool(&cfg, "inside"));
  fpm_config_free(&cfg);
  /* the main file, and a directory of the pattern, linked to the host's */
  snprintf(link, sizeof(link), "%s/etc/main.conf", dir);
  snprintf(target, sizeof(target), "%s/secret.conf", host);
  assert_int_equal(symlink(target, link), 0);
  assert_int_equal(fpm_config_load("/etc/main.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "cannot open /etc/main.conf"));
  snprintf(link, sizeof(link), "%s/etc/hostdir", dir);
  assert_int_equal(symlink(host, link), 0);
  write_file(dir, "/etc/php-fpm.conf", "include=/etc/hostdir/*.conf\n");
  assert_int_equal(fpm_config_load("/etc/php-fpm.conf", &opt, &cfg, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "include /etc/hostdir/*.conf: a directory in it cannot be read"));
  remove_tree(dir);
  remove_tree(host);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_debian_layout),
      cmocka_unit_test(test_relative_paths),
      cmocka_unit_test(test_include_depth),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_env_block_edges),
      cmocka_unit_test(test_sections_and_keys),
      cmocka_unit_test(test_pm_and_idle_timeout),
      cmocka_unit_test(test_syntax_errors),
      cmocka_unit_test(test_nul_byte),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_listen_forms),
      cmocka_unit_test(test_include_callback),
      cmocka_unit_test(test_files),
      cmocka_unit_test(test_links_stay_inside_the_root),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
