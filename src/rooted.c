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

int rooted_open(const char *root, const char *path, int flags) {
  if (root[0] == '\0')
    return open(path, flags | O_CLOEXEC);
  int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return -1;
  /* RESOLVE_NO_MAGICLINKS: no /proc/self/... inside the root either. */
  struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC),
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
  int saved = errno;
  close(dir);
  errno = saved;
  return fd;
}

static int add_path(char ***paths, size_t *n, const char *path) {
  char **grown = realloc(*paths, (*n + 1) * sizeof(char *));
  if (grown == NULL)
    return -1;
  *paths = grown;
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
  *paths = NULL;
  *n = 0;
  if (root[0] == '\0')
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
  int fd = rooted_open(root, dir_path, O_RDONLY | O_DIRECTORY);
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
    /* What it is once resolved inside the root: a link to a directory is left out too. */
    int file = rooted_open(root, path, O_PATH);
    struct stat st;
    bool regular = file >= 0 && fstat(file, &st) == 0 && !S_ISDIR(st.st_mode);
    if (file >= 0)
      close(file);
    if ((regular || file < 0) && add_path(paths, n, path) != 0) {
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
