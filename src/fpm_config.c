/* php-fpm configuration files -> pools; see fpm_config.h.
 *
 * The rules follow php-src sapi/fpm/fpm/fpm_conf.c (8.x):
 * - The file is read line by line and each line goes through PHP's INI parser on its own, so a
 *   quoted value cannot span lines, and line numbers count every line.
 * - Keys are matched case-insensitively, except `include`. A later value replaces an earlier one.
 * - `[global]` (any case) switches back to the global section; a section naming an existing pool
 *   (any case) reopens it; any other starts a pool. The section in force carries over into an
 *   included file and back out of it.
 * - `include = PATTERN` is expanded with glob(3) at once, in sorted order, directories skipped; a
 *   relative pattern is relative to the prefix (-p, else PHP_PREFIX: /usr on Debian), NOT to the
 *   including file's directory. A pattern matching nothing is only a warning. At most 5 files nest.
 * - `$pool` in a pool's string value is the pool's name (php-fpm expands it after the INI parser).
 * - A relative unix `listen` is relative to the pool's `prefix`, else the global prefix;
 *   `pm.status_listen` (a pool of its own in php-fpm) only to the global prefix; `chroot` may start
 *   with `$prefix`. With pm.status_listen and no pm.status_path, the status path is "/".
 * The INI value syntax kept: "double quotes" with \" \\ \$ escapes and ${VAR}, 'single quotes' as
 * is, ${VAR} (and ${VAR:-default}, PHP 8.3), `;` comments, yes/on/true -> "1", no/off/false/none/
 * null -> "". Not kept: PHP constants and the operators | & ^ ~ ! ( ), refused in values we read
 * (php-fpm would evaluate them; no sane listen or path uses them). Keys we do not read, and arrays
 * such as php_admin_value[...], are skipped without looking at their values.
 *
 * A rescan every few seconds must not read thousands of pool files again: fpm_config_cache_t
 * keeps each file's stamp and the few lines of it that matter (fpm_config_lines_t), and the last
 * result; see the end of this file. */
#include "fpm_config.h"

#include "rooted.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VALUE_SIZE 4096 /* longer than any field we keep: the fields check their own size */
#define KEY_SIZE 128    /* longer than any key we read */

void fpm_config_init(fpm_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->section = -1;
}

void fpm_config_free(fpm_config_t *cfg) {
  free(cfg->pools);
  free(cfg->by_name);
  fpm_config_init(cfg);
}

/* ---- names to indexes --------------------------------------------------------------------- */

/* An open-addressing table from a name to the index of the item holding it (slots hold index +
 * 1, 0 is empty; the capacity a power of two, at most half full). Pool names, file paths and
 * include patterns: thousands of each on a shared host, where a list would cost n² compares. */
typedef const char *(*key_of_fn)(const void *items, size_t i);

static uint64_t name_hash(const char *s, bool fold) {
  uint64_t h = 14695981039346656037ULL; /* FNV-1a */
  for (; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (fold && c >= 'A' && c <= 'Z')
      c = (unsigned char)(c - 'A' + 'a');
    h = (h ^ c) * 1099511628211ULL;
  }
  return h;
}

/* The slot holding key, or the empty one where it would go. */
static size_t index_slot(const size_t *slots, size_t cap, const char *key, bool fold,
                         const void *items, key_of_fn key_of) {
  size_t mask = cap - 1;
  for (size_t i = (size_t)name_hash(key, fold) & mask;; i = (i + 1) & mask) {
    if (slots[i] == 0)
      return i;
    const char *other = key_of(items, slots[i] - 1);
    if ((fold ? strcasecmp(other, key) : strcmp(other, key)) == 0)
      return i;
  }
}

/* Makes room for one more than n items, rebuilding from items[0..n) when it grows. */
static int index_reserve(size_t **slots, size_t *cap, size_t n, bool fold, const void *items,
                         key_of_fn key_of) {
  if ((n + 1) * 2 <= *cap)
    return 0;
  size_t grown = *cap < 16 ? 16 : *cap;
  while ((n + 1) * 2 > grown)
    grown *= 2;
  size_t *fresh = calloc(grown, sizeof(*fresh));
  if (fresh == NULL)
    return -1;
  for (size_t i = 0; i < n; i++)
    fresh[index_slot(fresh, grown, key_of(items, i), fold, items, key_of)] = i + 1;
  free(*slots);
  *slots = fresh;
  *cap = grown;
  return 0;
}

static const char *pool_name_at(const void *pools, size_t i) {
  return ((const fpm_pool_conf_t *)pools)[i].name;
}

/* ---- INI values --------------------------------------------------------------------------- */

typedef struct {
  char *buf;
  size_t cap, len;
  bool overflow;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n) {
  if (b->len + n >= b->cap) {
    b->overflow = true;
    n = b->cap - 1 - b->len;
  }
  memcpy(b->buf + b->len, s, n);
  b->len += n;
  b->buf[b->len] = '\0';
}

/* The value of NAME (not NUL-terminated) in opt's environment, or NULL when unset. */
static const char *env_lookup(const fpm_config_options_t *opt, const char *name, size_t name_len) {
  if (opt == NULL || opt->env == NULL) {
    char key[256];
    if (name_len >= sizeof(key))
      return NULL;
    memcpy(key, name, name_len);
    key[name_len] = '\0';
    return getenv(key);
  }
  const char *p = opt->env, *end = opt->env + opt->env_len;
  while (p < end) {
    const char *entry_end = memchr(p, '\0', (size_t)(end - p));
    if (entry_end == NULL)
      entry_end = end; /* an unterminated last entry: its value is cut at env_len below */
    if ((size_t)(entry_end - p) > name_len && memcmp(p, name, name_len) == 0 &&
        p[name_len] == '=') {
      /* env_len may cut the last entry: only a NUL-terminated value is returned */
      return entry_end < end ? p + name_len + 1 : NULL;
    }
    p = entry_end + 1;
  }
  return NULL;
}

/* ${NAME} or ${NAME:-default} starting at s[*i] ("${"); appends the value. */
static int ini_var(const char *s, size_t len, size_t *i, const fpm_config_options_t *opt,
                   sbuf_t *out, char *err, size_t err_size) {
  size_t start = *i + 2, end = start;
  while (end < len && s[end] != '}')
    end++;
  if (end >= len) {
    snprintf(err, err_size, "unterminated ${ (expected '}')");
    return -1;
  }
  if (end == start) {
    snprintf(err, err_size, "empty variable name in ${}");
    return -1;
  }
  size_t name_len = end - start;
  const char *dflt = NULL;
  size_t dflt_len = 0;
  for (size_t k = start; k + 1 < end; k++)
    if (s[k] == ':' && s[k + 1] == '-') {
      name_len = k - start;
      dflt = s + k + 2;
      dflt_len = end - (k + 2);
      break;
    }
  const char *value = env_lookup(opt, s + start, name_len);
  if ((value == NULL || value[0] == '\0') && dflt != NULL)
    sb_put(out, dflt, dflt_len);
  else if (value != NULL)
    sb_put(out, value, strlen(value));
  *i = end + 1;
  return 0;
}

static int ini_quoted(const char *s, size_t len, size_t *i, const fpm_config_options_t *opt,
                      sbuf_t *out, char *err, size_t err_size) {
  char quote = s[*i];
  size_t k = *i + 1;
  while (k < len && s[k] != quote) {
    if (quote == '"' && s[k] == '\\' && k + 1 < len &&
        (s[k + 1] == '"' || s[k + 1] == '\\' || s[k + 1] == '$')) {
      sb_put(out, s + k + 1, 1);
      k += 2;
    } else if (quote == '"' && s[k] == '$' && k + 1 < len && s[k + 1] == '{') {
      if (ini_var(s, len, &k, opt, out, err, err_size) != 0)
        return -1;
    } else {
      sb_put(out, s + k, 1);
      k++;
    }
  }
  if (k >= len) {
    snprintf(err, err_size, "unterminated %s-quoted string", quote == '"' ? "double" : "single");
    return -1;
  }
  *i = k + 1;
  return 0;
}

static bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

static bool ends_raw(const char *s, size_t len, size_t i) {
  char c = s[i];
  return is_blank(c) || c == ';' || c == '"' || c == '\'' || c == '=' ||
         strchr("&|^~!()", c) != NULL || (c == '$' && i + 1 < len && s[i + 1] == '{');
}

/* A value after `=` as PHP's INI scanner (normal mode) reads it, for the syntax listed at the top.
 * Whitespace is kept between unquoted words and variables and dropped at the ends and next to
 * quoted strings. Returns 0 or -1 with the reason in err. */
static int ini_value(const char *s, size_t len, const fpm_config_options_t *opt, char *buf,
                     size_t buf_size, char *err, size_t err_size) {
  enum { T_NONE, T_RAW, T_QUOTED, T_VAR } last = T_NONE;
  sbuf_t out = {buf, buf_size, 0, false};
  const char *ws = NULL, *word = NULL;
  size_t ws_len = 0, word_len = 0, tokens = 0, i = 0;
  buf[0] = '\0';
  while (i < len && s[i] != ';') {
    char c = s[i];
    if (is_blank(c)) {
      size_t start = i;
      while (i < len && is_blank(s[i]))
        i++;
      ws = s + start;
      ws_len = i - start;
      continue;
    }
    if (c == '=' || strchr("&|^~!()", c) != NULL) {
      snprintf(err, err_size, "'%c' outside quotes (PHP's INI parser would take it as %s)", c,
               c == '=' ? "a syntax error" : "an operator; quote the value");
      return -1;
    }
    tokens++;
    bool quoted = c == '"' || c == '\'';
    if (!quoted && (last == T_RAW || last == T_VAR) && ws_len > 0)
      sb_put(&out, ws, ws_len);
    ws_len = 0;
    if (quoted) {
      if (ini_quoted(s, len, &i, opt, &out, err, err_size) != 0)
        return -1;
      last = T_QUOTED;
    } else if (c == '$' && i + 1 < len && s[i + 1] == '{') {
      if (ini_var(s, len, &i, opt, &out, err, err_size) != 0)
        return -1;
      last = T_VAR;
    } else {
      size_t start = i++;
      while (i < len && !ends_raw(s, len, i))
        i++;
      word = s + start;
      word_len = i - start;
      sb_put(&out, word, word_len);
      last = T_RAW;
    }
  }
  if (tokens == 1 && last == T_RAW) {
    static const char *const yes[] = {"true", "on", "yes"};
    static const char *const no[] = {"false", "off", "no", "none", "null"};
    for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++)
      if (word_len == strlen(yes[k]) && strncasecmp(word, yes[k], word_len) == 0)
        snprintf(buf, buf_size, "1");
    for (size_t k = 0; k < sizeof(no) / sizeof(no[0]); k++)
      if (word_len == strlen(no[k]) && strncasecmp(word, no[k], word_len) == 0)
        buf[0] = '\0';
  }
  if (out.overflow) {
    snprintf(err, err_size, "value longer than %zu bytes", buf_size - 1);
    return -1;
  }
  return 0;
}

/* ---- paths -------------------------------------------------------------------------------- */

static const char *global_prefix(const fpm_config_options_t *opt) {
  if (opt != NULL && opt->prefix != NULL && opt->prefix[0] != '\0')
    return opt->prefix;
  if (opt != NULL && opt->php_prefix != NULL && opt->php_prefix[0] != '\0')
    return opt->php_prefix;
  return FPM_CONFIG_DEFAULT_PHP_PREFIX;
}

/* prefix + "/" + path (one slash between), or path itself when absolute. */
static int full_path(const char *path, const char *prefix, char *out, size_t out_size) {
  int n;
  if (path[0] == '/')
    n = snprintf(out, out_size, "%s", path);
  else if (path[0] == '\0')
    n = snprintf(out, out_size, "%s", prefix);
  else {
    size_t plen = strlen(prefix);
    bool slash = plen > 0 && prefix[plen - 1] == '/';
    n = snprintf(out, out_size, "%s%s%s", prefix, slash ? "" : "/", path);
  }
  return n >= 0 && (size_t)n < out_size ? 0 : -1;
}

/* Replaces every "$pool" with the pool's name, in one pass (php-fpm rescans, and would loop
 * forever on a name containing "$pool"). */
static int expand_pool(char *value, size_t size, const char *name) {
  char tmp[VALUE_SIZE];
  sbuf_t out = {tmp, sizeof(tmp), 0, false};
  const char *p = value, *hit;
  tmp[0] = '\0';
  while ((hit = strstr(p, "$pool")) != NULL) {
    sb_put(&out, p, (size_t)(hit - p));
    sb_put(&out, name, strlen(name));
    p = hit + 5;
  }
  sb_put(&out, p, strlen(p));
  if (out.overflow || out.len >= size)
    return -1;
  memcpy(value, tmp, out.len + 1);
  return 0;
}

/* ---- listen ------------------------------------------------------------------------------- */

int fpm_listen_parse(const char *raw, const char *prefix, fpm_listen_t *out, char *err,
                     size_t err_size) {
  memset(out, 0, sizeof(*out));
  if (raw[0] == '\0') {
    snprintf(err, err_size, "empty listen address");
    return -1;
  }
  /* php-fpm's fpm_sockets_domain_from_address: a ':' anywhere, or only digits, is TCP. */
  const char *colon = strrchr(raw, ':');
  if (colon == NULL && strspn(raw, "0123456789") != strlen(raw)) {
    out->kind = FPM_LISTEN_UNIX;
    if (full_path(raw, prefix, out->path, sizeof(out->path)) != 0) {
      snprintf(err, err_size, "socket path longer than %zu bytes", sizeof(out->path) - 1);
      return -1;
    }
    return 0;
  }
  const char *port = colon != NULL ? colon + 1 : raw;
  char *end = NULL;
  errno = 0;
  long number = strtol(port, &end, 10);
  if (port[0] < '0' || port[0] > '9' || *end != '\0' || errno != 0 || number < 1 ||
      number > 65535) {
    snprintf(err, err_size, "invalid port \"%.40s\" in listen address \"%.300s\"", port, raw);
    return -1;
  }
  const char *host = raw;
  size_t host_len = colon != NULL ? (size_t)(colon - raw) : 0;
  if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
    host++;
    host_len -= 2;
  }
  if (colon != NULL && host_len == 0) {
    snprintf(err, err_size, "empty host in listen address \"%.300s\"", raw);
    return -1;
  }
  if (host_len >= sizeof(out->host)) {
    snprintf(err, err_size, "host longer than %zu bytes", sizeof(out->host) - 1);
    return -1;
  }
  out->kind = FPM_LISTEN_TCP;
  memcpy(out->host, host, host_len);
  out->host[host_len] = '\0';
  /* A bare port binds every address (:: dual-stack, else 0.0.0.0): loopback reaches it. */
  if (host_len == 0 || strcmp(out->host, "0.0.0.0") == 0)
    snprintf(out->host, sizeof(out->host), "127.0.0.1");
  else if (strcmp(out->host, "::") == 0)
    snprintf(out->host, sizeof(out->host), "::1");
  snprintf(out->port, sizeof(out->port), "%ld", number);
  return 0;
}

/* ---- lines -------------------------------------------------------------------------------- */

typedef struct {
  fpm_config_t *cfg;
  const fpm_config_options_t *opt;
  const char *file;
  int line;
  char *err;
  size_t err_size;
} line_ctx_t;

static int line_error(const line_ctx_t *lc, const char *what) {
  snprintf(lc->err, lc->err_size, "%s:%d: %s", lc->file, lc->line, what);
  return -1;
}

static int open_section(line_ctx_t *lc, const char *name) {
  fpm_config_t *cfg = lc->cfg;
  if (name[0] == '\0')
    return line_error(lc, "empty section name");
  if (strcasecmp(name, "global") == 0) {
    cfg->section = -1;
    return 0;
  }
  if (index_reserve(&cfg->by_name, &cfg->by_name_cap, cfg->n_pools, true, cfg->pools,
                    pool_name_at) != 0)
    return line_error(lc, "out of memory");
  size_t slot = index_slot(cfg->by_name, cfg->by_name_cap, name, true, cfg->pools, pool_name_at);
  if (cfg->by_name[slot] != 0) {
    cfg->section = (int)(cfg->by_name[slot] - 1);
    return 0;
  }
  size_t max_pools =
      lc->opt != NULL && lc->opt->max_pools > 0 ? lc->opt->max_pools : FPM_CONFIG_MAX_POOLS;
  if (cfg->n_pools >= max_pools) {
    char what[80];
    snprintf(what, sizeof(what), "more than %zu pools", max_pools);
    return line_error(lc, what);
  }
  if (strlen(name) >= sizeof(cfg->pools[0].name)) {
    char what[300];
    snprintf(what, sizeof(what), "pool name \"%.160s...\" longer than %zu bytes", name,
             sizeof(cfg->pools[0].name) - 1);
    return line_error(lc, what);
  }
  if (cfg->n_pools == cfg->pools_cap) {
    size_t cap = cfg->pools_cap == 0 ? 4 : cfg->pools_cap * 2;
    if (cap > max_pools)
      cap = max_pools;
    fpm_pool_conf_t *grown = realloc(cfg->pools, cap * sizeof(*grown));
    if (grown == NULL)
      return line_error(lc, "out of memory");
    cfg->pools = grown;
    cfg->pools_cap = cap;
  }
  fpm_pool_conf_t *pool = &cfg->pools[cfg->n_pools];
  memset(pool, 0, sizeof(*pool));
  snprintf(pool->name, sizeof(pool->name), "%s", name);
  snprintf(pool->file, sizeof(pool->file), "%s", lc->file);
  pool->line = lc->line;
  pool->idle_timeout_s = FPM_CONFIG_DEFAULT_IDLE_TIMEOUT;
  cfg->by_name[slot] = cfg->n_pools + 1;
  cfg->section = (int)cfg->n_pools++;
  return 0;
}

/* A string option: $pool expanded, stored if it fits. */
static int set_string(line_ctx_t *lc, const char *key, const char *value, char *field,
                      size_t size) {
  char tmp[VALUE_SIZE];
  char what[160];
  snprintf(tmp, sizeof(tmp), "%s", value);
  if (lc->cfg->section < 0 && strstr(tmp, "$pool") != NULL) {
    snprintf(what, sizeof(what), "%s: $pool outside a pool section", key);
    return line_error(lc, what);
  }
  if ((lc->cfg->section >= 0 &&
       expand_pool(tmp, sizeof(tmp), lc->cfg->pools[lc->cfg->section].name) != 0) ||
      strlen(tmp) >= size) {
    snprintf(what, sizeof(what), "%s: value longer than %zu bytes", key, size - 1);
    return line_error(lc, what);
  }
  memcpy(field, tmp, strlen(tmp) + 1);
  return 0;
}

/* php-fpm's fpm_conf_set_integer: an optional '-', then digits ("" is 0). */
static int set_integer(line_ctx_t *lc, const char *key, const char *value, int *field) {
  const char *digits = value[0] == '-' ? value + 1 : value;
  char what[200];
  if (strspn(digits, "0123456789") != strlen(digits)) {
    snprintf(what, sizeof(what), "%s: \"%.60s\" is not a valid number", key, value);
    return line_error(lc, what);
  }
  errno = 0;
  long number = strtol(value, NULL, 10);
  if (errno != 0 || number > INT_MAX || number < INT_MIN) {
    snprintf(what, sizeof(what), "%s: %.60s is out of range", key, value);
    return line_error(lc, what);
  }
  *field = number < 1 ? 0 : (int)number; /* php-fpm refuses < 1: unknown here */
  return 0;
}

/* php-fpm's fpm_conf_set_time: a number (read as atoi(3) reads it) with an optional suffix s, m,
 * h or d; refused only when empty or with another suffix, as php-fpm refuses it. */
static int set_time(line_ctx_t *lc, const char *key, const char *value, int *seconds) {
  size_t len = strlen(value);
  char what[200];
  if (len == 0) {
    snprintf(what, sizeof(what), "%s: invalid time value", key);
    return line_error(lc, what);
  }
  long long unit = 1;
  char suffix = value[len - 1];
  if (suffix == 'm')
    unit = 60;
  else if (suffix == 'h')
    unit = 3600;
  else if (suffix == 'd')
    unit = 86400;
  else if (suffix != 's' && (suffix < '0' || suffix > '9')) {
    snprintf(what, sizeof(what), "%s: unknown suffix used in time value \"%.60s\"", key, value);
    return line_error(lc, what);
  }
  errno = 0;
  long long number = strtoll(value, NULL, 10); /* atoi: leading digits, 0 when none */
  if (number < 1)
    *seconds = 0; /* php-fpm refuses it for an ondemand pool: unknown here */
  else if (errno != 0 || number > INT_MAX / unit)
    *seconds = (int)(INT_MAX / unit * unit); /* beyond any timer: as long as an int holds */
  else
    *seconds = (int)(number * unit);
  return 0;
}

/* php-fpm's fpm_conf_set_pm. */
static int set_pm(line_ctx_t *lc, const char *value, bool *ondemand) {
  if (strcasecmp(value, "static") != 0 && strcasecmp(value, "dynamic") != 0 &&
      strcasecmp(value, "ondemand") != 0) {
    char what[200];
    snprintf(what, sizeof(what),
             "pm: \"%.60s\" is an invalid process manager (static, dynamic or ondemand)", value);
    return line_error(lc, what);
  }
  *ondemand = strcasecmp(value, "ondemand") == 0;
  return 0;
}

static int pool_entry(line_ctx_t *lc, const char *key, const char *value) {
  fpm_pool_conf_t *p = &lc->cfg->pools[lc->cfg->section];
  static const struct {
    const char *key;
    size_t offset, size;
  } strings[] = {
      {"listen", offsetof(fpm_pool_conf_t, listen_raw), sizeof(p->listen_raw)},
      {"pm.status_path", offsetof(fpm_pool_conf_t, status_path), sizeof(p->status_path)},
      {"pm.status_listen", offsetof(fpm_pool_conf_t, status_listen_raw),
       sizeof(p->status_listen_raw)},
      {"ping.path", offsetof(fpm_pool_conf_t, ping_path), sizeof(p->ping_path)},
      {"ping.response", offsetof(fpm_pool_conf_t, ping_response), sizeof(p->ping_response)},
      {"prefix", offsetof(fpm_pool_conf_t, prefix), sizeof(p->prefix)},
      {"chroot", offsetof(fpm_pool_conf_t, chroot), sizeof(p->chroot)},
  };
  for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
    if (strcasecmp(key, strings[i].key) == 0)
      return set_string(lc, strings[i].key, value, (char *)p + strings[i].offset, strings[i].size);
  if (strcasecmp(key, "pm.max_children") == 0)
    return set_integer(lc, "pm.max_children", value, &p->max_children);
  if (strcasecmp(key, "pm") == 0)
    return set_pm(lc, value, &p->ondemand);
  if (strcasecmp(key, "pm.process_idle_timeout") == 0)
    return set_time(lc, "pm.process_idle_timeout", value, &p->idle_timeout_s);
  return 0;
}

/* include, or a key pool_entry reads (in a pool's section only: see parse_line). */
static bool is_read_key(const char *key) {
  static const char *const pool_keys[] = {
      "listen", "pm.status_path", "pm.status_listen", "ping.path", "ping.response",
      "prefix", "chroot",         "pm.max_children",  "pm",        "pm.process_idle_timeout"};
  if (strcmp(key, "include") == 0)
    return true;
  for (size_t i = 0; i < sizeof(pool_keys) / sizeof(pool_keys[0]); i++)
    if (strcasecmp(key, pool_keys[i]) == 0)
      return true;
  return false;
}

typedef enum {
  LINE_NOTHING, /* blank, a comment, or a key we skip without looking at its value */
  LINE_REFUSED, /* what php-fpm refuses whatever the section: *why says what */
  LINE_SECTION, /* [name] */
  LINE_KEY,     /* a key we read: key and *value set */
} line_kind_t;

/* What a line is to the parser, s and len trimmed of blanks (and a CRLF file's '\r'). This one
 * function decides for parse_line and for fpm_config_lines_make, so that kept lines are parsed
 * exactly as the whole text would be. */
static line_kind_t line_kind(const char **s, size_t *len, char key[KEY_SIZE], const char **value,
                             const char **why) {
  while (*len > 0 && is_blank(**s)) {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && (is_blank((*s)[*len - 1]) || (*s)[*len - 1] == '\r'))
    (*len)--;
  if (*len == 0 || (*s)[0] == ';')
    return LINE_NOTHING;
  if (memchr(*s, '\0', *len) != NULL) {
    *why = "NUL byte in the line";
    return LINE_REFUSED;
  }
  if ((*s)[0] == '[')
    return LINE_SECTION;
  const char *eq = memchr(*s, '=', *len);
  if (eq == NULL) {
    *why = "expected key = value (php-fpm refuses a key without a value)";
    return LINE_REFUSED;
  }
  size_t key_len = (size_t)(eq - *s);
  while (key_len > 0 && is_blank((*s)[key_len - 1]))
    key_len--;
  if (key_len == 0) {
    *why = "'=' without a key";
    return LINE_REFUSED;
  }
  if (key_len >= KEY_SIZE)
    return LINE_NOTHING; /* no key we read is this long */
  memcpy(key, *s, key_len);
  key[key_len] = '\0';
  /* php_value[...], php_admin_value[...], env[...], access.suppress_path[]: not ours. */
  if (strchr(key, '[') != NULL || !is_read_key(key))
    return LINE_NOTHING;
  *value = eq + 1;
  return LINE_KEY;
}

static int parse_line(line_ctx_t *lc, const char *s, size_t len, fpm_config_include_fn include_fn,
                      void *include_ctx) {
  char value[VALUE_SIZE], why[VALUE_SIZE / 4], key[KEY_SIZE];
  const char *v = NULL, *refused = NULL;
  line_kind_t kind = line_kind(&s, &len, key, &v, &refused);
  if (kind == LINE_NOTHING)
    return 0;
  if (kind == LINE_REFUSED)
    return line_error(lc, refused);

  if (kind == LINE_SECTION) {
    const char *close = memchr(s, ']', len);
    if (close == NULL || memchr(s, ';', (size_t)(close - s)) != NULL)
      return line_error(lc, "section header without a closing ']'");
    size_t name_len = (size_t)(close - s - 1);
    if (memchr(s + 1, '"', name_len) != NULL || memchr(s + 1, '$', name_len) != NULL ||
        memchr(s + 1, '\'', name_len) != NULL) {
      if (ini_value(s + 1, name_len, lc->opt, value, sizeof(value), why, sizeof(why)) != 0)
        return line_error(lc, why);
    } else {
      if (name_len >= sizeof(value))
        return line_error(lc, "section name too long");
      memcpy(value, s + 1, name_len);
      value[name_len] = '\0';
    }
    return open_section(lc, value);
  }

  /* Nothing but include= is read in [global]: a pool key there is not even looked at. */
  bool include = strcmp(key, "include") == 0;
  if (!include && lc->cfg->section < 0)
    return 0;
  if (ini_value(v, len - (size_t)(v - s), lc->opt, value, sizeof(value), why, sizeof(why)) != 0) {
    char what[VALUE_SIZE / 4 + 160];
    snprintf(what, sizeof(what), "%s: %s", key, why);
    return line_error(lc, what);
  }

  if (include) {
    char pattern[VALUE_SIZE];
    if (value[0] == '\0')
      return line_error(lc, "include: empty pattern");
    if (full_path(value, global_prefix(lc->opt), pattern, sizeof(pattern)) != 0)
      return line_error(lc, "include: pattern too long");
    if (include_fn != NULL && include_fn(include_ctx, pattern, why, sizeof(why)) != 0) {
      char what[VALUE_SIZE / 4 + 200];
      snprintf(what, sizeof(what), "include %.150s: %s", pattern, why);
      return line_error(lc, what);
    }
    return 0;
  }
  return pool_entry(lc, key, value);
}

int fpm_config_parse_text(fpm_config_t *cfg, const char *text, size_t len, const char *file_name,
                          const fpm_config_options_t *opt, fpm_config_include_fn include_fn,
                          void *include_ctx, char *err, size_t err_size) {
  line_ctx_t lc = {cfg, opt, file_name, 0, err, err_size};
  size_t pos = 0;
  while (pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t line_len = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
    lc.line++;
    /* The include callback may parse other files into cfg: it sees the same section. */
    if (parse_line(&lc, text + pos, line_len, include_fn, include_ctx) != 0)
      return -1;
    pos += line_len + 1;
  }
  return 0;
}

/* ---- after the last file ------------------------------------------------------------------ */

static int pool_error(const fpm_pool_conf_t *p, const char *what, char *err, size_t err_size) {
  snprintf(err, err_size, "pool %s (%s:%d): %s", p->name, p->file, p->line, what);
  return -1;
}

static int finish_pool(fpm_pool_conf_t *p, const fpm_config_options_t *opt, char *err,
                       size_t err_size) {
  /* zero-filled: a pool is copied whole into the cache, whose packing drops runs of zeros */
  char tmp[FPM_CONFIG_PATH_SIZE] = "", why[512];
  const char *gprefix = global_prefix(opt);
  if (p->prefix[0] != '\0') {
    if (full_path(p->prefix, gprefix, tmp, sizeof(tmp)) != 0)
      return pool_error(p, "prefix too long", err, err_size);
    memcpy(p->prefix, tmp, sizeof(tmp));
  }
  const char *prefix = p->prefix[0] != '\0' ? p->prefix : gprefix;
  if (p->listen_raw[0] == '\0')
    return pool_error(p, "no listen address", err, err_size);
  if (fpm_listen_parse(p->listen_raw, prefix, &p->listen, why, sizeof(why)) != 0)
    return pool_error(p, why, err, err_size);
  if (p->status_listen_raw[0] != '\0') {
    if (fpm_listen_parse(p->status_listen_raw, gprefix, &p->status_listen, why, sizeof(why)) != 0)
      return pool_error(p, why, err, err_size);
    if (p->status_path[0] == '\0') {
      snprintf(p->status_path, sizeof(p->status_path), "/");
    }
  }
  if (p->ping_path[0] == '\0')
    p->ping_response[0] = '\0';
  else if (p->ping_response[0] == '\0')
    snprintf(p->ping_response, sizeof(p->ping_response), "pong");
  if (p->chroot[0] != '\0' && p->chroot[0] != '/') {
    const char *rest = p->chroot;
    if (strncmp(rest, "$prefix", 7) == 0)
      rest += 7;
    else if (strstr(rest, "$prefix") != NULL)
      return pool_error(p, "chroot: $prefix must start the value", err, err_size);
    while (*rest == '/')
      rest++;
    memset(tmp, 0, sizeof(tmp));
    if (full_path(rest, prefix, tmp, sizeof(tmp)) != 0)
      return pool_error(p, "chroot too long", err, err_size);
    memcpy(p->chroot, tmp, sizeof(tmp));
  }
  return 0;
}

int fpm_config_finish(fpm_config_t *cfg, const fpm_config_options_t *opt, char *err,
                      size_t err_size) {
  for (size_t i = 0; i < cfg->n_pools; i++)
    if (finish_pool(&cfg->pools[i], opt, err, err_size) != 0)
      return -1;
  return 0;
}

/* ---- lines that matter ------------------------------------------------------------------- */

/* A growing byte buffer; oom once an allocation failed (later puts do nothing). */
typedef struct {
  unsigned char *data;
  size_t len, cap;
  bool oom;
} bytes_t;

static void bytes_put(bytes_t *b, const void *data, size_t n) {
  if (b->oom || n == 0)
    return;
  if (n > b->cap - b->len) {
    size_t cap = b->cap < 256 ? 256 : b->cap;
    while (n > cap - b->len)
      cap *= 2;
    unsigned char *grown = realloc(b->data, cap);
    if (grown == NULL) {
      b->oom = true;
      return;
    }
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, n);
  b->len += n;
}

static void bytes_put_varint(bytes_t *b, size_t v) {
  unsigned char out[10];
  size_t n = 0;
  do {
    out[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v > 0);
  bytes_put(b, out, n);
}

/* Reads a varint at *pos below end; -1 when it is cut or too long. */
static int get_varint(const unsigned char *data, size_t end, size_t *pos, size_t *v) {
  *v = 0;
  for (unsigned shift = 0; *pos < end && shift < 64; shift += 7) {
    unsigned char c = data[(*pos)++];
    *v |= (size_t)(c & 0x7f) << shift;
    if ((c & 0x80) == 0)
      return 0;
  }
  return -1;
}

/* The buffer at its final size: kept for long, it should hold no slack. */
static unsigned char *bytes_take(bytes_t *b, size_t *len) {
  if (b->oom) {
    free(b->data);
    return NULL;
  }
  unsigned char *exact = b->len > 0 ? realloc(b->data, b->len) : NULL;
  if (exact == NULL)
    exact = b->data;
  *len = b->len;
  return exact;
}

int fpm_config_lines_make(const char *text, size_t len, fpm_config_lines_t *out) {
  bytes_t b = {NULL, 0, 0, false};
  size_t pos = 0, line = 0, last = 0;
  out->data = NULL;
  out->len = 0;
  while (pos < len) {
    const char *nl = memchr(text + pos, '\n', len - pos);
    size_t line_len = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
    const char *s = text + pos, *value = NULL, *why = NULL;
    size_t trimmed = line_len;
    char key[KEY_SIZE];
    line++;
    if (line_kind(&s, &trimmed, key, &value, &why) != LINE_NOTHING) {
      bytes_put_varint(&b, line - last);
      bytes_put_varint(&b, trimmed);
      bytes_put(&b, s, trimmed);
      last = line;
    }
    pos += line_len + 1;
  }
  out->data = bytes_take(&b, &out->len);
  return b.oom ? -1 : 0;
}

void fpm_config_lines_free(fpm_config_lines_t *lines) {
  free(lines->data);
  lines->data = NULL;
  lines->len = 0;
}

int fpm_config_parse_lines(fpm_config_t *cfg, const fpm_config_lines_t *lines,
                           const char *file_name, const fpm_config_options_t *opt,
                           fpm_config_include_fn include_fn, void *include_ctx, char *err,
                           size_t err_size) {
  line_ctx_t lc = {cfg, opt, file_name, 0, err, err_size};
  size_t pos = 0, delta, len;
  while (pos < lines->len) {
    if (get_varint(lines->data, lines->len, &pos, &delta) != 0 ||
        get_varint(lines->data, lines->len, &pos, &len) != 0 || len > lines->len - pos ||
        delta > (size_t)INT_MAX - (size_t)lc.line) {
      snprintf(err, err_size, "%s: corrupt cached lines", file_name);
      return -1;
    }
    lc.line += (int)delta;
    if (parse_line(&lc, (const char *)lines->data + pos, len, include_fn, include_ctx) != 0)
      return -1;
    pos += len;
  }
  return 0;
}

/* ---- pools packed --------------------------------------------------------------------------- */

/* A finished configuration kept between loads, without the zeros that fill most of its fixed-size
 * fields (5 KiB a pool, some 250 bytes packed): pairs of varints (zero bytes, literal bytes), then
 * the literal bytes. Scanned eight bytes at a time: a literal ends at the next zero word. */
static uint64_t word_at(const unsigned char *p) {
  uint64_t w;
  memcpy(&w, p, sizeof(w));
  return w;
}

static void pack_pools(const fpm_pool_conf_t *pools, size_t n, bytes_t *out) {
  const unsigned char *p = (const unsigned char *)pools;
  size_t total = n * sizeof(*pools), i = 0;
  while (i < total) {
    size_t start = i;
    while (i + 8 <= total && word_at(p + i) == 0)
      i += 8;
    while (i < total && p[i] == 0)
      i++;
    size_t zeros = i - start, j = i;
    while (j + 8 <= total && word_at(p + j) != 0)
      j += 8;
    if (j + 8 > total)
      j = total; /* the last few bytes go with the literal */
    bytes_put_varint(out, zeros);
    bytes_put_varint(out, j - i);
    bytes_put(out, p + i, j - i);
    i = j;
  }
}

static int unpack_pools(const unsigned char *data, size_t len, size_t n, fpm_pool_conf_t *pools) {
  unsigned char *p = (unsigned char *)pools;
  size_t total = n * sizeof(*pools), at = 0, pos = 0, zeros, literal;
  memset(pools, 0, total);
  while (pos < len) {
    if (get_varint(data, len, &pos, &zeros) != 0 || get_varint(data, len, &pos, &literal) != 0 ||
        zeros > total - at || literal > total - at - zeros || literal > len - pos)
      return -1;
    at += zeros;
    memcpy(p + at, data + pos, literal);
    at += literal;
    pos += literal;
  }
  return 0;
}

/* ---- the cache ------------------------------------------------------------------------------ */

/* What identifies a file's content: a write changes its size or times (ctime whatever the writer
 * does to mtime), a rename over it its inode. */
typedef struct {
  bool exists; /* false: it did not exist (ENOENT), itself a state that may change */
  dev_t dev;
  ino_t ino;
  mode_t type;
  off_t size;
  struct timespec mtime, ctime;
} stamp_t;

typedef struct {
  char *path; /* as the master sees it */
  stamp_t stamp;
  bool trusted; /* the stamp is old enough that any later write changes it */
  bool used;    /* read or reused by the load under way */
  fpm_config_lines_t lines;
} cached_file_t;

typedef struct {
  char *pattern; /* absolute, as include= gave it */
  /* its directory, whose stamp tells a file created, removed or renamed there; NULL when
   * wildcards reach into directories: then the pattern is expanded again on each load */
  char *dir;
  stamp_t stamp;
  bool trusted;
  char **matches; /* what it matched, in order */
  size_t n_matches;
} cached_glob_t;

/* The include patterns one load expanded, by pattern. */
typedef struct {
  cached_glob_t *items;
  size_t n, cap;
  size_t *slots, slots_cap;
} glob_set_t;

struct fpm_config_cache {
  /* what the result depends on besides the files: the path, root, prefixes and environment */
  unsigned char *key;
  size_t key_len;
  cached_file_t **files; /* pointers: an entry stays put while a load parses its lines */
  size_t n_files, files_cap;
  size_t *file_slots, file_slots_cap;
  glob_set_t globs; /* the last load's (during a load: the one under way's) */
  glob_set_t prev;  /* during a load: the last one's, whose matches it may reuse */
  /* during a load: the stamps its check took of files[0..n_seen), so that a load that finds a
   * change takes no second stat(2) of each file */
  stamp_t *seen;
  bool *seen_ok;
  size_t n_seen;
  /* the last load's outcome: packed pools, or an error that no failed read caused */
  bool have_result;
  int result_rc;
  char *result_err;
  unsigned char *result;
  size_t result_len, result_pools;
  int result_section;
  fpm_config_cache_stats_t stats;
};

static const char *file_path_at(const void *files, size_t i) {
  return ((cached_file_t *const *)files)[i]->path;
}

static const char *glob_pattern_at(const void *globs, size_t i) {
  return ((const cached_glob_t *)globs)[i].pattern;
}

fpm_config_cache_t *fpm_config_cache_new(void) {
  return calloc(1, sizeof(fpm_config_cache_t));
}

static void file_free(cached_file_t *f) {
  if (f == NULL)
    return;
  free(f->path);
  fpm_config_lines_free(&f->lines);
  free(f);
}

static void glob_free(cached_glob_t *g) {
  free(g->pattern);
  free(g->dir);
  rooted_glob_free(g->matches, g->n_matches);
}

static void glob_set_free(glob_set_t *set) {
  for (size_t i = 0; i < set->n; i++)
    glob_free(&set->items[i]);
  free(set->items);
  free(set->slots);
  memset(set, 0, sizeof(*set));
}

static const cached_glob_t *glob_set_find(const glob_set_t *set, const char *pattern) {
  if (set->slots_cap == 0)
    return NULL;
  size_t slot = index_slot(set->slots, set->slots_cap, pattern, false, set->items, glob_pattern_at);
  return set->slots[slot] != 0 ? &set->items[set->slots[slot] - 1] : NULL;
}

static void result_clear(fpm_config_cache_t *c) {
  free(c->result);
  free(c->result_err);
  c->result = NULL;
  c->result_err = NULL;
  c->result_len = c->result_pools = 0;
  c->have_result = false;
}

static void seen_free(fpm_config_cache_t *c) {
  free(c->seen);
  free(c->seen_ok);
  c->seen = NULL;
  c->seen_ok = NULL;
  c->n_seen = 0;
}

/* Forgets every file, pattern and result (the key stays). */
static void cache_clear(fpm_config_cache_t *c) {
  for (size_t i = 0; i < c->n_files; i++)
    file_free(c->files[i]);
  c->n_files = 0;
  if (c->file_slots != NULL)
    memset(c->file_slots, 0, c->file_slots_cap * sizeof(*c->file_slots));
  glob_set_free(&c->globs);
  glob_set_free(&c->prev);
  seen_free(c);
  result_clear(c);
}

void fpm_config_cache_free(fpm_config_cache_t *cache) {
  if (cache == NULL)
    return;
  cache_clear(cache);
  free(cache->files);
  free(cache->file_slots);
  free(cache->key);
  free(cache);
}

/* Bytes asked of malloc (its own overhead aside): what the memory budget counts. */
static size_t cache_bytes(const fpm_config_cache_t *c) {
  size_t bytes = sizeof(*c) + c->key_len + c->files_cap * sizeof(cached_file_t *) +
                 (c->file_slots_cap + c->globs.slots_cap) * sizeof(size_t) +
                 c->globs.cap * sizeof(*c->globs.items) + c->result_len;
  if (c->result_err != NULL)
    bytes += strlen(c->result_err) + 1;
  for (size_t i = 0; i < c->n_files; i++)
    bytes += sizeof(cached_file_t) + strlen(c->files[i]->path) + 1 + c->files[i]->lines.len;
  for (size_t i = 0; i < c->globs.n; i++) {
    const cached_glob_t *g = &c->globs.items[i];
    bytes += strlen(g->pattern) + 1 + (g->dir != NULL ? strlen(g->dir) + 1 : 0) +
             g->n_matches * sizeof(char *);
    for (size_t k = 0; k < g->n_matches; k++)
      bytes += strlen(g->matches[k]) + 1;
  }
  return bytes;
}

void fpm_config_cache_stats(const fpm_config_cache_t *cache, fpm_config_cache_stats_t *out) {
  *out = cache->stats;
  out->bytes = cache_bytes(cache);
}

/* Returns 0 (absent is a state too), or -1 when it cannot be told (EACCES, EXDEV, ...). */
static int stamp_of(int root_fd, const char *path, stamp_t *out) {
  struct stat st;
  memset(out, 0, sizeof(*out));
  if (rooted_statat(root_fd, path, &st) != 0)
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
  out->exists = true;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  out->type = st.st_mode & S_IFMT;
  out->size = st.st_size;
  out->mtime = st.st_mtim;
  out->ctime = st.st_ctim;
  return 0;
}

static void stamp_from(const struct stat *st, stamp_t *out) {
  memset(out, 0, sizeof(*out));
  out->exists = true;
  out->dev = st->st_dev;
  out->ino = st->st_ino;
  out->type = st->st_mode & S_IFMT;
  out->size = st->st_size;
  out->mtime = st->st_mtim;
  out->ctime = st->st_ctim;
}

static bool stamp_same(const stamp_t *a, const stamp_t *b) {
  return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->type == b->type &&
         a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
         a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
         a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Whether a stamp taken after now (the load's start) is old enough to trust: a write in the same
 * tick of the file system's clock would leave it unchanged (git's "racy" files), and a write after
 * our read is stamped at least now minus one tick. The kernel stamps files from its coarse clock
 * (a tick: 10 ms at most); 100 ms covers it ten times. Two seconds when the times have no
 * nanoseconds (file systems with whole seconds, FAT's two). ctime, which no one can set back. */
static bool stamp_trusted(const stamp_t *st, const struct timespec *now) {
  if (!st->exists)
    return true;
  long long window_ns =
      st->ctime.tv_nsec == 0 && st->mtime.tv_nsec == 0 ? 2000000000LL : 100000000LL;
  long long ns = (long long)st->ctime.tv_sec * 1000000000LL + st->ctime.tv_nsec;
  long long now_ns = (long long)now->tv_sec * 1000000000LL + now->tv_nsec;
  return ns < now_ns - window_ns;
}

/* The directory of an include pattern ("/etc/pool.d/" of "/etc/pool.d/site-*.conf"), or NULL when
 * wildcards (or glob(3)'s escapes) reach into it, or out of memory. */
static char *pattern_dir(const char *pattern) {
  const char *slash = strrchr(pattern, '/');
  if (slash == NULL)
    return NULL;
  size_t len = (size_t)(slash - pattern) + 1;
  for (size_t i = 0; i < len; i++)
    if (strchr("*?[\\", pattern[i]) != NULL)
      return NULL;
  return strndup(pattern, len);
}

/* Whether the directory of a pattern the last load expanded is as it was then: no file created,
 * removed or renamed in it. */
static bool glob_dir_unchanged(const cached_glob_t *g, int root_fd) {
  stamp_t now;
  return g->dir != NULL && g->trusted && stamp_of(root_fd, g->dir, &now) == 0 &&
         stamp_same(&g->stamp, &now);
}

/* Whether nothing the last load depended on changed: every file's stamp (and every include
 * directory's) unchanged and trusted; patterns with wildcards in directories expanded again to
 * the same matches. Every file is stamped, changed or not: the load that follows uses them. */
static bool cache_unchanged(fpm_config_cache_t *c, int root_fd) {
  bool same = true;
  seen_free(c);
  c->seen = malloc((c->n_files ? c->n_files : 1) * sizeof(*c->seen));
  c->seen_ok = calloc(c->n_files ? c->n_files : 1, sizeof(*c->seen_ok));
  if (c->seen == NULL || c->seen_ok == NULL)
    seen_free(c);
  else
    c->n_seen = c->n_files;
  for (size_t i = 0; i < c->n_files; i++) {
    const cached_file_t *f = c->files[i];
    stamp_t now;
    bool told = stamp_of(root_fd, f->path, &now) == 0;
    if (i < c->n_seen) {
      c->seen[i] = now;
      c->seen_ok[i] = told;
    }
    if (!f->trusted || !told || !stamp_same(&f->stamp, &now))
      same = false;
    else
      c->stats.files_known++;
    if (!same && c->n_seen == 0)
      return false; /* nowhere to keep stamps: they would be taken again */
  }
  if (!same)
    return false;
  for (size_t i = 0; i < c->globs.n; i++) {
    const cached_glob_t *g = &c->globs.items[i];
    if (g->dir != NULL) {
      if (!glob_dir_unchanged(g, root_fd))
        return false;
      continue;
    }
    char **paths, err[256];
    size_t n;
    if (rooted_globat(root_fd, g->pattern, &paths, &n, err, sizeof(err)) != 0)
      return false;
    c->stats.globs++;
    bool as_before = n == g->n_matches;
    for (size_t k = 0; as_before && k < n; k++)
      as_before = strcmp(paths[k], g->matches[k]) == 0;
    rooted_glob_free(paths, n);
    if (!as_before)
      return false;
  }
  return true;
}

/* The cache's files not used by the last load go (a pool file removed, an include changed).
 * Returns 0, or -1 out of memory. */
static int drop_unused_files(fpm_config_cache_t *c) {
  size_t kept = 0;
  for (size_t i = 0; i < c->n_files; i++) {
    if (c->files[i]->used)
      c->files[kept++] = c->files[i];
    else
      file_free(c->files[i]);
  }
  c->n_files = kept;
  free(c->file_slots);
  c->file_slots = NULL;
  c->file_slots_cap = 0;
  return kept > 0 ? index_reserve(&c->file_slots, &c->file_slots_cap, kept, false, c->files,
                                  file_path_at)
                  : 0;
}

/* ---- files -------------------------------------------------------------------------------- */

typedef struct {
  fpm_config_t *cfg;
  const fpm_config_options_t *opt;
  const char *root; /* "" for none: for messages */
  int root_fd;      /* opened once for the load (rooted_root_open) */
  int depth;
  size_t n_files;            /* read so far, the main one included */
  fpm_config_cache_t *cache; /* NULL: none */
  struct timespec now;       /* when the load started: stamps are trusted against it */
  bool io_failed;            /* a file or directory could not be read: not an outcome to keep */
} load_ctx_t;

static int load_file(load_ctx_t *ctx, const char *path, const stamp_t *known, char *err,
                     size_t err_size);

/* Reads root + path whole: a regular file of at most FPM_CONFIG_MAX_FILE_SIZE bytes; st: what
 * fstat said of what was read. */
static char *read_file(const load_ctx_t *ctx, const char *path, size_t *len, struct stat *st,
                       char *err, size_t err_size) {
  const char *root = ctx->root;
  char full[PATH_MAX];
  int n = snprintf(full, sizeof(full), "%s%s", root, path);
  const char *via = root[0] != '\0' ? " (read as " : "";
  if (n < 0 || (size_t)n >= sizeof(full)) {
    snprintf(err, err_size, "%s: path too long", path);
    return NULL;
  }
  /* O_NONBLOCK: a FIFO put in place of a file does not hang the caller. Inside the master's
   * root, every link resolved there: a container's link never leads to a file of ours. */
  int fd = rooted_openat(ctx->root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    snprintf(err, err_size, "cannot open %s%s%s%s: %s", path, via, root[0] ? full : "",
             root[0] ? ")" : "",
             errno == EXDEV ? "a link in it leads out of the master's root, refused"
                            : strerror_r(errno, (char[128]){0}, 128));
    return NULL;
  }
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    snprintf(err, err_size, "%s: not a regular file", path);
    close(fd);
    return NULL;
  }
  if (st->st_size > FPM_CONFIG_MAX_FILE_SIZE) {
    snprintf(err, err_size, "%s: larger than %d bytes", path, FPM_CONFIG_MAX_FILE_SIZE);
    close(fd);
    return NULL;
  }
  size_t cap = (size_t)st->st_size + 1, got = 0;
  char *buf = malloc(cap + 1);
  if (buf == NULL) {
    snprintf(err, err_size, "%s: out of memory", path);
    close(fd);
    return NULL;
  }
  /* Read one byte more than fstat said, to notice a file that grew past the limit meanwhile. */
  for (;;) {
    ssize_t r = read(fd, buf + got, cap - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      snprintf(err, err_size, "read %s: %s", path, strerror_r(errno, (char[128]){0}, 128));
      free(buf);
      close(fd);
      return NULL;
    }
    if (r == 0)
      break;
    got += (size_t)r;
    if (got == cap) {
      if (cap > FPM_CONFIG_MAX_FILE_SIZE) {
        snprintf(err, err_size, "%s: larger than %d bytes", path, FPM_CONFIG_MAX_FILE_SIZE);
        free(buf);
        close(fd);
        return NULL;
      }
      size_t grown_cap =
          cap * 2 > FPM_CONFIG_MAX_FILE_SIZE + 1 ? FPM_CONFIG_MAX_FILE_SIZE + 1 : cap * 2;
      char *grown = realloc(buf, grown_cap + 1);
      if (grown == NULL) {
        snprintf(err, err_size, "%s: out of memory", path);
        free(buf);
        close(fd);
        return NULL;
      }
      buf = grown;
      cap = grown_cap;
    }
  }
  close(fd);
  buf[got] = '\0';
  *len = got;
  return buf;
}

/* Notes a pattern the load expanded, once per load: its directory (dir, taken over; stamped
 * before it was listed, so that a file added meanwhile shows next time) and its matches. Returns
 * 0, or -1 out of memory. */
static int note_glob(load_ctx_t *ctx, const char *pattern, char *dir, const stamp_t *dir_stamp,
                     bool stamped, char *const *paths, size_t n) {
  glob_set_t *set = &ctx->cache->globs;
  cached_glob_t g = {.dir = dir};
  if (index_reserve(&set->slots, &set->slots_cap, set->n, false, set->items, glob_pattern_at) != 0)
    goto oom;
  size_t slot = index_slot(set->slots, set->slots_cap, pattern, false, set->items, glob_pattern_at);
  if (set->slots[slot] != 0) {
    free(dir);
    return 0;
  }
  if (set->n == set->cap) {
    size_t cap = set->cap < 4 ? 4 : set->cap * 2;
    cached_glob_t *grown = realloc(set->items, cap * sizeof(*grown));
    if (grown == NULL)
      goto oom;
    set->items = grown;
    set->cap = cap;
  }
  if ((g.pattern = strdup(pattern)) == NULL)
    goto oom;
  if (dir != NULL) {
    g.stamp = *dir_stamp;
    g.trusted = stamped && stamp_trusted(dir_stamp, &ctx->now);
  }
  if (n > 0) {
    if ((g.matches = calloc(n, sizeof(char *))) == NULL)
      goto oom;
    for (; g.n_matches < n; g.n_matches++)
      if ((g.matches[g.n_matches] = strdup(paths[g.n_matches])) == NULL)
        goto oom;
  }
  set->slots[slot] = set->n + 1;
  set->items[set->n++] = g;
  return 0;
oom:
  glob_free(&g);
  return -1;
}

/* The file entry of path, or NULL. */
static cached_file_t *file_find(const fpm_config_cache_t *c, const char *path, size_t *index) {
  if (c->file_slots_cap == 0)
    return NULL;
  size_t slot = index_slot(c->file_slots, c->file_slots_cap, path, false, c->files, file_path_at);
  if (c->file_slots[slot] == 0)
    return NULL;
  *index = c->file_slots[slot] - 1;
  return c->files[*index];
}

/* The stamp of path this load already took (cache_unchanged), or a new one. 0, or -1 when it
 * cannot be told. */
static int stamp_now(const load_ctx_t *ctx, const char *path, stamp_t *out) {
  const fpm_config_cache_t *c = ctx->cache;
  size_t i;
  if (file_find(c, path, &i) != NULL && i < c->n_seen) {
    *out = c->seen[i];
    return c->seen_ok[i] ? 0 : -1;
  }
  return stamp_of(ctx->root_fd, path, out);
}

/* The last load's matches of a pattern again, when its directory is unchanged and none of them
 * has become a directory (through a link: glob(3) would leave it out); stamps: theirs, taken
 * here (a NULL-stamp entry could not be told). NULL when the pattern must be expanded again. */
static stamp_t *reuse_matches(const load_ctx_t *ctx, const cached_glob_t *prev, bool **told) {
  if (!glob_dir_unchanged(prev, ctx->root_fd))
    return NULL;
  stamp_t *stamps = calloc(prev->n_matches ? prev->n_matches : 1, sizeof(*stamps));
  *told = calloc(prev->n_matches ? prev->n_matches : 1, sizeof(**told));
  bool ok = stamps != NULL && *told != NULL;
  for (size_t i = 0; ok && i < prev->n_matches; i++) {
    (*told)[i] = stamp_now(ctx, prev->matches[i], &stamps[i]) == 0;
    ok = !(*told)[i] || !stamps[i].exists || stamps[i].type != S_IFDIR;
  }
  if (!ok) {
    free(stamps);
    free(*told);
    *told = NULL;
    return NULL;
  }
  return stamps;
}

static int include_pattern(void *vctx, const char *pattern, char *err, size_t err_size) {
  load_ctx_t *ctx = vctx;
  char **paths = NULL, *dir = NULL;
  size_t n = 0;
  stamp_t dir_stamp, *stamps = NULL;
  bool stamped = false, *told = NULL;
  const cached_glob_t *prev = ctx->cache != NULL ? glob_set_find(&ctx->cache->prev, pattern) : NULL;
  if (prev != NULL && (stamps = reuse_matches(ctx, prev, &told)) != NULL) {
    paths = prev->matches; /* the last load's: they stay until this one ends */
    n = prev->n_matches;
    dir = strdup(prev->dir);
    dir_stamp = prev->stamp;
    stamped = dir != NULL;
  } else {
    /* the directory's stamp first: a file added while it is listed changes it after */
    if (ctx->cache != NULL && (dir = pattern_dir(pattern)) != NULL)
      stamped = stamp_of(ctx->root_fd, dir, &dir_stamp) == 0;
    if (rooted_globat(ctx->root_fd, pattern, &paths, &n, err, err_size) != 0) {
      free(dir);
      ctx->io_failed = true;
      return -1;
    }
    if (ctx->cache != NULL)
      ctx->cache->stats.globs++;
  }
  int rc = 0;
  if (ctx->cache != NULL && note_glob(ctx, pattern, dir, &dir_stamp, stamped, paths, n) != 0) {
    ctx->io_failed = true;
    snprintf(err, err_size, "out of memory");
    rc = -1;
  }
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = load_file(ctx, paths[i], stamps != NULL && told[i] ? &stamps[i] : NULL, err, err_size);
  if (stamps == NULL)
    rooted_glob_free(paths, n);
  free(stamps);
  free(told);
  return rc; /* nothing matching is only a warning to php-fpm */
}

/* The cache's entry for path with its lines: reused when its stamp (known: taken by the caller)
 * is unchanged and trusted, or this load already used it; else read again. NULL with err set
 * when it cannot be read. */
static cached_file_t *cached_file(load_ctx_t *ctx, const char *path, const stamp_t *known,
                                  char *err, size_t err_size) {
  fpm_config_cache_t *c = ctx->cache;
  if (index_reserve(&c->file_slots, &c->file_slots_cap, c->n_files, false, c->files,
                    file_path_at) != 0) {
    snprintf(err, err_size, "%s: out of memory", path);
    return NULL;
  }
  size_t slot = index_slot(c->file_slots, c->file_slots_cap, path, false, c->files, file_path_at);
  cached_file_t *f = c->file_slots[slot] != 0 ? c->files[c->file_slots[slot] - 1] : NULL;
  if (f != NULL && f->used) /* included twice in one load: the same text both times */
    return f;
  stamp_t now;
  if (f != NULL && f->trusted &&
      (known != NULL ? (now = *known, 0) : stamp_now(ctx, path, &now)) == 0 &&
      stamp_same(&f->stamp, &now)) {
    c->stats.files_known++;
    f->used = true;
    return f;
  }
  size_t len = 0;
  struct stat st;
  char *text = read_file(ctx, path, &len, &st, err, err_size);
  if (text == NULL)
    return NULL;
  c->stats.files_read++;
  fpm_config_lines_t lines;
  int made = fpm_config_lines_make(text, len, &lines);
  free(text);
  if (made != 0) {
    snprintf(err, err_size, "%s: out of memory", path);
    return NULL;
  }
  if (f == NULL) {
    if (c->n_files == c->files_cap) {
      size_t cap = c->files_cap < 8 ? 8 : c->files_cap * 2;
      cached_file_t **grown = realloc(c->files, cap * sizeof(cached_file_t *));
      if (grown == NULL) {
        fpm_config_lines_free(&lines);
        snprintf(err, err_size, "%s: out of memory", path);
        return NULL;
      }
      c->files = grown;
      c->files_cap = cap;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL || (f->path = strdup(path)) == NULL) {
      free(f);
      fpm_config_lines_free(&lines);
      snprintf(err, err_size, "%s: out of memory", path);
      return NULL;
    }
    c->file_slots[slot] = c->n_files + 1;
    c->files[c->n_files++] = f;
  }
  fpm_config_lines_free(&f->lines);
  f->lines = lines;
  stamp_from(&st, &f->stamp);
  f->trusted = stamp_trusted(&f->stamp, &ctx->now);
  f->used = true;
  return f;
}

static int load_file(load_ctx_t *ctx, const char *path, const stamp_t *known, char *err,
                     size_t err_size) {
  if (ctx->depth >= FPM_CONFIG_MAX_DEPTH) {
    snprintf(err, err_size, "%s: includes nest more than %d files deep", path,
             FPM_CONFIG_MAX_DEPTH);
    return -1;
  }
  size_t max_files = ctx->opt->max_files > 0 ? ctx->opt->max_files : FPM_CONFIG_MAX_FILES;
  if (ctx->n_files >= max_files) {
    snprintf(err, err_size, "%s: more than %zu files included", path, max_files);
    return -1;
  }
  int rc;
  if (ctx->cache != NULL) {
    /* an entry never moves nor changes during the load: its lines can be parsed while the
     * files it includes are added */
    const cached_file_t *f = cached_file(ctx, path, known, err, err_size);
    if (f == NULL) {
      ctx->io_failed = true;
      return -1;
    }
    ctx->n_files++;
    ctx->depth++;
    rc = fpm_config_parse_lines(ctx->cfg, &f->lines, path, ctx->opt, include_pattern, ctx, err,
                                err_size);
    ctx->depth--;
    return rc;
  }
  size_t len = 0;
  struct stat st;
  char *text = read_file(ctx, path, &len, &st, err, err_size);
  if (text == NULL)
    return -1;
  ctx->n_files++;
  ctx->depth++;
  rc = fpm_config_parse_text(ctx->cfg, text, len, path, ctx->opt, include_pattern, ctx, err,
                             err_size);
  ctx->depth--;
  free(text);
  return rc;
}

/* conf_path, root and options as one key: another key is another configuration. */
static unsigned char *cache_key(const char *conf_path, const char *root,
                                const fpm_config_options_t *opt, size_t *len) {
  bytes_t b = {NULL, 0, 0, false};
  const char *parts[] = {conf_path, root, opt->prefix != NULL ? opt->prefix : "",
                         opt->php_prefix != NULL ? opt->php_prefix : ""};
  for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
    bytes_put(&b, parts[i], strlen(parts[i]) + 1);
  size_t limits[] = {opt->max_pools, opt->max_files};
  bytes_put(&b, limits, sizeof(limits));
  bytes_put(&b, opt->env != NULL ? "E" : "G", 1); /* an environment block, or getenv(3) */
  if (opt->env != NULL)
    bytes_put(&b, opt->env, opt->env_len);
  return bytes_take(&b, len);
}

/* Keeps what the load gave for next time: the packed pools, or its error when no read failed. */
static void keep_result(fpm_config_cache_t *c, const load_ctx_t *ctx, int rc, const char *err) {
  result_clear(c);
  if (rc != 0) {
    if (!ctx->io_failed && (c->result_err = strdup(err)) != NULL) {
      c->have_result = true;
      c->result_rc = rc;
    }
    return;
  }
  bytes_t b = {NULL, 0, 0, false};
  pack_pools(ctx->cfg->pools, ctx->cfg->n_pools, &b);
  c->result = bytes_take(&b, &c->result_len);
  c->have_result = !b.oom;
  c->result_rc = 0;
  c->result_pools = ctx->cfg->n_pools;
  c->result_section = ctx->cfg->section;
}

/* The last result again; -1 when out of memory (then loaded afresh). */
static int reuse_result(const fpm_config_cache_t *c, fpm_config_t *cfg, char *err,
                        size_t err_size) {
  if (c->result_rc != 0) {
    snprintf(err, err_size, "%s", c->result_err);
    return 1;
  }
  if (c->result_pools > 0) {
    cfg->pools = malloc(c->result_pools * sizeof(*cfg->pools));
    if (cfg->pools == NULL)
      return -1;
    if (unpack_pools(c->result, c->result_len, c->result_pools, cfg->pools) != 0) {
      fpm_config_free(cfg);
      return -1;
    }
  }
  cfg->n_pools = cfg->pools_cap = c->result_pools;
  cfg->section = c->result_section;
  return 0;
}

/* opt->root without trailing slashes, so that a match minus strlen(root) is the master's path. */
static void root_of(const fpm_config_options_t *opt, char *root, size_t size) {
  snprintf(root, size, "%s", opt->root != NULL ? opt->root : "");
  for (size_t n = strlen(root); n > 0 && root[n - 1] == '/'; n--)
    root[n - 1] = '\0';
}

bool fpm_config_cache_fresh(fpm_config_cache_t *cache, const char *conf_path,
                            const fpm_config_options_t *opt) {
  fpm_config_options_t none = {0};
  char root[PATH_MAX];
  if (opt == NULL)
    opt = &none;
  root_of(opt, root, sizeof(root));
  size_t key_len = 0;
  unsigned char *key = cache_key(conf_path, root, opt, &key_len);
  bool fresh = key != NULL && cache->have_result && key_len == cache->key_len &&
               memcmp(key, cache->key, key_len) == 0;
  free(key);
  int root_fd = fresh ? rooted_root_open(root) : -1;
  memset(&cache->stats, 0, sizeof(cache->stats));
  fresh = fresh && root_fd != -1 && cache_unchanged(cache, root_fd);
  cache->stats.reused = fresh;
  seen_free(cache);
  if (root_fd != -1)
    rooted_root_close(root_fd);
  return fresh;
}

int fpm_config_load_cached(const char *conf_path, const fpm_config_options_t *opt,
                           fpm_config_cache_t *cache, fpm_config_t *cfg, char *err,
                           size_t err_size) {
  fpm_config_options_t none = {0};
  char root[PATH_MAX];
  if (opt == NULL)
    opt = &none;
  fpm_config_init(cfg);
  root_of(opt, root, sizeof(root));
  if (conf_path[0] != '/') {
    snprintf(err, err_size, "%s: not an absolute path", conf_path);
    return -1;
  }
  load_ctx_t ctx = {cfg, opt, root, rooted_root_open(root), 0, 0, cache, {0, 0}, false};
  if (ctx.root_fd == -1) {
    snprintf(err, err_size, "cannot open %s (read as %s%s): %s", conf_path, root, conf_path,
             strerror_r(errno, (char[128]){0}, 128));
    return -1;
  }
  if (cache != NULL) {
    memset(&cache->stats, 0, sizeof(cache->stats));
    clock_gettime(CLOCK_REALTIME, &ctx.now);
    size_t key_len = 0;
    unsigned char *key = cache_key(conf_path, root, opt, &key_len);
    if (key == NULL || key_len != cache->key_len || memcmp(key, cache->key, key_len) != 0) {
      cache_clear(cache);
      free(cache->key);
      cache->key = key;
      cache->key_len = key != NULL ? key_len : 0;
    } else {
      free(key);
    }
    if (cache->have_result && cache_unchanged(cache, ctx.root_fd)) {
      int reused = reuse_result(cache, cfg, err, err_size);
      if (reused >= 0) {
        seen_free(cache);
        cache->stats.reused = true;
        rooted_root_close(ctx.root_fd);
        return reused == 0 ? 0 : -1;
      }
    }
    memset(&cache->stats, 0, sizeof(cache->stats)); /* what the load below does */
    for (size_t i = 0; i < cache->n_files; i++)
      cache->files[i]->used = false;
    glob_set_free(&cache->prev); /* the last load's patterns: their matches may serve again */
    cache->prev = cache->globs;
    memset(&cache->globs, 0, sizeof(cache->globs));
    /* as many pools as last time, most likely: no doubling through megabytes of copies */
    if (cache->result_pools > 0 &&
        (cfg->pools = malloc(cache->result_pools * sizeof(*cfg->pools))) != NULL)
      cfg->pools_cap = cache->result_pools;
  }
  int rc = load_file(&ctx, conf_path, NULL, err, err_size);
  if (rc == 0)
    rc = fpm_config_finish(cfg, opt, err, err_size);
  rooted_root_close(ctx.root_fd);
  if (cache != NULL)
    seen_free(cache);
  /* A failed load stopped early: the files it did not reach stay for the next one. A file set
   * wider than the load's only makes the check of the next load stricter. */
  if (cache != NULL) {
    glob_set_free(&cache->prev);
    if (rc == 0 && drop_unused_files(cache) != 0)
      cache_clear(cache); /* out of memory: no index, start again next time */
    else
      keep_result(cache, &ctx, rc, err);
  }
  if (rc != 0) {
    fpm_config_free(cfg);
    return -1;
  }
  /* the name index only serves parsing: a finished configuration does not need it */
  free(cfg->by_name);
  cfg->by_name = NULL;
  cfg->by_name_cap = 0;
  return 0;
}

int fpm_config_load(const char *conf_path, const fpm_config_options_t *opt, fpm_config_t *cfg,
                    char *err, size_t err_size) {
  return fpm_config_load_cached(conf_path, opt, NULL, cfg, err, err_size);
}
