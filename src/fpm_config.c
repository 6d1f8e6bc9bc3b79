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
 * such as php_admin_value[...], are skipped without looking at their values. */
#include "fpm_config.h"

#include "rooted.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define VALUE_SIZE 4096 /* longer than any field we keep: the fields check their own size */

void fpm_config_init(fpm_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->section = -1;
}

void fpm_config_free(fpm_config_t *cfg) {
  free(cfg->pools);
  fpm_config_init(cfg);
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
  for (size_t i = 0; i < cfg->n_pools; i++)
    if (strcasecmp(cfg->pools[i].name, name) == 0) {
      cfg->section = (int)i;
      return 0;
    }
  if (cfg->n_pools >= FPM_CONFIG_MAX_POOLS) {
    char what[80];
    snprintf(what, sizeof(what), "more than %d pools", FPM_CONFIG_MAX_POOLS);
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
    if (cap > FPM_CONFIG_MAX_POOLS)
      cap = FPM_CONFIG_MAX_POOLS;
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
  return 0;
}

static bool is_read_key(const line_ctx_t *lc, const char *key) {
  static const char *const pool_keys[] = {"listen",    "pm.status_path", "pm.status_listen",
                                          "ping.path", "ping.response",  "prefix",
                                          "chroot",    "pm.max_children"};
  if (strcmp(key, "include") == 0)
    return true;
  if (lc->cfg->section < 0) /* nothing else in [global] is read */
    return false;
  for (size_t i = 0; i < sizeof(pool_keys) / sizeof(pool_keys[0]); i++)
    if (strcasecmp(key, pool_keys[i]) == 0)
      return true;
  return false;
}

static int parse_line(line_ctx_t *lc, const char *s, size_t len, fpm_config_include_fn include_fn,
                      void *include_ctx) {
  char value[VALUE_SIZE], why[VALUE_SIZE / 4];
  while (len > 0 && is_blank(*s)) {
    s++;
    len--;
  }
  while (len > 0 && (is_blank(s[len - 1]) || s[len - 1] == '\r'))
    len--;
  if (len == 0 || s[0] == ';')
    return 0;
  if (memchr(s, '\0', len) != NULL)
    return line_error(lc, "NUL byte in the line");

  if (s[0] == '[') {
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

  const char *eq = memchr(s, '=', len);
  if (eq == NULL)
    return line_error(lc, "expected key = value (php-fpm refuses a key without a value)");
  size_t key_len = (size_t)(eq - s);
  while (key_len > 0 && is_blank(s[key_len - 1]))
    key_len--;
  if (key_len == 0)
    return line_error(lc, "'=' without a key");
  char key[128];
  if (key_len >= sizeof(key))
    return 0; /* no key we read is this long */
  memcpy(key, s, key_len);
  key[key_len] = '\0';
  /* php_value[...], php_admin_value[...], env[...], access.suppress_path[]: not ours. */
  if (strchr(key, '[') != NULL || !is_read_key(lc, key))
    return 0;

  const char *v = eq + 1;
  if (ini_value(v, len - (size_t)(v - s), lc->opt, value, sizeof(value), why, sizeof(why)) != 0) {
    char what[VALUE_SIZE / 4 + 160];
    snprintf(what, sizeof(what), "%s: %s", key, why);
    return line_error(lc, what);
  }

  if (strcmp(key, "include") == 0) {
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
  if (lc->cfg->section < 0) /* nothing in [global] says where a pool listens */
    return 0;
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
  char tmp[FPM_CONFIG_PATH_SIZE], why[512];
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

/* ---- files -------------------------------------------------------------------------------- */

typedef struct {
  fpm_config_t *cfg;
  const fpm_config_options_t *opt;
  const char *root; /* "" for none */
  int depth;
  size_t n_files; /* read so far, the main one included */
} load_ctx_t;

static int load_file(load_ctx_t *ctx, const char *path, char *err, size_t err_size);

/* Reads root + path whole: a regular file of at most FPM_CONFIG_MAX_FILE_SIZE bytes. */
static char *read_file(const char *root, const char *path, size_t *len, char *err,
                       size_t err_size) {
  char full[PATH_MAX];
  int n = snprintf(full, sizeof(full), "%s%s", root, path);
  const char *via = root[0] != '\0' ? " (read as " : "";
  if (n < 0 || (size_t)n >= sizeof(full)) {
    snprintf(err, err_size, "%s: path too long", path);
    return NULL;
  }
  /* O_NONBLOCK: a FIFO put in place of a file does not hang the caller. Inside the master's
   * root, every link resolved there: a container's link never leads to a file of ours. */
  int fd = rooted_open(root, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    snprintf(err, err_size, "cannot open %s%s%s%s: %s", path, via, root[0] ? full : "",
             root[0] ? ")" : "",
             errno == EXDEV ? "a link in it leads out of the master's root, refused"
                            : strerror_r(errno, (char[128]){0}, 128));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, err_size, "%s: not a regular file", path);
    close(fd);
    return NULL;
  }
  if (st.st_size > FPM_CONFIG_MAX_FILE_SIZE) {
    snprintf(err, err_size, "%s: larger than %d bytes", path, FPM_CONFIG_MAX_FILE_SIZE);
    close(fd);
    return NULL;
  }
  size_t cap = (size_t)st.st_size + 1, got = 0;
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

static int include_pattern(void *vctx, const char *pattern, char *err, size_t err_size) {
  load_ctx_t *ctx = vctx;
  char **paths;
  size_t n;
  if (rooted_glob(ctx->root, pattern, &paths, &n, err, err_size) != 0)
    return -1;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = load_file(ctx, paths[i], err, err_size);
  rooted_glob_free(paths, n);
  return rc; /* nothing matching is only a warning to php-fpm */
}

static int load_file(load_ctx_t *ctx, const char *path, char *err, size_t err_size) {
  if (ctx->depth >= FPM_CONFIG_MAX_DEPTH) {
    snprintf(err, err_size, "%s: includes nest more than %d files deep", path,
             FPM_CONFIG_MAX_DEPTH);
    return -1;
  }
  if (ctx->n_files >= FPM_CONFIG_MAX_FILES) {
    snprintf(err, err_size, "%s: more than %d files included", path, FPM_CONFIG_MAX_FILES);
    return -1;
  }
  size_t len = 0;
  char *text = read_file(ctx->root, path, &len, err, err_size);
  if (text == NULL)
    return -1;
  ctx->n_files++;
  ctx->depth++;
  int rc = fpm_config_parse_text(ctx->cfg, text, len, path, ctx->opt, include_pattern, ctx, err,
                                 err_size);
  ctx->depth--;
  free(text);
  return rc;
}

int fpm_config_load(const char *conf_path, const fpm_config_options_t *opt, fpm_config_t *cfg,
                    char *err, size_t err_size) {
  fpm_config_options_t none = {0};
  char root[PATH_MAX];
  if (opt == NULL)
    opt = &none;
  fpm_config_init(cfg);
  /* Without trailing slashes, so that a match minus strlen(root) is the master's path. */
  snprintf(root, sizeof(root), "%s", opt->root != NULL ? opt->root : "");
  for (size_t n = strlen(root); n > 0 && root[n - 1] == '/'; n--)
    root[n - 1] = '\0';
  load_ctx_t ctx = {cfg, opt, root, 0, 0};
  if (conf_path[0] != '/') {
    snprintf(err, err_size, "%s: not an absolute path", conf_path);
    return -1;
  }
  if (load_file(&ctx, conf_path, err, err_size) != 0 ||
      fpm_config_finish(cfg, opt, err, err_size) != 0) {
    fpm_config_free(cfg);
    return -1;
  }
  return 0;
}
