/* Unit tests for fpm_discover: php-fpm masters and workers found in a fake /proc tree built in a
 * temporary directory (titles NUL-padded as php-fpm leaves them, a container's root, a process
 * that vanished, processes that are not php-fpm), then against a real php-fpm 8.2 when run as root:
 * its master, workers, and the exec cookie moving on a reload. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fpm_config.h"
#include "fpm_discover.h"

#include "fake_proc.h"

static void build(fake_t *f) {
  snprintf(f->dir, sizeof(f->dir), "/tmp/fcgx-fake-proc-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
  char target[PATH_MAX];

  link_to(f, "proc/self/ns/mnt", "mnt:[4026531841]");
  link_to(f, "proc/self/ns/net", "net:[4026531840]");
  put_str(f, "proc/sys/x", "not a process\n");
  put_str(f, "proc/0123/stat", "not a pid either\n");

  /* a master on the host, its configuration read through its root (here: a directory) */
  put_title(f, 100, "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)");
  put_stat(f, 100, "php-fpm8.2", 1, 10, 5, 5000, 2000, 140723586480511ULL);
  link_to(f, "proc/100/exe", "/usr/sbin/php-fpm8.2");
  link_to(f, "proc/100/ns/mnt", "mnt:[4026531841]");
  link_to(f, "proc/100/ns/net", "net:[4026531840]");
  snprintf(target, sizeof(target), "%s/hostfs", f->dir);
  link_to(f, "proc/100/root", target);
  put_str(f, "hostfs/etc/php/8.2/fpm/php-fpm.conf",
          "[global]\npid = /run/php/php8.2-fpm.pid\ninclude=/etc/php/8.2/fpm/pool.d/*.conf\n");
  put_str(f, "hostfs/etc/php/8.2/fpm/pool.d/www.conf",
          "[www]\nlisten = /run/php/php8.2-fpm.sock\npm.max_children = 5\n"
          "pm.status_path = /status\n[my pool]\nlisten = 127.0.0.1:9001\n");

  /* its workers; one whose comm holds spaces and parentheses */
  put_title(f, 101, "php-fpm: pool www");
  put_stat(f, 101, "php-fpm8.2", 100, 250, 50, 5001, 1000, 0);
  put_title(f, 102, "php-fpm: pool www");
  put_stat(f, 102, "a) b (c", 100, 1, 2, 5002, 3000, 0);
  put_title(f, 103, "php-fpm: pool my pool");
  put_stat(f, 103, "php-fpm8.2", 100, 0, 0, 5003, 10, 0);
  /* a worker of the same name under another master, and one that vanished (no stat) */
  put_title(f, 104, "php-fpm: pool www");
  put_stat(f, 104, "php-fpm", 200, 0, 0, 6001, 10, 0);
  put_title(f, 105, "php-fpm: pool www");

  /* a master in a container: other namespaces, its file only under its root */
  put_title(f, 200, "php-fpm: master process (/usr/local/etc/php-fpm.conf)");
  put_stat(f, 200, "php-fpm", 150, 0, 0, 6000, 500, 0);
  link_to(f, "proc/200/exe", "/usr/local/sbin/php-fpm");
  link_to(f, "proc/200/ns/mnt", "mnt:[4026532000]");
  link_to(f, "proc/200/ns/net", "net:[4026532001]");
  snprintf(target, sizeof(target), "%s/container", f->dir);
  link_to(f, "proc/200/root", target);
  put_str(f, "container/usr/local/etc/php-fpm.conf",
          "[global]\ninclude=etc/php-fpm.d/*.conf\n"); /* relative: PHP_PREFIX /usr/local */
  put_str(f, "container/usr/local/etc/php-fpm.d/www.conf",
          "[www]\nlisten = 9000\npm.status_path = /status\n");

  /* not php-fpm: a daemon, a kernel thread (empty cmdline), a php-fpm binary not yet titled */
  put(f, "proc/300/cmdline", "/usr/sbin/nginx\0-g\0daemon off;\0", 31);
  put_stat(f, 300, "nginx", 1, 0, 0, 100, 100, 0);
  put(f, "proc/301/cmdline", "", 0);
  put_stat(f, 301, "kthreadd", 0, 0, 0, 1, 0, 0);
  put(f, "proc/302/cmdline", "php-fpm8.2\0-F\0", 14);
  put_stat(f, 302, "php-fpm8.2", 1, 0, 0, 100, 100, 0);

  /* a master that vanished between readdir and reading its stat */
  put_title(f, 400, "php-fpm: master process (/etc/gone.conf)");

  /* a master whose title was cut short, whose root we may not read (no link), same namespaces;
   * and one started with a relative -y */
  put_title(f, 500, "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.c");
  put_stat(f, 500, "php-fpm8.2", 1, 0, 0, 7000, 100, 0);
  link_to(f, "proc/500/ns/mnt", "mnt:[4026531841]");
  link_to(f, "proc/500/ns/net", "net:[4026531840]");
  put_title(f, 501, "php-fpm: master process (conf/fpm (test).conf)");
  put_stat(f, 501, "php-fpm8.2", 1, 0, 0, 7001, 100, 0);
  link_to(f, "proc/501/cwd", "/srv/app");
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_titles(void **state) {
  (void)state;
  char path[64], pool[16];
  bool truncated;
  static const char master[] = "php-fpm: master process (/etc/php-fpm.conf)\0\0\0\0";
  assert_int_equal(
      fpm_parse_master_title(master, sizeof(master) - 1, path, sizeof(path), &truncated), 1);
  assert_string_equal(path, "/etc/php-fpm.conf");
  assert_false(truncated);
  static const char parens[] = "php-fpm: master process (/etc/a (b).conf)";
  assert_int_equal(
      fpm_parse_master_title(parens, sizeof(parens) - 1, path, sizeof(path), &truncated), 1);
  assert_string_equal(path, "/etc/a (b).conf");
  static const char cut[] = "php-fpm: master process (/etc/php-f";
  assert_int_equal(fpm_parse_master_title(cut, sizeof(cut) - 1, path, sizeof(path), &truncated), 1);
  assert_string_equal(path, "/etc/php-f");
  assert_true(truncated);
  assert_int_equal(fpm_parse_master_title(master, sizeof(master) - 1, path, 8, &truncated), 1);
  assert_string_equal(path, "/etc/ph");
  assert_true(truncated);
  /* not masters: workers, other programs, argv still intact, nothing */
  static const char *const others[] = {"php-fpm: pool www", "php-fpm8.2", "php-fpm: master",
                                       "/usr/sbin/php-fpm8.2", ""};
  for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
    assert_int_equal(
        fpm_parse_master_title(others[i], strlen(others[i]), path, sizeof(path), &truncated), 0);
  /* argv-style NULs: only the first string counts */
  static const char argv[] = "php-fpm\0: master process (/x)";
  assert_int_equal(fpm_parse_master_title(argv, sizeof(argv) - 1, path, sizeof(path), &truncated),
                   0);

  static const char worker[] = "php-fpm: pool www\0\0\0";
  assert_int_equal(fpm_parse_worker_title(worker, sizeof(worker) - 1, pool, sizeof(pool)), 1);
  assert_string_equal(pool, "www");
  static const char spaced[] = "php-fpm: pool my pool";
  assert_int_equal(fpm_parse_worker_title(spaced, sizeof(spaced) - 1, pool, sizeof(pool)), 1);
  assert_string_equal(pool, "my pool");
  static const char longer[] = "php-fpm: pool a-very-long-pool-name";
  assert_int_equal(fpm_parse_worker_title(longer, sizeof(longer) - 1, pool, sizeof(pool)), 1);
  assert_string_equal(pool, "a-very-long-poo");
  static const char empty[] = "php-fpm: pool ";
  assert_int_equal(fpm_parse_worker_title(empty, sizeof(empty) - 1, pool, sizeof(pool)), 0);
  assert_int_equal(fpm_parse_worker_title(master, sizeof(master) - 1, pool, sizeof(pool)), 0);
}

static void test_masters(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  build(&f);
  fpm_master_t *m = NULL;
  size_t n = 0;
  char err[256], expected[PATH_MAX];
  assert_int_equal(fpm_discover_masters(f.proc, &m, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 4); /* 100, 200, 500, 501: not 400 (gone), not 302 (untitled) */

  assert_int_equal(m[0].pid, 100);
  assert_string_equal(m[0].conf_path, "/etc/php/8.2/fpm/php-fpm.conf");
  assert_false(m[0].conf_truncated);
  assert_int_equal(m[0].start_ticks, 5000);
  assert_int_equal(m[0].exec_cookie, 140723586480511ULL);
  assert_string_equal(m[0].exe, "/usr/sbin/php-fpm8.2");
  assert_true(m[0].ns_known);
  assert_true(m[0].same_mnt_ns);
  assert_false(m[0].other_net_ns);
  snprintf(expected, sizeof(expected), "%s/100/root", f.proc);
  assert_string_equal(m[0].root, expected);

  assert_int_equal(m[1].pid, 200);
  assert_string_equal(m[1].conf_path, "/usr/local/etc/php-fpm.conf");
  assert_int_equal(m[1].start_ticks, 6000);
  assert_int_equal(m[1].exec_cookie, 0);
  assert_string_equal(m[1].exe, "/usr/local/sbin/php-fpm");
  assert_true(m[1].ns_known);
  assert_false(m[1].same_mnt_ns);
  assert_true(m[1].other_net_ns);
  snprintf(expected, sizeof(expected), "%s/200/root", f.proc);
  assert_string_equal(m[1].root, expected);

  /* truncated, and no root to read through: same mount namespace, so read directly */
  assert_int_equal(m[2].pid, 500);
  assert_string_equal(m[2].conf_path, "/etc/php/8.2/fpm/php-fpm.c");
  assert_true(m[2].conf_truncated);
  assert_string_equal(m[2].root, "");
  assert_string_equal(m[2].exe, "");

  /* relative -y: joined to the master's cwd; namespaces unknown */
  assert_int_equal(m[3].pid, 501);
  assert_string_equal(m[3].conf_path, "/srv/app/conf/fpm (test).conf");
  assert_false(m[3].ns_known);
  assert_false(m[3].same_mnt_ns);
  free(m);

  /* end to end: each master's configuration through its root */
  assert_int_equal(fpm_discover_masters(f.proc, &m, &n, err, sizeof(err)), 0);
  fpm_config_t cfg;
  fpm_config_options_t opt = {.root = m[0].root};
  if (fpm_config_load(m[0].conf_path, &opt, &cfg, err, sizeof(err)) != 0)
    fail_msg("%s", err);
  assert_int_equal(cfg.n_pools, 2);
  assert_string_equal(cfg.pools[0].listen.path, "/run/php/php8.2-fpm.sock");
  assert_string_equal(cfg.pools[0].file, "/etc/php/8.2/fpm/pool.d/www.conf");
  assert_string_equal(cfg.pools[1].name, "my pool");
  fpm_config_free(&cfg);
  /* the official Docker image's php is built with PHP_PREFIX /usr/local */
  fpm_config_options_t docker = {.root = m[1].root, .php_prefix = "/usr/local"};
  if (fpm_config_load(m[1].conf_path, &docker, &cfg, err, sizeof(err)) != 0)
    fail_msg("%s", err);
  assert_int_equal(cfg.n_pools, 1);
  assert_string_equal(cfg.pools[0].file, "/usr/local/etc/php-fpm.d/www.conf");
  assert_string_equal(cfg.pools[0].listen.host, "127.0.0.1");
  fpm_config_free(&cfg);
  free(m);

  assert_int_equal(fpm_discover_masters("/nonexistent-proc", &m, &n, err, sizeof(err)), -1);
  assert_null(m);
  assert_int_equal(n, 0);
  assert_non_null(strstr(err, "cannot read /nonexistent-proc"));
  destroy(&f);
}

static void test_workers(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  build(&f);
  fpm_worker_t *w = NULL;
  size_t n = 0;
  char err[256];
  assert_int_equal(fpm_discover_workers(f.proc, 100, "www", &w, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 2); /* not 104 (another master's), not 105 (gone) */
  assert_int_equal(w[0].pid, 101);
  assert_int_equal(w[1].pid, 102);
  assert_string_equal(w[1].pool, "www");
  free(w);
  assert_int_equal(fpm_discover_workers(f.proc, 100, NULL, &w, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 3);
  assert_string_equal(w[2].pool, "my pool");
  free(w);
  assert_int_equal(fpm_discover_workers(f.proc, 100, "nope", &w, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 0);
  assert_null(w);
  assert_int_equal(fpm_discover_workers(f.proc, 200, NULL, &w, &n, err, sizeof(err)), 0);
  assert_int_equal(n, 1);
  assert_int_equal(w[0].pid, 104);
  free(w);
  assert_int_equal(fpm_discover_workers("/nonexistent-proc", 1, NULL, &w, &n, err, sizeof(err)),
                   -1);

  fpm_proc_usage_t u;
  double tick = (double)sysconf(_SC_CLK_TCK);
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  assert_int_equal(fpm_proc_usage(f.proc, 101, &u), 0);
  assert_true(u.cpu_seconds > 300 / tick - 1e-9 && u.cpu_seconds < 300 / tick + 1e-9);
  assert_int_equal(u.rss_bytes, 1000 * page);
  assert_int_equal(u.start_ticks, 5001);
  assert_int_equal(fpm_proc_usage(f.proc, 102, &u), 0); /* "(a) b (c)" as comm */
  assert_true(u.cpu_seconds > 3 / tick - 1e-9 && u.cpu_seconds < 3 / tick + 1e-9);
  assert_int_equal(u.rss_bytes, 3000 * page);
  assert_int_equal(fpm_proc_usage(f.proc, 105, &u), -1); /* gone */
  assert_int_equal(fpm_proc_usage(f.proc, 999, &u), -1);
  destroy(&f);
}

static void test_malformed_stat(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  fpm_proc_usage_t u;
  snprintf(f.dir, sizeof(f.dir), "/tmp/fcgx-fake-proc-XXXXXX");
  assert_non_null(mkdtemp(f.dir));
  snprintf(f.proc, sizeof(f.proc), "%s/proc", f.dir);
  put_str(&f, "proc/1/stat", "1 no parenthesis S 0\n");
  put_str(&f, "proc/2/stat", "2 (short) S 1 2 3\n");
  put_str(&f, "proc/3/stat", "");
  /* a kernel that ends after field 44: usable, no exec cookie */
  put_str(&f, "proc/4/stat",
          "4 (old) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 99 1000 5 1 2 3 4 5 "
          "0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
  assert_int_equal(fpm_proc_usage(f.proc, 1, &u), -1);
  assert_int_equal(fpm_proc_usage(f.proc, 2, &u), -1);
  assert_int_equal(fpm_proc_usage(f.proc, 3, &u), -1);
  assert_int_equal(fpm_proc_usage(f.proc, 4, &u), 0);
  assert_int_equal(u.start_ticks, 99);
  assert_int_equal(u.rss_bytes, 5 * (uint64_t)sysconf(_SC_PAGESIZE));
  destroy(&f);
}

/* ---- a real php-fpm --------------------------------------------------------------------- */

static const char *php_fpm_binary(void) {
  static const char *const candidates[] = {"/usr/sbin/php-fpm8.2", "/usr/sbin/php-fpm",
                                           "/usr/local/sbin/php-fpm"};
  const char *env = getenv("FCGX_PHP_FPM");
  if (env != NULL && env[0] != '\0')
    return env;
  for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++)
    if (access(candidates[i], X_OK) == 0)
      return candidates[i];
  return NULL;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The master pid's entry, waiting up to 5 s for it and for `want` workers of pool "real". */
static bool wait_for(pid_t pid, size_t want, fpm_master_t *out) {
  char err[256];
  for (int tries = 0; tries < 100; tries++) {
    fpm_master_t *m = NULL;
    fpm_worker_t *w = NULL;
    size_t n = 0, nw = 0;
    bool found = false;
    assert_int_equal(fpm_discover_masters("/proc", &m, &n, err, sizeof(err)), 0);
    for (size_t i = 0; i < n; i++)
      if (m[i].pid == pid) {
        *out = m[i];
        found = true;
      }
    free(m);
    if (found) {
      assert_int_equal(fpm_discover_workers("/proc", pid, "real", &w, &nw, err, sizeof(err)), 0);
      free(w);
      if (nw == want)
        return true;
    }
    sleep_ms(50);
  }
  return false;
}

static void test_real_php_fpm(void **state) {
  (void)state;
  const char *bin = php_fpm_binary();
  if (geteuid() != 0 || bin == NULL) {
    printf("skipped: needs root and php-fpm (FCGX_PHP_FPM)\n");
    skip();
  }
  char dir[] = "/tmp/fcgx-discover-XXXXXX", conf[PATH_MAX], text[1024];
  assert_non_null(mkdtemp(dir));
  assert_int_equal(chmod(dir, 0755), 0);
  snprintf(conf, sizeof(conf), "%s/php-fpm.conf", dir);
  snprintf(text, sizeof(text),
           "[global]\npid = %s/fpm.pid\nerror_log = %s/error.log\n"
           "[real]\nuser = nobody\nlisten = %s/$pool.sock\npm = static\npm.max_children = 2\n"
           "pm.status_path = /status\n",
           dir, dir, dir);
  FILE *fp = fopen(conf, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);

  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    /* php-fpm logs to error_log; before it opens it, and on reload, to stderr */
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
      dup2(null, 1);
      dup2(null, 2);
    }
    execl(bin, bin, "-F", "-y", conf, (char *)NULL);
    _exit(127);
  }
  fpm_master_t m, again;
  bool up = wait_for(pid, 2, &m);
  if (up) {
    char err[512];
    assert_string_equal(m.conf_path, conf);
    assert_false(m.conf_truncated);
    assert_non_null(strstr(m.exe, "php-fpm"));
    assert_true(m.start_ticks > 0);
    assert_true(m.exec_cookie > 0); /* root reads stat fields 45-51 */
    assert_true(m.ns_known && m.same_mnt_ns);

    fpm_config_t cfg;
    fpm_config_options_t opt = {.root = m.root};
    if (fpm_config_load(m.conf_path, &opt, &cfg, err, sizeof(err)) != 0)
      fail_msg("%s", err);
    assert_int_equal(cfg.n_pools, 1);
    snprintf(text, sizeof(text), "%s/real.sock", dir);
    assert_string_equal(cfg.pools[0].listen.path, text);
    assert_int_equal(access(text, F_OK), 0); /* where php-fpm put it */
    fpm_config_free(&cfg);

    fpm_worker_t *w = NULL;
    size_t nw = 0;
    fpm_proc_usage_t u;
    assert_int_equal(fpm_discover_workers("/proc", pid, NULL, &w, &nw, err, sizeof(err)), 0);
    assert_int_equal(nw, 2);
    assert_int_equal(fpm_proc_usage("/proc", w[0].pid, &u), 0);
    assert_true(u.rss_bytes > 1024 * 1024);
    assert_true(u.start_ticks >= m.start_ticks);
    pid_t old_worker = w[0].pid;
    free(w);

    /* A reload re-execs the master: same pid and start time, another exec cookie, new workers. */
    assert_int_equal(kill(pid, SIGUSR2), 0);
    bool reloaded = false;
    for (int tries = 0; tries < 100 && !reloaded; tries++) {
      sleep_ms(50);
      reloaded = wait_for(pid, 2, &again) && again.exec_cookie != m.exec_cookie;
    }
    assert_true(reloaded);
    assert_int_equal(again.start_ticks, m.start_ticks);
    assert_int_equal(fpm_discover_workers("/proc", pid, "real", &w, &nw, err, sizeof(err)), 0);
    for (size_t i = 0; i < nw; i++)
      assert_int_not_equal(w[i].pid, old_worker);
    free(w);
  }
  kill(pid, SIGTERM);
  int status;
  waitpid(pid, &status, 0);
  if (!up) {
    snprintf(text, sizeof(text), "cat %s/error.log", dir);
    assert_int_equal(system(text), 0);
  }
  snprintf(text, sizeof(text), "rm -rf '%s'", dir);
  assert_int_equal(system(text), 0);
  assert_true(up);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_titles),       cmocka_unit_test(test_masters),
      cmocka_unit_test(test_workers),      cmocka_unit_test(test_malformed_stat),
      cmocka_unit_test(test_real_php_fpm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
