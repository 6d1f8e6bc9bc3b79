/* What AutoDiscover's rescan (every 5 s) costs on a shared host: one php-fpm master with N pool
 * files (pm = ondemand, one pool each, ~2 KiB of comments like Debian's www.conf) in one include
 * directory, found through a fake /proc in a temporary directory. Times a scan without the cache
 * (every file read and parsed), the cache's first scan, a rescan with nothing changed, and one
 * after a file changed; counts the files read and the cache's memory.
 *
 *   cc -O2 -std=gnu11 -D_GNU_SOURCE -Isrc -o build/rescan bench/rescan.c build/libfcgx_core.a \
 *     $(pkg-config --libs libcjson) -lm -lpthread
 *   build/rescan [FILES (2000)] [ROUNDS (20)] [--container]
 *
 * --container reads the files through the master's /proc/PID/root (openat2 inside it), as for a
 * container's php-fpm; by default the master shares our root and files are read by plain paths. */
#include "autodiscover.h"
#include "fpm_config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char top[64]; /* the temporary directory */

static void die(const char *what) {
  fprintf(stderr, "rescan: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void mkdirs(const char *path) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof(tmp), "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(tmp, 0755);
      *p = '/';
    }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
    die(tmp);
}

static void put(const char *rel, const char *data, size_t len) {
  char path[PATH_MAX], dir[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", top, rel);
  snprintf(dir, sizeof(dir), "%s", path);
  *strrchr(dir, '/') = '\0';
  mkdirs(dir);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
    die(path);
}

static void link_at(const char *rel, const char *target) {
  char path[PATH_MAX], dir[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", top, rel);
  snprintf(dir, sizeof(dir), "%s", path);
  *strrchr(dir, '/') = '\0';
  mkdirs(dir);
  if (symlink(target, path) != 0)
    die(path);
}

static void pool_file(const char *dir, int i, const char *extra) {
  char rel[PATH_MAX], buf[4096];
  int n = snprintf(buf, sizeof(buf),
                   "; site %d\n[site%05d]\nuser = site%05d\ngroup = site%05d\n"
                   "listen = /run/php/$pool.sock\nlisten.owner = www-data\nlisten.mode = 0660\n"
                   "pm = ondemand\npm.max_children = 5\npm.process_idle_timeout = 20s\n"
                   "pm.status_path = /status\nphp_admin_value[error_log] = /var/log/$pool.log\n%s",
                   i, i, i, i, extra);
  for (int k = 0; k < 25; k++)
    n += snprintf(buf + n, sizeof(buf) - (size_t)n, ";%-70s;\n", " the process manager ...");
  snprintf(rel, sizeof(rel), "%s/site%05d.conf", dir, i);
  put(rel, buf, (size_t)n);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* One scan; its time in ms. */
static double scan(autodiscover_cache_t *cache, size_t expect) {
  fcgx_pool_config_t defaults;
  fcgx_pool_config_defaults(&defaults);
  autodiscover_t out;
  char proc[PATH_MAX + 8], err[512];
  snprintf(proc, sizeof(proc), "%s/proc", top);
  double start = now_s();
  if (autodiscover_scan(proc, &defaults, NULL, NULL, cache, &out, err, sizeof(err)) != 0) {
    fprintf(stderr, "rescan: %s\n", err);
    exit(1);
  }
  double ms = (now_s() - start) * 1e3;
  if (out.n != expect) {
    fprintf(stderr, "rescan: %zu pools found, %zu expected\n%s", out.n, expect,
            out.report ? out.report : "");
    exit(1);
  }
  autodiscover_free(&out);
  return ms;
}

static double median(autodiscover_cache_t *cache, size_t expect, int rounds) {
  double *t = calloc((size_t)rounds, sizeof(double));
  for (int i = 0; i < rounds; i++)
    t[i] = scan(cache, expect);
  qsort(t, (size_t)rounds, sizeof(double), by_value);
  double m = t[rounds / 2];
  free(t);
  return m;
}

int main(int argc, char **argv) {
  int files = 2000, rounds = 20;
  bool container = false;
  for (int i = 1, pos = 0; i < argc; i++) {
    if (strcmp(argv[i], "--container") == 0)
      container = true;
    else if (pos++ == 0)
      files = atoi(argv[i]);
    else
      rounds = atoi(argv[i]);
  }
  if (files < 1 || rounds < 1) {
    fprintf(stderr, "usage: rescan [FILES] [ROUNDS] [--container]\n");
    return 2;
  }
  snprintf(top, sizeof(top), "/tmp/fcgx-bench-rescan-XXXXXX");
  if (mkdtemp(top) == NULL)
    die("mkdtemp");

  /* the fake /proc: one master, trusted (php-fpm binary, our uid), in our mount namespace */
  char title[512], stat_line[512], target[128], conf[256];
  char pool_dir[128], text[512];
  link_at("proc/self/ns/mnt", "mnt:[1]");
  link_at("proc/100/ns/mnt", "mnt:[1]");
  link_at("proc/100/exe", "/usr/sbin/php-fpm8.2");
  /* its files: through its root (a directory of ours standing in for a container's), or ours */
  snprintf(target, sizeof(target), "%s/rootfs", top);
  link_at("proc/100/root", container ? target : "/");
  const char *prefix = container ? "" : target; /* the master's paths */
  snprintf(conf, sizeof(conf), "%s/etc/php/8.2/fpm/php-fpm.conf", prefix);
  snprintf(pool_dir, sizeof(pool_dir), "rootfs/etc/php/8.2/fpm/pool.d");
  int n = snprintf(title, sizeof(title), "php-fpm: master process (%s)", conf);
  memset(title + n, 0, sizeof(title) - (size_t)n);
  put("proc/100/cmdline", title, (size_t)n + 40);
  n = snprintf(stat_line, sizeof(stat_line),
               "100 (php-fpm8.2) S 1 1 1 0 -1 4194624 157 0 0 0 10 5 0 0 20 0 1 0 5000 240427008 "
               "2000 18446744073709551615 1 1 1 0 0 0 0 4096 4 1 0 0 17 1 0 0 0 0 0 1 1 1 1 1 1 1 "
               "0\n");
  put("proc/100/stat", stat_line, (size_t)n);
  n = snprintf(text, sizeof(text),
               "[global]\npid = /run/php/php8.2-fpm.pid\ninclude=%s/etc/php/"
               "8.2/fpm/pool.d/*.conf\n",
               prefix);
  put("rootfs/etc/php/8.2/fpm/php-fpm.conf", text, (size_t)n);
  for (int i = 0; i < files; i++)
    pool_file(pool_dir, i, "");
  struct timespec settle = {0, 200000000}; /* older than the cache's 100 ms trust window */
  nanosleep(&settle, NULL);

  autodiscover_cache_t cache = {0};
  autodiscover_cache_stats_t st;
  double plain = median(NULL, (size_t)files, rounds);
  double first = scan(&cache, (size_t)files);
  autodiscover_cache_stats(&cache, &st);
  size_t first_read = st.files_read, bytes = st.bytes;
  double cached = median(&cache, (size_t)files, rounds);
  autodiscover_cache_stats(&cache, &st);
  size_t cached_read = st.files_read, cached_stat = st.files_known;
  /* one file rewritten before each scan (the median of a few: each waits out the trust window) */
  int changes = rounds < 9 ? rounds : 9;
  double *t = calloc((size_t)changes, sizeof(double));
  size_t changed_read = 0;
  for (int i = 0; i < changes; i++) {
    pool_file(pool_dir, 7, i % 2 ? "pm.max_children = 9\n" : "pm.max_children = 8\n");
    nanosleep(&settle, NULL);
    t[i] = scan(&cache, (size_t)files);
    autodiscover_cache_stats(&cache, &st);
    changed_read = st.files_read;
  }
  qsort(t, (size_t)changes, sizeof(double), by_value);
  double changed = t[changes / 2];
  free(t);

  printf("%d pool files, %s root, median of %d scans (ms):\n", files,
         container ? "a container's (openat2)" : "our", rounds);
  printf("  without cache          %8.2f  (%d files read and parsed)\n", plain, files + 1);
  printf("  cache, first scan      %8.2f  (%zu read)\n", first, first_read);
  printf("  cache, nothing changed %8.2f  (%zu read, %zu stat(2)ed, nothing parsed)\n", cached,
         cached_read, cached_stat);
  printf("  cache, one file changed%8.2f  (%zu read, the rest parsed from kept lines)\n", changed,
         changed_read);
  printf("  cache memory           %zu bytes (%zu per file)\n", bytes, bytes / (size_t)(files + 1));
  autodiscover_cache_free(&cache);
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
  return system(cmd) == 0 ? 0 : 1;
}
