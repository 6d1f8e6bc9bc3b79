/* A php-fpm configuration (php-fpm.conf, its include= globs, [pool] sections) read the way php-fpm
 * 8.x reads it, reduced to what polling needs. fpm_config_t owns its pools: fpm_config_free. */
#ifndef FCGX_FPM_CONFIG_H
#define FCGX_FPM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define FPM_CONFIG_MAX_POOLS 1024
#define FPM_CONFIG_MAX_FILES 256             /* files read, the main one included */
#define FPM_CONFIG_MAX_DEPTH 5               /* php-fpm: "more than 5 files recursively" */
#define FPM_CONFIG_MAX_FILE_SIZE 1048576     /* bytes per file: 1 MiB */
#define FPM_CONFIG_DEFAULT_PHP_PREFIX "/usr" /* PHP_PREFIX of Debian's and most builds */
#define FPM_CONFIG_PATH_SIZE 512

typedef enum { FPM_LISTEN_NONE, FPM_LISTEN_UNIX, FPM_LISTEN_TCP } fpm_listen_kind_t;

/* A listen address (`listen`, `pm.status_listen`) as somewhere to connect to. */
typedef struct {
  fpm_listen_kind_t kind;
  char path[FPM_CONFIG_PATH_SIZE]; /* UNIX: absolute, as the master sees it (its mount namespace) */
  char host[256]; /* TCP: no brackets; "127.0.0.1" for a bare port or 0.0.0.0, "::1" for :: */
  char port[8];   /* TCP: "1".."65535" */
} fpm_listen_t;

typedef struct {
  char name[128];                  /* the section name; collectd's plugin instance limit */
  char file[FPM_CONFIG_PATH_SIZE]; /* where [name] first appeared, as the master sees it */
  int line;
  char listen_raw[FPM_CONFIG_PATH_SIZE]; /* after ${VAR} and $pool; "" when missing */
  fpm_listen_t listen;
  char status_path[256];                        /* "" when the pool has none: nothing to poll */
  char status_listen_raw[FPM_CONFIG_PATH_SIZE]; /* "" when not set */
  fpm_listen_t status_listen;                   /* FPM_LISTEN_NONE when not set */
  char ping_path[256];                          /* "" when ping is off */
  char ping_response[256];                      /* "pong" by default when ping_path is set */
  int max_children;                             /* 0 unknown */
  char prefix[FPM_CONFIG_PATH_SIZE];            /* the pool's prefix, resolved; "" when not set */
  char chroot[FPM_CONFIG_PATH_SIZE]; /* resolved; workers see every script path inside it */
} fpm_pool_conf_t;

typedef struct {
  fpm_pool_conf_t *pools;
  size_t n_pools;
  /* parser state: the pool a key = value line belongs to (-1: [global]); it carries over into and
   * out of included files, as in php-fpm */
  int section;
  size_t pools_cap;
} fpm_config_t;

typedef struct {
  /* php-fpm's -p (--prefix); NULL when not given. A running master's title does not show it. */
  const char *prefix;
  const char *php_prefix; /* the prefix php-fpm was built with; NULL: /usr */
  /* Prepended to every file opened and glob(3)bed, e.g. "/proc/PID/root" to read a master's files
   * as its mount namespace sees them; NULL or "" for none. Paths in the result stay unprefixed. */
  const char *root;
  /* "NAME=value\0..." for ${NAME} in values; NULL: getenv(3). */
  const char *env;
  size_t env_len;
} fpm_config_options_t;

void fpm_config_init(fpm_config_t *cfg);
void fpm_config_free(fpm_config_t *cfg);

/* Called for an include= line with its pattern made absolute (not yet prefixed with root); returns
 * 0, or -1 with err set (the caller adds file:line). */
typedef int (*fpm_config_include_fn)(void *ctx, const char *pattern, char *err, size_t err_size);

/* Parses one file's text into cfg (pure: include= goes to include_fn, NULL ignores it). file_name
 * is how errors name it. Returns 0, or -1 with "FILE:LINE: reason" in err. */
int fpm_config_parse_text(fpm_config_t *cfg, const char *text, size_t len, const char *file_name,
                          const fpm_config_options_t *opt, fpm_config_include_fn include_fn,
                          void *include_ctx, char *err, size_t err_size);

/* What php-fpm does after reading every file: resolves listen and chroot, defaults ping.response
 * and the implicit status path. Returns 0, or -1 with the pool, its file:line and the reason. */
int fpm_config_finish(fpm_config_t *cfg, const fpm_config_options_t *opt, char *err,
                      size_t err_size);

/* Reads conf_path (as the master sees it; opt->root is prepended) and every include, then
 * finishes. opt may be NULL. Returns 0, or -1 with err set and cfg empty. */
int fpm_config_load(const char *conf_path, const fpm_config_options_t *opt, fpm_config_t *cfg,
                    char *err, size_t err_size);

/* php-fpm's listen syntax ("/path", "relative/path", "9000", "host:9000", "[::1]:9000") to an
 * address; relative paths are joined to prefix. Returns 0, or -1 with err set. */
int fpm_listen_parse(const char *raw, const char *prefix, fpm_listen_t *out, char *err,
                     size_t err_size);

#endif
