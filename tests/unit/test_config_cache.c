/* Unit tests for the configuration cache between scans (fpm_config_load_cached, and
 * autodiscover_scan with an autodiscover_cache_t): a shared host's 2,000 pool files load, a rescan
 * of an unchanged host reads none of them, and a change is seen by reading only what changed:
 * a file rewritten, added or removed, a new directory under a wildcard; php-fpm's section carried
 * into and out of included files stays right when only one of them is read again. Every cached
 * result is compared with a load without cache. Prints the cost of a rescan for the issue's
 * 2,000 files, cached and not. */
#include "fake_proc.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "autodiscover.h"
#include "fpm_config.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static void write_at(const char *dir, const char *rel, const char *text) {
  char path[PATH_MAX], parent[PATH_MAX];
  snprintf(path, sizeof(path), "%s%s", dir, rel);
  snprintf(parent, sizeof(parent), "%s", path);
  *strrchr(parent, '/') = '\0';
  mkdir_p(parent);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void remove_at(const char *dir, const char *rel) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s%s", dir, rel);
  assert_int_equal(unlink(path), 0);
}

static void remove_tree(const char *dir) {
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* Waits until what was just written is old enough for the cache to trust its stamps (100 ms; two
 * seconds where the file system keeps whole seconds): until then it is read on every load. */
static void settle(const char *dir) {
  struct stat st;
  assert_int_equal(stat(dir, &st), 0);
  bool whole_seconds = st.st_mtim.tv_nsec == 0 && st.st_ctim.tv_nsec == 0;
  struct timespec wait = {whole_seconds ? 2 : 0, whole_seconds ? 100000000 : 150000000};
  nanosleep(&wait, NULL);
}

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static const fpm_pool_conf_t *pool_named(const fpm_config_t *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_pools; i++)
    if (strcmp(cfg->pools[i].name, name) == 0)
      return &cfg->pools[i];
  return NULL;
}

/* Loads through cache and checks the result is the one a load without cache gives. */
static void load_both(const char *conf, const fpm_config_options_t *opt, fpm_config_cache_t *cache,
                      fpm_config_t *cfg, fpm_config_cache_stats_t *st) {
  char err[1024] = "", plain_err[1024] = "";
  fpm_config_t plain;
  int rc = fpm_config_load_cached(conf, opt, cache, cfg, err, sizeof(err));
  fpm_config_cache_stats(cache, st);
  int plain_rc = fpm_config_load(conf, opt, &plain, plain_err, sizeof(plain_err));
  if (rc != 0)
    fail_msg("cached load: %s", err);
  if (plain_rc != 0)
    fail_msg("plain load: %s", plain_err);
  assert_int_equal(cfg->n_pools, plain.n_pools);
  assert_int_equal(cfg->section, plain.section);
  if (cfg->n_pools > 0 && memcmp(cfg->pools, plain.pools, cfg->n_pools * sizeof(*cfg->pools)) != 0)
    fail_msg("the cached result differs from a load without cache");
  fpm_config_free(&plain);
}

/* A pool file as hosting panels write them, with the comments of Debian's www.conf that make a
 * real one 20 KiB (here some 2 KiB): none of them is kept. */
static void pool_file(char *buf, size_t size, int i, const char *extra) {
  int n =
      snprintf(buf, size,
               "; site %d, written by the panel\n[site%04d]\nuser = site%04d\ngroup = site%04d\n"
               "listen = /run/php/$pool.sock\nlisten.owner = www-data\nlisten.mode = 0660\n"
               "pm = ondemand\npm.max_children = 5\npm.process_idle_timeout = 20s\n"
               "pm.status_path = /status\nphp_admin_value[error_log] = /var/log/$pool.log\n%s",
               i, i, i, i, extra);
  for (int k = 0; n > 0 && (size_t)n + 80 < size && k < 25; k++)
    n += snprintf(buf + n, size - (size_t)n, ";%-70s;\n", " Choose how the process manager...");
}

/* ---- fpm_config_load_cached --------------------------------------------------------------- */

/* 50 pool files in one include glob: a file rewritten, one rewritten with its old mtime put back
 * (rsync -t, cp -p), one added, one removed: each read alone; nothing changed: nothing read. */
static void test_rescan_reads_only_changes(void **state) {
  (void)state;
  char dir[] = "/tmp/fcgx-config-cache-XXXXXX", buf[4096], path[PATH_MAX];
  assert_non_null(mkdtemp(dir));
  fpm_config_options_t opt = {.root = dir};
  write_at(dir, "/etc/php-fpm.conf", "[global]\ninclude = /etc/pool.d/*.conf\n");
  for (int i = 0; i < 50; i++) {
    char rel[64];
    snprintf(rel, sizeof(rel), "/etc/pool.d/site%04d.conf", i);
    pool_file(buf, sizeof(buf), i, "");
    write_at(dir, rel, buf);
  }
  settle(dir);
  fpm_config_cache_t *cache = fpm_config_cache_new();
  assert_non_null(cache);
  fpm_config_t cfg;
  fpm_config_cache_stats_t st;

  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  assert_int_equal(cfg.n_pools, 50);
  assert_int_equal(st.files_read, 51);
  assert_false(st.reused);
  fpm_config_free(&cfg);

  /* nothing changed: 51 stat(2)s, no file read, nothing parsed */
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  assert_true(st.reused);
  assert_int_equal(st.files_read, 0);
  assert_int_equal(st.files_known, 51);
  assert_int_equal(st.globs, 0);
  assert_int_equal(cfg.n_pools, 50);
  assert_string_equal(pool_named(&cfg, "site0007")->listen.path, "/run/php/site0007.sock");
  fpm_config_free(&cfg);

  /* one file rewritten: read alone, the change seen */
  pool_file(buf, sizeof(buf), 7, "pm.max_children = 9\n");
  write_at(dir, "/etc/pool.d/site0007.conf", buf);
  settle(dir);
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  assert_false(st.reused);
  assert_int_equal(st.files_read, 1);
  assert_int_equal(st.files_known, 50);
  assert_int_equal(pool_named(&cfg, "site0007")->max_children, 9);
  fpm_config_free(&cfg);

  /* rewritten to the same size with its mtime put back: its ctime still tells */
  snprintf(path, sizeof(path), "%s/etc/pool.d/site0008.conf", dir);
  struct stat before;
  assert_int_equal(stat(path, &before), 0);
  pool_file(buf, sizeof(buf), 8, "");
  strstr(buf, "pm.max_children = 5")[18] = '6'; /* the same size */
  write_at(dir, "/etc/pool.d/site0008.conf", buf);
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
  struct stat after;
  assert_int_equal(stat(path, &after), 0);
  assert_int_equal(after.st_size, before.st_size);
  assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  settle(dir);
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  assert_int_equal(st.files_read, 1);
  assert_int_equal(pool_named(&cfg, "site0008")->max_children, 6);
  fpm_config_free(&cfg);

  /* a new file in the include directory: listed again, the new file alone read */
  pool_file(buf, sizeof(buf), 50, "");
  write_at(dir, "/etc/pool.d/site0050.conf", buf);
  settle(dir);
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  assert_int_equal(st.files_read, 1);
  assert_int_equal(st.globs, 1);
  assert_int_equal(cfg.n_pools, 51);
  assert_non_null(pool_named(&cfg, "site0050"));
  fpm_config_free(&cfg);
  fpm_config_cache_stats(cache, &st);
  size_t bytes_with_51 = st.bytes;

  /* a file removed: nothing read, its pool gone, and the cache forgets the file */
  remove_at(dir, "/etc/pool.d/site0003.conf");
  settle(dir);
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  assert_int_equal(st.files_read, 0);
  assert_int_equal(cfg.n_pools, 50);
  assert_null(pool_named(&cfg, "site0003"));
  assert_true(st.bytes < bytes_with_51);
  fpm_config_free(&cfg);

  /* and then nothing again */
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  assert_true(st.reused);
  assert_int_equal(st.files_read, 0);
  fpm_config_free(&cfg);

  fpm_config_cache_free(cache);
  remove_tree(dir);
}

/* A file written moments before a load may be written again in the same tick of the file
 * system's clock, leaving its stamp as it was: it is read again until its stamp is old enough. */
static void test_fresh_stamps_not_trusted(void **state) {
  (void)state;
  char dir[] = "/tmp/fcgx-config-cache-XXXXXX";
  assert_non_null(mkdtemp(dir));
  fpm_config_options_t opt = {.root = dir};
  write_at(dir, "/etc/php-fpm.conf", "include = /etc/pool.d/*.conf\n");
  write_at(dir, "/etc/pool.d/a.conf", "[a]\nlisten = /run/a.sock\n");
  settle(dir);
  fpm_config_cache_t *cache = fpm_config_cache_new();
  fpm_config_t cfg;
  fpm_config_cache_stats_t st;
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  fpm_config_free(&cfg);

  struct timespec written;
  clock_gettime(CLOCK_MONOTONIC, &written);
  write_at(dir, "/etc/pool.d/a.conf", "[a]\nlisten = /run/b.sock\n"); /* same size */
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  assert_int_equal(st.files_read, 1);
  assert_string_equal(cfg.pools[0].listen.path, "/run/b.sock");
  fpm_config_free(&cfg);
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st); /* still fresh: read again */
  if (seconds_since(&written) < 0.08) { /* a slow machine may take longer than the window */
    assert_int_equal(st.files_read, 1);
    assert_false(st.reused);
  }
  fpm_config_free(&cfg);
  settle(dir);
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st); /* read once more, now trusted */
  fpm_config_free(&cfg);
  load_both("/etc/php-fpm.conf", &opt, cache, &cfg, &st);
  assert_true(st.reused);
  assert_int_equal(st.files_read, 0);
  fpm_config_free(&cfg);
  fpm_config_cache_free(cache);
  remove_tree(dir);
}

/* The section in force carries into an included file and back out (php-fpm): when only the
 * first included file is read again, the second and the lines after the include still apply to
 * the section it now leaves open. */
static void test_section_carry_over_after_partial_read(void **state) {
  (void)state;
  char dir[] = "/tmp/fcgx-config-cache-XXXXXX";
  assert_non_null(mkdtemp(dir));
  fpm_config_options_t opt = {.root = dir};
  write_at(dir, "/etc/main.conf",
           "[a]\nlisten = /a\ninclude = /etc/inc/*.conf\npm.status_path = /after\n");
  write_at(dir, "/etc/inc/1.conf", "ping.path = /ping-a\n[b]\nlisten = /b\n");
  write_at(dir, "/etc/inc/2.conf", "pm.max_children = 7\npm = ondemand\n");
  settle(dir);
  fpm_config_cache_t *cache = fpm_config_cache_new();
  fpm_config_t cfg;
  fpm_config_cache_stats_t st;
  load_both("/etc/main.conf", &opt, cache, &cfg, &st);
  assert_int_equal(cfg.n_pools, 2);
  assert_string_equal(pool_named(&cfg, "a")->ping_path, "/ping-a");
  assert_int_equal(pool_named(&cfg, "b")->max_children, 7);
  assert_true(pool_named(&cfg, "b")->ondemand);
  assert_string_equal(pool_named(&cfg, "b")->status_path, "/after");
  assert_string_equal(pool_named(&cfg, "a")->status_path, "");
  fpm_config_free(&cfg);

  /* 1.conf now leaves [c] open: 2.conf and main.conf's last line go to c */
  write_at(dir, "/etc/inc/1.conf", "ping.path = /ping-a\n[b]\nlisten = /b\n[c]\nlisten = /c\n");
  settle(dir);
  load_both("/etc/main.conf", &opt, cache, &cfg, &st);
  assert_int_equal(st.files_read, 1);
  assert_int_equal(st.files_known, 2);
  assert_int_equal(cfg.n_pools, 3);
  assert_int_equal(pool_named(&cfg, "b")->max_children, 0);
  assert_false(pool_named(&cfg, "b")->ondemand);
  assert_string_equal(pool_named(&cfg, "b")->status_path, "");
  assert_int_equal(pool_named(&cfg, "c")->max_children, 7);
  assert_true(pool_named(&cfg, "c")->ondemand);
  assert_string_equal(pool_named(&cfg, "c")->status_path, "/after");
  fpm_config_free(&cfg);

  /* back to [global]: the lines after it are not a pool's (php-fpm reads none in [global]) */
  write_at(dir, "/etc/inc/1.conf", "ping.path = /ping-a\n[b]\nlisten = /b\n[global]\n");
  settle(dir);
  load_both("/etc/main.conf", &opt, cache, &cfg, &st);
  assert_int_equal(st.files_read, 1);
  assert_int_equal(cfg.n_pools, 2);
  assert_int_equal(pool_named(&cfg, "b")->max_children, 0);
  assert_string_equal(pool_named(&cfg, "b")->status_path, "");
  fpm_config_free(&cfg);
  fpm_config_cache_free(cache);
  remove_tree(dir);
}

/* A file php-fpm refuses: the error is kept too (the file not read again while it stays as it
 * is); a file that cannot be read is tried again each time. */
static void test_errors(void **state) {
  (void)state;
  char dir[] = "/tmp/fcgx-config-cache-XXXXXX", err[1024], err2[1024];
  assert_non_null(mkdtemp(dir));
  fpm_config_options_t opt = {.root = dir};
  write_at(dir, "/etc/main.conf", "include = /etc/inc/*.conf\n");
  write_at(dir, "/etc/inc/1.conf", "[a]\nlisten = /a\n");
  write_at(dir, "/etc/inc/2.conf", "[b]\nlisten = \"/b\n");
  settle(dir);
  fpm_config_cache_t *cache = fpm_config_cache_new();
  fpm_config_t cfg;
  fpm_config_cache_stats_t st;
  assert_int_equal(fpm_config_load_cached("/etc/main.conf", &opt, cache, &cfg, err, sizeof(err)),
                   -1);
  assert_non_null(strstr(err, "/etc/inc/2.conf:2: listen: unterminated double-quoted string"));
  assert_int_equal(cfg.n_pools, 0);
  assert_int_equal(fpm_config_load_cached("/etc/main.conf", &opt, cache, &cfg, err2, sizeof(err2)),
                   -1);
  assert_string_equal(err, err2);
  fpm_config_cache_stats(cache, &st);
  assert_true(st.reused);
  assert_int_equal(st.files_read, 0);

  write_at(dir, "/etc/inc/2.conf", "[b]\nlisten = \"/b\"\n"); /* fixed */
  settle(dir);
  load_both("/etc/main.conf", &opt, cache, &cfg, &st);
  assert_int_equal(st.files_read, 1);
  assert_int_equal(cfg.n_pools, 2);
  fpm_config_free(&cfg);

  /* the main file gone: an error each time, tried each time */
  remove_at(dir, "/etc/main.conf");
  for (int i = 0; i < 2; i++) {
    assert_int_equal(fpm_config_load_cached("/etc/main.conf", &opt, cache, &cfg, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "cannot open /etc/main.conf"));
    fpm_config_cache_stats(cache, &st);
    assert_false(st.reused);
  }
  /* another configuration through the same cache: nothing of the first is used */
  write_at(dir, "/etc/other.conf", "[o]\nlisten = /o\n");
  load_both("/etc/other.conf", &opt, cache, &cfg, &st);
  assert_int_equal(st.files_read, 1);
  assert_int_equal(cfg.n_pools, 1);
  fpm_config_free(&cfg);
  fpm_config_cache_free(cache);
  remove_tree(dir);
}

/* Wildcards in directories (our own root only; glob(3)): no one directory tells a change, so the
 * pattern is expanded again on every load, and the files still only stat(2)ed. */
static void test_wildcard_directories(void **state) {
  (void)state;
  char dir[] = "/tmp/fcgx-config-cache-XXXXXX", main_conf[PATH_MAX], text[PATH_MAX + 64];
  assert_non_null(mkdtemp(dir));
  snprintf(main_conf, sizeof(main_conf), "%s/php-fpm.conf", dir);
  snprintf(text, sizeof(text), "include = %s/sites/*/pool.conf\n", dir);
  write_at(dir, "/php-fpm.conf", text);
  write_at(dir, "/sites/one/pool.conf", "[one]\nlisten = /one\n");
  settle(dir);
  fpm_config_cache_t *cache = fpm_config_cache_new();
  fpm_config_t cfg;
  fpm_config_cache_stats_t st;
  load_both(main_conf, NULL, cache, &cfg, &st);
  assert_int_equal(cfg.n_pools, 1);
  fpm_config_free(&cfg);
  load_both(main_conf, NULL, cache, &cfg, &st);
  assert_true(st.reused);
  assert_int_equal(st.globs, 1);
  assert_int_equal(st.files_read, 0);
  fpm_config_free(&cfg);
  write_at(dir, "/sites/two/pool.conf", "[two]\nlisten = /two\n");
  settle(dir);
  load_both(main_conf, NULL, cache, &cfg, &st);
  assert_int_equal(st.files_read, 1);
  assert_int_equal(cfg.n_pools, 2);
  fpm_config_free(&cfg);
  fpm_config_cache_free(cache);
  remove_tree(dir);
}

/* ---- AutoDiscover: a shared host's 2,000 pools -------------------------------------------- */

#define N_SITES 2000

/* A fake /proc with one php-fpm master (its files read through its root, as a container's) whose
 * pool.d holds N_SITES pm = ondemand pools, one file each. */
static void build_host(fake_t *f) {
  char target[PATH_MAX], buf[4096];
  snprintf(f->dir, sizeof(f->dir), "/tmp/fcgx-config-cache-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
  link_to(f, "proc/self/ns/mnt", "mnt:[1]");
  put_title(f, 100, "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)");
  put_stat(f, 100, "php-fpm8.2", 1, 10, 5, 5000, 2000, 1);
  link_to(f, "proc/100/exe", "/usr/sbin/php-fpm8.2");
  link_to(f, "proc/100/ns/mnt", "mnt:[1]");
  snprintf(target, sizeof(target), "%s/hostfs", f->dir);
  link_to(f, "proc/100/root", target);
  put_str(f, "hostfs/etc/php/8.2/fpm/php-fpm.conf",
          "[global]\npid = /run/php/php8.2-fpm.pid\ninclude=/etc/php/8.2/fpm/pool.d/*.conf\n");
  for (int i = 0; i < N_SITES; i++) {
    char rel[96];
    snprintf(rel, sizeof(rel), "hostfs/etc/php/8.2/fpm/pool.d/site%04d.conf", i);
    pool_file(buf, sizeof(buf), i, "");
    put_str(f, rel, buf);
  }
}

static int scan(const fake_t *f, autodiscover_cache_t *cache, autodiscover_t *out, double *took) {
  fcgx_pool_config_t defaults;
  fcgx_pool_config_defaults(&defaults);
  char err[512];
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int rc = autodiscover_scan(f->proc, &defaults, NULL, NULL, cache, out, err, sizeof(err));
  if (took != NULL)
    *took = seconds_since(&start);
  if (rc != 0)
    fail_msg("scan: %s", err);
  return rc;
}

static void test_shared_host(void **state) {
  (void)state;
  fake_t f = {{0}, {0}};
  build_host(&f);
  settle(f.dir);
  autodiscover_cache_t cache = {0};
  autodiscover_cache_stats_t st;
  autodiscover_t first, again, plain;
  double full_s, cached_s, plain_s = 1e9;

  scan(&f, &cache, &first, &full_s);
  autodiscover_cache_stats(&cache, &st);
  assert_int_equal(first.n, N_SITES);
  assert_int_equal(st.masters, 1);
  assert_int_equal(st.files_read, N_SITES + 1);
  const discovered_pool_t *p = &first.pools[1234];
  assert_string_equal(p->cfg.name, "site1234");
  assert_true(p->cfg.ondemand);
  assert_int_equal(p->cfg.idle_timeout_s, 20);
  assert_int_equal(p->cfg.max_children, 5);
  size_t bytes = st.bytes;

  /* nothing changed: not one file read, nothing built (the scan before stands) */
  scan(&f, &cache, &again, &cached_s);
  autodiscover_cache_stats(&cache, &st);
  assert_int_equal(st.reused, 1);
  assert_int_equal(st.files_read, 0);
  assert_int_equal(st.files_known, N_SITES + 1);
  assert_true(again.unchanged);
  assert_int_equal(again.n, 0);
  autodiscover_free(&again);
  for (int i = 0; i < 3; i++) { /* the best of three, without cache */
    double took;
    scan(&f, NULL, &plain, &took);
    plain_s = took < plain_s ? took : plain_s;
    assert_true(autodiscover_same(&first, &plain));
    autodiscover_free(&plain);
  }
  for (int i = 0; i < 3; i++) {
    double took;
    scan(&f, &cache, &again, &took);
    cached_s = took < cached_s ? took : cached_s;
    autodiscover_free(&again);
  }
  print_message("rescan of %d pool files: %.1f ms reading all (%d files read), %.1f ms cached "
                "(0 read, %zu stat(2)ed); the first scan %.1f ms; cache %zu bytes (%zu a file)\n",
                N_SITES, plain_s * 1e3, N_SITES + 1, cached_s * 1e3, st.files_known, full_s * 1e3,
                bytes, bytes / (N_SITES + 1));
  assert_true(bytes <= 2u << 20); /* the memory budget: 2 MiB for 2,000 files */

  /* one pool's pm changed, one pool added, one removed: two files read */
  char buf[4096];
  pool_file(buf, sizeof(buf), 1234, "pm = dynamic\n");
  put_str(&f, "hostfs/etc/php/8.2/fpm/pool.d/site1234.conf", buf);
  pool_file(buf, sizeof(buf), N_SITES, "");
  put_str(&f, "hostfs/etc/php/8.2/fpm/pool.d/site2000.conf", buf);
  char gone[PATH_MAX];
  snprintf(gone, sizeof(gone), "%s/hostfs/etc/php/8.2/fpm/pool.d/site0042.conf", f.dir);
  assert_int_equal(unlink(gone), 0);
  settle(f.dir);
  scan(&f, &cache, &again, NULL);
  autodiscover_cache_stats(&cache, &st);
  assert_int_equal(st.files_read, 2);
  assert_int_equal(again.n, N_SITES);
  assert_false(autodiscover_same(&first, &again));
  bool seen_new = false, seen_gone = false;
  for (size_t i = 0; i < again.n; i++) {
    if (strcmp(again.pools[i].cfg.name, "site1234") == 0)
      assert_false(again.pools[i].cfg.ondemand);
    seen_new |= strcmp(again.pools[i].cfg.name, "site2000") == 0;
    seen_gone |= strcmp(again.pools[i].cfg.name, "site0042") == 0;
  }
  assert_true(seen_new);
  assert_false(seen_gone);
  autodiscover_free(&again);
  autodiscover_free(&first);

  /* the master restarted (another start time): its files read afresh; then stopped: forgotten */
  put_stat(&f, 100, "php-fpm8.2", 1, 10, 5, 9000, 2000, 1);
  scan(&f, &cache, &again, NULL);
  autodiscover_cache_stats(&cache, &st);
  assert_int_equal(st.files_read, N_SITES + 1);
  assert_int_equal(cache.n, 1);
  autodiscover_free(&again);
  char proc_dir[PATH_MAX + 32];
  snprintf(proc_dir, sizeof(proc_dir), "rm -rf '%s/100'", f.proc);
  assert_int_equal(system(proc_dir), 0);
  scan(&f, &cache, &again, NULL);
  assert_int_equal(again.n, 0);
  assert_int_equal(cache.n, 0);
  autodiscover_free(&again);
  autodiscover_cache_free(&cache);
  destroy(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rescan_reads_only_changes),
      cmocka_unit_test(test_fresh_stamps_not_trusted),
      cmocka_unit_test(test_section_carry_over_after_partial_read),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_wildcard_directories),
      cmocka_unit_test(test_shared_host),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
