/* Files of another root (a container's, seen through /proc/PID/root) opened as that root's own
 * processes would open them: every symbolic link and ".." resolved inside the root
 * (openat2 RESOLVE_IN_ROOT), so that a link in a container never leads collectd, running as
 * root, to a file of the host. With root "" (our own), plain open(2) and glob(3). */
#ifndef FCGX_ROOTED_H
#define FCGX_ROOTED_H

#include <stddef.h>

/* open(2) of path inside root: an fd, or -1 with errno (EXDEV: a link tried to leave it). */
int rooted_open(const char *root, const char *path, int flags);

/* The same with the root opened once, for a load's thousands of files: rooted_root_open gives
 * ROOTED_OURS for root "" (plain paths), else a descriptor of it, or -1 with errno. */
#define ROOTED_OURS (-100) /* AT_FDCWD */
int rooted_root_open(const char *root);
void rooted_root_close(int root_fd);
int rooted_openat(int root_fd, const char *path, int flags);
/* stat(2) of path inside the root, links followed there as rooted_openat follows them. Returns 0,
 * or -1 with errno. */
struct stat;
int rooted_statat(int root_fd, const char *path, struct stat *st);

/* The regular files (and links to them) whose paths inside root match pattern, sorted, as paths
 * inside root; pattern's wildcards are glob(3)'s. Inside a root other than "", only the last
 * component may hold wildcards. Returns 0 (*n 0 when nothing matches), or -1 with err set;
 * free with rooted_glob_free. */
int rooted_glob(const char *root, const char *pattern, char ***paths, size_t *n, char *err,
                size_t err_size);
int rooted_globat(int root_fd, const char *pattern, char ***paths, size_t *n, char *err,
                  size_t err_size);
void rooted_glob_free(char **paths, size_t n);

#endif
