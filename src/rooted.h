/* Files of another root (a container's, seen through /proc/PID/root) opened as that root's own
 * processes would open them: every symbolic link and ".." resolved inside the root
 * (openat2 RESOLVE_IN_ROOT), so that a link in a container never leads collectd, running as
 * root, to a file of the host. With root "" (our own), plain open(2) and glob(3). */
#ifndef FCGX_ROOTED_H
#define FCGX_ROOTED_H

#include <stddef.h>

/* open(2) of path inside root: an fd, or -1 with errno (EXDEV: a link tried to leave it). */
int rooted_open(const char *root, const char *path, int flags);

/* The regular files (and links to them) whose paths inside root match pattern, sorted, as paths
 * inside root; pattern's wildcards are glob(3)'s. Inside a root other than "", only the last
 * component may hold wildcards. Returns 0 (*n 0 when nothing matches), or -1 with err set;
 * free with rooted_glob_free. */
int rooted_glob(const char *root, const char *pattern, char ***paths, size_t *n, char *err,
                size_t err_size);
void rooted_glob_free(char **paths, size_t n);

#endif
