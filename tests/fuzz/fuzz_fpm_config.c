/* libFuzzer target: the php-fpm configuration parser (INI values, ${VAR}, $pool, sections,
 * include=) and what fpm_config_finish makes of the pools (listen, prefix, chroot); and that the
 * lines the cache keeps of a file (fpm_config_lines_make) parse exactly as the whole text.
 * First byte: settings (bit 0: ${VAR} reads the environment block, else getenv(3); 1, 2, 3: a
 * -p prefix, a PHP_PREFIX; 3: unused; 4: include= fails; 5: no options at all); second: how
 * many bytes at the end of the input are that environment block ("NAME=value\0..."). */
#include "fpm_config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* include= parses the same text again into the same config, as a file including itself would,
 * a bounded number of times: the section in force carries into it and out of it. */
typedef struct {
  const char *text;
  size_t len;
  const fpm_config_lines_t *lines; /* parse these instead of text, when not NULL */
  const fpm_config_options_t *opt;
  fpm_config_t *cfg;
  int depth, calls;
  bool fail; /* refuse every include instead */
} include_fake_t;

static int include_fake(void *vctx, const char *pattern, char *err, size_t err_size) {
  include_fake_t *ctx = vctx;
  if (pattern[0] != '/') /* the parser makes every pattern absolute */
    __builtin_trap();
  if (ctx->fail) {
    snprintf(err, err_size, "refused");
    return -1;
  }
  if (ctx->depth >= 2 || ctx->calls >= 8)
    return 0;
  ctx->calls++;
  ctx->depth++;
  int rc = ctx->lines != NULL ? fpm_config_parse_lines(ctx->cfg, ctx->lines, "inc.conf", ctx->opt,
                                                       include_fake, ctx, err, err_size)
                              : fpm_config_parse_text(ctx->cfg, ctx->text, ctx->len, "inc.conf",
                                                      ctx->opt, include_fake, ctx, err, err_size);
  ctx->depth--;
  return rc;
}

static void check_string(const char *s, size_t size) {
  if (memchr(s, '\0', size) == NULL)
    __builtin_trap();
}

static void check_listen(const fpm_listen_t *l) {
  check_string(l->path, sizeof(l->path));
  check_string(l->host, sizeof(l->host));
  check_string(l->port, sizeof(l->port));
  if (l->kind == FPM_LISTEN_UNIX && l->path[0] != '/')
    __builtin_trap();
  if (l->kind == FPM_LISTEN_TCP && (l->host[0] == '\0' || l->port[0] == '\0'))
    __builtin_trap();
}

static void check_config(const fpm_config_t *cfg, bool finished) {
  if (cfg->n_pools > FPM_CONFIG_MAX_POOLS || cfg->n_pools > cfg->pools_cap)
    __builtin_trap();
  if (cfg->section >= (int)cfg->n_pools)
    __builtin_trap();
  for (size_t i = 0; i < cfg->n_pools; i++) {
    const fpm_pool_conf_t *p = &cfg->pools[i];
    check_string(p->name, sizeof(p->name));
    check_string(p->file, sizeof(p->file));
    check_string(p->listen_raw, sizeof(p->listen_raw));
    check_string(p->status_path, sizeof(p->status_path));
    check_string(p->status_listen_raw, sizeof(p->status_listen_raw));
    check_string(p->ping_path, sizeof(p->ping_path));
    check_string(p->ping_response, sizeof(p->ping_response));
    check_string(p->prefix, sizeof(p->prefix));
    check_string(p->chroot, sizeof(p->chroot));
    if (!finished)
      continue;
    check_listen(&p->listen);
    check_listen(&p->status_listen);
    if (p->listen.kind == FPM_LISTEN_NONE)
      __builtin_trap();
    if (p->status_listen_raw[0] != '\0' &&
        (p->status_listen.kind == FPM_LISTEN_NONE || p->status_path[0] == '\0'))
      __builtin_trap();
    if (p->ping_path[0] != '\0' && p->ping_response[0] == '\0')
      __builtin_trap();
    if (p->chroot[0] != '\0' && p->chroot[0] != '/')
      __builtin_trap();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint8_t flags = data[0];
  size_t env_len = data[1];
  data += 2;
  size -= 2;
  if (env_len > size)
    env_len = size;
  size_t text_len = size - env_len;

  /* exact-size copies, so reading one byte past the text or the environment is caught */
  char *text = malloc(text_len ? text_len : 1);
  char *env = malloc(env_len ? env_len : 1);
  if (text == NULL || env == NULL) {
    free(text);
    free(env);
    return 0;
  }
  memcpy(text, data, text_len);
  memcpy(env, data + text_len, env_len);

  fpm_config_options_t opt = {0};
  if (flags & 1) { /* else ${VAR} reads the process environment */
    opt.env = env;
    opt.env_len = env_len;
  }
  if (flags & 2)
    opt.prefix = "/opt/fpm/";
  if (flags & 4)
    opt.php_prefix = "/usr/local";

  fpm_config_t cfg;
  fpm_config_init(&cfg);
  const fpm_config_options_t *popt = (flags & 32) ? NULL : &opt;
  include_fake_t inc = {text, text_len, NULL, popt, &cfg, 0, 0, (flags & 16) != 0};
  char err[600];
  err[0] = '\0';
  int rc = fpm_config_parse_text(&cfg, text, text_len, "fuzz.conf", popt, include_fake, &inc, err,
                                 sizeof(err));
  if (rc != 0) {
    if (err[0] == '\0')
      __builtin_trap();
    check_config(&cfg, false);
  } else {
    check_config(&cfg, false);
  }

  /* The same text through its kept lines: the same pools, section, error and includes. */
  fpm_config_lines_t lines;
  if (fpm_config_lines_make(text, text_len, &lines) == 0) {
    if (lines.len > text_len * 2 + 16) /* varint headers: at most about one byte per line more */
      __builtin_trap();
    fpm_config_t again;
    fpm_config_init(&again);
    include_fake_t inc2 = {text, text_len, &lines, popt, &again, 0, 0, (flags & 16) != 0};
    char err2[600];
    err2[0] = '\0';
    int rc2 = fpm_config_parse_lines(&again, &lines, "fuzz.conf", popt, include_fake, &inc2, err2,
                                     sizeof(err2));
    if (rc2 != rc || again.n_pools != cfg.n_pools || again.section != cfg.section ||
        inc2.calls != inc.calls || (rc != 0 && strcmp(err, err2) != 0) ||
        (cfg.n_pools > 0 && memcmp(again.pools, cfg.pools, cfg.n_pools * sizeof(*cfg.pools)) != 0))
      __builtin_trap();
    fpm_config_free(&again);
    fpm_config_lines_free(&lines);
  }

  if (rc == 0) {
    if (fpm_config_finish(&cfg, popt, err, sizeof(err)) == 0)
      check_config(&cfg, true);
    else if (err[0] == '\0')
      __builtin_trap();
  }
  fpm_config_free(&cfg);
  free(text);
  free(env);
  return 0;
}
