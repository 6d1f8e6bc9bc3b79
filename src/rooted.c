/* Files inside another root; see rooted.h. */
#include "rooted.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdbool.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int rooted_root_open(const char *root) {
  return root[0] == '\0' ? ROOTED_OURS : open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

void rooted_root_close(int root_fd) {
  if (root_fd >= 0)
    close(root_fd);
}

int rooted_openat(int root_fd, const char *path, int flags) {
  if (root_fd == ROOTED_OURS)
    return open(path, flags | O_CLOEXEC);
  /* RESOLVE_NO_MAGICLINKS: no /proc/self/... inside the root either. */
  struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC),
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
}

int rooted_open(const char *root, const char *path, int flags) {
  int dir = rooted_root_open(root);
  if (dir == -1)
    return -1;
  int fd = rooted_openat(dir, path, flags);
  int saved = errno;
  rooted_root_close(dir);
  errno = saved;
  return fd;
}

int rooted_statat(int root_fd, const char *path, struct stat *st) {
  if (root_fd == ROOTED_OURS)
    return stat(path, st);
  int fd = rooted_openat(root_fd, path, O_PATH);
  if (fd < 0)
    return -1;
  int rc = fstat(fd, st);
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int add_path(char ***paths, size_t *n, const char *path) {
  /* room for 8, then doubled at each power of two: a directory of thousands of pool files costs
   * no quadratic copying */
  if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0)) {
    char **grown = realloc(*paths, (*n == 0 ? 8 : *n * 2) * sizeof(char *));
    if (grown == NULL)
      return -1;
    *paths = grown;
  }
  char **grown = *paths;
  if ((grown[*n] = strdup(path)) == NULL)
    return -1;
  (*n)++;
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Our own root: glob(3), directories left out (GLOB_MARK). */
static int own_glob(const char *pattern, char ***paths, size_t *n, char *err, size_t err_size) {
  glob_t g;
  memset(&g, 0, sizeof(g));
  int rc = glob(pattern, GLOB_ERR | GLOB_MARK, NULL, &g);
  if (rc != 0 && rc != GLOB_NOMATCH) {
    snprintf(err, err_size, "%s",
             rc == GLOB_ABORTED ? "a directory in it cannot be read" : "glob(3) failed");
    globfree(&g);
    return -1;
  }
  for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
    size_t len = strlen(g.gl_pathv[i]);
    if (len > 0 && g.gl_pathv[i][len - 1] != '/' && add_path(paths, n, g.gl_pathv[i]) != 0) {
      snprintf(err, err_size, "out of memory");
      rc = -1;
    }
  }
  globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH) {
    rooted_glob_free(*paths, *n);
    *paths = NULL;
    *n = 0;
  }
  return rc == GLOB_NOMATCH ? 0 : rc;
}

int rooted_glob(const char *root, const char *pattern, char ***paths, size_t *n, char *err,
                size_t err_size) {
  int dir = rooted_root_open(root);
  if (dir == -1) {
    *paths = NULL;
    *n = 0;
    snprintf(err, err_size, "a directory in it cannot be read (%s)",
             strerror_r(errno, (char[128]){0}, 128));
    return -1;
  }
  int rc = rooted_globat(dir, pattern, paths, n, err, err_size);
  rooted_root_close(dir);
  return rc;
}

int rooted_globat(int root_fd, const char *pattern, char ***paths, size_t *n, char *err,
                  size_t err_size) {
  *paths = NULL;
  *n = 0;
  if (root_fd == ROOTED_OURS)
    return own_glob(pattern, paths, n, err, err_size);
  const char *slash = strrchr(pattern, '/');
  if (pattern[0] != '/' || slash == NULL) {
    snprintf(err, err_size, "not an absolute pattern");
    return -1;
  }
  char dir_path[4096];
  snprintf(dir_path, sizeof(dir_path), "%.*s", (int)(slash - pattern + 1), pattern);
  if (strpbrk(dir_path, "*?[") != NULL) {
    snprintf(err, err_size, "wildcards in a directory of a container's pattern are not read");
    return -1;
  }
  /* As glob(3) with GLOB_ERR, which php-fpm uses: a directory that cannot be read is an error. */
  int fd = rooted_openat(root_fd, dir_path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) {
    snprintf(err, err_size, "a directory in it cannot be read (%s)",
             errno == EXDEV ? "a link in it leads out of the master's root"
                            : strerror_r(errno, (char[128]){0}, 128));
    return -1;
  }
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    close(fd);
    snprintf(err, err_size, "%s: cannot be read", dir_path);
    return -1;
  }
  int rc = 0;
  const struct dirent *de;
  while (rc == 0 && (de = readdir(dir)) != NULL) {
    if (fnmatch(slash + 1, de->d_name, FNM_PERIOD) != 0)
      continue;
    char path[4096];
    snprintf(path, sizeof(path), "%s%s", dir_path, de->d_name);
    /* What it is once resolved inside the root: a link to a directory is left out too (the
     * entry's own type settles it for a plain file or directory: no lookup for thousands). */
    bool regular = de->d_type == DT_REG, unopened = false;
    if (de->d_type != DT_REG && de->d_type != DT_DIR) {
      int file = rooted_openat(root_fd, path, O_PATH);
      struct stat st;
      regular = file >= 0 && fstat(file, &st) == 0 && !S_ISDIR(st.st_mode);
      unopened = file < 0;
      if (file >= 0)
        close(file);
    }
    if ((regular || unopened) && add_path(paths, n, path) != 0) {
      snprintf(err, err_size, "out of memory");
      rc = -1;
    }
  }
  closedir(dir);
  if (rc != 0) {
    rooted_glob_free(*paths, *n);
    *paths = NULL;
    *n = 0;
  } else if (*n > 1) {
    qsort(*paths, *n, sizeof(char *), by_name);
  }
  return rc;
}

void rooted_glob_free(char **paths, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(paths[i]);
  free(paths);
}
