/* A php-fpm configuration (php-fpm.conf, its include= globs, [pool] sections) read the way php-fpm
 * 8.x reads it, reduced to what polling needs. fpm_config_t owns its pools: fpm_config_free. */
#ifndef FCGX_FPM_CONFIG_H
#define FCGX_FPM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Pools and files grow with the host (a shared host runs thousands of pools, one file each):
 * these two only stop a hostile configuration (a container's, read by collectd as root) from
 * taking collectd's memory and CPU. No real host comes near them: php-fpm needs a socket per
 * pool, so 100,000 pools is past any sane file descriptor limit. */
#define FPM_CONFIG_MAX_POOLS 100000
#define FPM_CONFIG_MAX_FILES 100000          /* files read, the main one included */
#define FPM_CONFIG_MAX_DEPTH 5               /* php-fpm: "more than 5 files recursively" */
#define FPM_CONFIG_MAX_FILE_SIZE 1048576     /* bytes per file: 1 MiB */
#define FPM_CONFIG_DEFAULT_IDLE_TIMEOUT 10   /* php-fpm's pm.process_idle_timeout: 10 s */
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
  /* pm = ondemand (php-fpm has no default for pm: it refuses a pool without one) */
  bool ondemand;
  /* pm.process_idle_timeout in seconds (php-fpm's s, m, h, d suffixes applied), 10 when not
   * set; 0 for a value below 1 s, which php-fpm refuses for an ondemand pool */
  int idle_timeout_s;
  char prefix[FPM_CONFIG_PATH_SIZE]; /* the pool's prefix, resolved; "" when not set */
  char chroot[FPM_CONFIG_PATH_SIZE]; /* resolved; workers see every script path inside it */
} fpm_pool_conf_t;

typedef struct {
  fpm_pool_conf_t *pools;
  size_t n_pools;
  /* parser state: the pool a key = value line belongs to (-1: [global]); it carries over into and
   * out of included files, as in php-fpm */
  int section;
  size_t pools_cap;
  /* parser state: pools by name (case-insensitive, as php-fpm reopens them), so that a
   * thousand sections cost no thousand comparisons each; open addressing, index + 1 */
  size_t *by_name;
  size_t by_name_cap;
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
  /* 0: FPM_CONFIG_MAX_POOLS and FPM_CONFIG_MAX_FILES (tests check the guards with less) */
  size_t max_pools, max_files;
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

/* ---- lines that matter, and a cache of files between loads ------------------------------ */

/* The lines of one file that can change what the parser makes of it, each with its line number:
 * section headers, include=, the keys read, and lines php-fpm refuses; not blanks, comments,
 * nor the many keys we skip (user, php_admin_value[...], ...). A few hundred bytes for a pool
 * file of 20 KiB, and parsed exactly as the whole text (the section in force included). */
typedef struct {
  unsigned char *data; /* records: line number delta and length (LEB128 varints), then bytes */
  size_t len;
} fpm_config_lines_t;

/* Keeps the lines of text that matter. Returns 0, or -1 when out of memory. */
int fpm_config_lines_make(const char *text, size_t len, fpm_config_lines_t *out);
void fpm_config_lines_free(fpm_config_lines_t *lines);
/* As fpm_config_parse_text on the text the lines were made from: the same result, errors and
 * include= calls. */
int fpm_config_parse_lines(fpm_config_t *cfg, const fpm_config_lines_t *lines,
                           const char *file_name, const fpm_config_options_t *opt,
                           fpm_config_include_fn include_fn, void *include_ctx, char *err,
                           size_t err_size);

/* What fpm_config_load_cached keeps of one configuration between loads: each file read with its
 * stamp (device, inode, size, mtime and ctime to the nanosecond, taken inside opt->root) and
 * its lines that matter, each include= directory's stamp, and the last result. Owned by the
 * caller: one per master, freed with fpm_config_cache_free. */
typedef struct fpm_config_cache fpm_config_cache_t;

typedef struct {
  size_t files_read;  /* files opened and read: new, or their stamps changed */
  size_t files_known; /* files whose stamps were taken and matched: not read again */
  size_t globs;       /* include= patterns expanded (their directories listed) */
  bool reused;        /* every stamp unchanged: the previous result was used, nothing parsed */
  size_t bytes;       /* memory the cache holds */
} fpm_config_cache_stats_t;

fpm_config_cache_t *fpm_config_cache_new(void);
void fpm_config_cache_free(fpm_config_cache_t *cache);
/* What the last fpm_config_load_cached did, and the memory held. */
void fpm_config_cache_stats(const fpm_config_cache_t *cache, fpm_config_cache_stats_t *out);

/* fpm_config_load through cache (NULL: none): when no stamp changed since the last load, its
 * result (or its error) again, reading no file; else only the files whose stamps changed are
 * read, the others parsed again from their kept lines, in include order. A stamp younger than
 * 100 ms (2 s on file systems without sub-second times) is not trusted: a write in the same
 * clock tick would not change it, so the file is read again next time. */
int fpm_config_load_cached(const char *conf_path, const fpm_config_options_t *opt,
                           fpm_config_cache_t *cache, fpm_config_t *cfg, char *err,
                           size_t err_size);
/* Whether a load through cache would give its last result again, reading no file: the same
 * configuration and options, and no stamp changed. Only stats. */
bool fpm_config_cache_fresh(fpm_config_cache_t *cache, const char *conf_path,
                            const fpm_config_options_t *opt);

/* php-fpm's listen syntax ("/path", "relative/path", "9000", "host:9000", "[::1]:9000") to an
 * address; relative paths are joined to prefix. Returns 0, or -1 with err set. */
int fpm_listen_parse(const char *raw, const char *prefix, fpm_listen_t *out, char *err,
                     size_t err_size);

#endif
