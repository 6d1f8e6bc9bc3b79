/* A fake /proc tree in a temporary directory, for the unit tests of the code that reads php-fpm
 * masters and workers from /proc. Header-only (static functions), like unit_helpers.h. */
#ifndef FCGX_FAKE_PROC_H
#define FCGX_FAKE_PROC_H

#include "unit_helpers.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a fake /proc ----------------------------------------------------------------------- */

typedef struct {
  char dir[64];  /* the temporary directory */
  char proc[96]; /* dir/proc */
} fake_t;

static inline void mkdir_p(const char *path) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof(tmp), "%s", path);
  for (char *p = tmp + 1; *p != '\0'; p++)
    if (*p == '/') {
      *p = '\0';
      mkdir(tmp, 0755);
      *p = '/';
    }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
    fail_msg("mkdir %s: %s", tmp, strerror(errno));
}

static inline void put(const fake_t *f, const char *rel, const void *data, size_t len) {
  char path[PATH_MAX], dir[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
  snprintf(dir, sizeof(dir), "%s", path);
  *strrchr(dir, '/') = '\0';
  mkdir_p(dir);
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  fclose(fp);
}

static inline void put_str(const fake_t *f, const char *rel, const char *text) {
  put(f, rel, text, strlen(text));
}

static inline void link_to(const fake_t *f, const char *rel, const char *target) {
  char path[PATH_MAX], dir[PATH_MAX];
  snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
  snprintf(dir, sizeof(dir), "%s", path);
  *strrchr(dir, '/') = '\0';
  mkdir_p(dir);
  assert_int_equal(symlink(target, path), 0);
}

/* A title as php-fpm leaves it: the text, then NULs over the rest of the old argv. */
static inline void put_title(const fake_t *f, int pid, const char *title) {
  char rel[64], buf[256];
  memset(buf, 0, sizeof(buf));
  snprintf(buf, sizeof(buf), "%s", title);
  snprintf(rel, sizeof(rel), "proc/%d/cmdline", pid);
  put(f, rel, buf, strlen(title) + 40);
}

/* /proc/PID/stat with the fields we read; the rest are plausible numbers. */
static inline void put_stat(const fake_t *f, int pid, const char *comm, int ppid,
                            unsigned long utime, unsigned long stime, unsigned long long start,
                            unsigned long rss, unsigned long long arg_start) {
  char rel[64], buf[1024];
  snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
  snprintf(buf, sizeof(buf),
           "%d (%s) S %d %d %d 0 -1 4194624 157 0 0 0 %lu %lu 0 0 20 0 1 0 %llu 240427008 %lu "
           "18446744073709551615 94795521683456 94795524918877 140723586475696 0 0 0 0 4096 4 "
           "1 0 0 17 1 0 0 0 0 0 94795525870568 94795526459374 94796277776384 %llu "
           "140723586480564 140723586480564 140723586482147 0\n",
           pid, comm, ppid, ppid, ppid, utime, stime, start, rss, arg_start);
  put_str(f, rel, buf);
}

static inline void destroy(const fake_t *f) {
  char cmd[PATH_MAX];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
}

#endif
