/* AutoDiscover; see autodiscover.h. */
#include "autodiscover.h"

#include "fpm_config.h"
#include "fpm_discover.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A report line to be replaced by a pool's own: "\x01<index in pools>". */
#define POOL_LINE "\x01"

/* The binary's basename, without the " (deleted)" that readlink adds once a package upgrade
 * replaced it under the running master. */
static void exe_basename(const fpm_master_t *m, char *out, size_t size) {
  const char *base = strrchr(m->exe, '/');
  snprintf(out, size, "%s", base ? base + 1 : m->exe);
  size_t len = strlen(out);
  static const char deleted[] = " (deleted)";
  if (len >= sizeof(deleted) - 1 && strcmp(out + len - (sizeof(deleted) - 1), deleted) == 0)
    out[len - (sizeof(deleted) - 1)] = '\0';
}

/* The master's name, stable across restarts and whatever else runs: its binary's basename
 * ("php-fpm8.2") when it reads that binary's Debian default configuration, else the basename
 * and the configuration's path, with what a plugin instance may not hold written as '_'. */
static void master_instance(const fpm_master_t *m, char *out, size_t size) {
  char base[128], debian_default[300] = "";
  if (m->hostname[0] != '\0') { /* a container: the name its operator knows it by */
    snprintf(out, size, "%s", m->hostname);
    for (char *p = out; *p; p++)
      if (!fcgx_instance_char_ok(*p))
        *p = '_';
    return;
  }
  exe_basename(m, base, sizeof(base));
  if (strncmp(base, "php-fpm", 7) == 0 && base[7] != '\0')
    snprintf(debian_default, sizeof(debian_default), "/etc/php/%s/fpm/php-fpm.conf", base + 7);
  if (strcmp(m->conf_path, debian_default) == 0)
    snprintf(out, size, "%s", base);
  else
    snprintf(out, size, "%s_%s", base, m->conf_path + (m->conf_path[0] == '/'));
  for (char *p = out; *p; p++) /* within what snprintf wrote, however much it cut */
    if (!fcgx_instance_char_ok(*p))
      *p = '_';
}

/* Only a real php-fpm run by root (or by collectd's own user) is read: any process can call
 * itself "php-fpm: master process (FILE)", and its FILE would tell collectd where to connect. */
static bool trusted_master(const fpm_master_t *m, char *why, size_t size) {
  char base[128];
  exe_basename(m, base, sizeof(base));
  if (strncmp(base, "php-fpm", 7) != 0) {
    snprintf(why, size, "its binary \"%s\" is not php-fpm", base);
    return false;
  }
  if (!m->uid_known || (m->uid != 0 && m->uid != geteuid())) {
    snprintf(why, size, "it runs as uid %d, neither root nor collectd's user", (int)m->uid);
    return false;
  }
  return true;
}

/* Where the master listens, as we reach it: a unix socket inside its root (its mount
 * namespace); TCP inside its network namespace (its 127.0.0.1 is not ours). */
static int set_address(fcgx_address_t *addr, const fpm_listen_t *listen, const char *root,
                       const fpm_master_t *m, const char *proc_root, char *err, size_t err_size) {
  bool unix_socket = listen->kind == FPM_LISTEN_UNIX;
  if (listen->kind != FPM_LISTEN_UNIX && listen->kind != FPM_LISTEN_TCP) {
    snprintf(err, err_size, "no listen address");
    return -1;
  }
  if ((unix_socket ? fcgx_address_unix_in(addr, root, listen->path, err, err_size)
                   : fcgx_address_tcp(addr, listen->host, listen->port, err, err_size)) != 0)
    return -1;
  /* A unix socket is reached by its path; its namespace only serves its kernel queue. */
  if (!m->other_net_ns || (unix_socket && m->net_ns_error != 0))
    return 0;
  if (m->net_ns_error != 0) { /* never polled as ours: our 127.0.0.1 is another socket */
    snprintf(err, err_size, "%s in %s, which fcgx cannot enter (%s)", addr->display, m->net_ns,
             m->net_ns_error == EPERM ? "collectd needs CAP_SYS_ADMIN"
                                      : strerror_r(m->net_ns_error, (char[128]){0}, 128));
    return -1;
  }
  char ns_path[64];
  snprintf(ns_path, sizeof(ns_path), "%s/%d/ns/net", proc_root, (int)m->pid);
  return fcgx_address_in_netns(addr, ns_path, m->net_ns, err, err_size);
}

void autodiscover_report(autodiscover_t *out, const char *fmt, ...) {
  char line[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  /* A container writes its titles and host name: no control character of its reaches the log
   * (a line break would forge a line), but our own marks (POOL_LINE, AUTODISCOVER_WARNING). */
  bool marked = fmt[0] == POOL_LINE[0] || fmt[0] == AUTODISCOVER_WARNING[0];
  for (char *p = line + marked; *p; p++)
    if ((unsigned char)*p < ' ' || *p == 0x7f)
      *p = '?';
  size_t len = strlen(line);
  if (out->report_len + len + 2 > out->report_cap) {
    size_t cap = (out->report_cap + len + 2) * 2;
    char *grown = realloc(out->report, cap);
    if (grown == NULL)
      return;
    out->report = grown;
    out->report_cap = cap;
  }
  memcpy(out->report + out->report_len, line, len);
  out->report_len += len;
  out->report[out->report_len++] = '\n';
  out->report[out->report_len] = '\0';
}

/* ---- the cache between scans ---- */

struct autodiscover_master_cache {
  pid_t pid;
  unsigned long long start_ticks;
  char *conf_path, *root;
  fpm_config_cache_t *files;
  bool seen;           /* by the scan under way */
  fpm_master_t master; /* as the last scan found it: exec, namespaces, host name */
};

void autodiscover_cache_free(autodiscover_cache_t *cache) {
  if (cache == NULL)
    return;
  for (size_t i = 0; i < cache->n; i++) {
    free(cache->masters[i].conf_path);
    free(cache->masters[i].root);
    fpm_config_cache_free(cache->masters[i].files);
  }
  free(cache->masters);
  memset(cache, 0, sizeof(*cache));
}

void autodiscover_cache_stats(const autodiscover_cache_t *cache, autodiscover_cache_stats_t *out) {
  *out = cache->last;
  out->bytes = cache->cap * sizeof(*cache->masters);
  for (size_t i = 0; i < cache->n; i++) {
    fpm_config_cache_stats_t st;
    fpm_config_cache_stats(cache->masters[i].files, &st);
    out->bytes +=
        st.bytes + strlen(cache->masters[i].conf_path) + strlen(cache->masters[i].root) + 2;
  }
}

/* The file cache of master m read through root: its own while it runs (a restarted php-fpm, with
 * another pid or start time, starts afresh). NULL when out of memory: loaded without. */
static fpm_config_cache_t *master_cache(autodiscover_cache_t *cache, const fpm_master_t *m,
                                        const char *root) {
  if (cache == NULL)
    return NULL;
  for (size_t i = 0; i < cache->n; i++) {
    autodiscover_master_cache_t *c = &cache->masters[i];
    if (c->pid == m->pid && c->start_ticks == m->start_ticks &&
        strcmp(c->conf_path, m->conf_path) == 0 && strcmp(c->root, root) == 0) {
      c->seen = true;
      c->master = *m;
      return c->files;
    }
  }
  if (cache->n == cache->cap) {
    size_t cap = cache->cap ? cache->cap * 2 : 4;
    autodiscover_master_cache_t *grown = realloc(cache->masters, cap * sizeof(*grown));
    if (grown == NULL)
      return NULL;
    cache->masters = grown;
    cache->cap = cap;
  }
  autodiscover_master_cache_t c = {
      m->pid, m->start_ticks, strdup(m->conf_path), strdup(root), fpm_config_cache_new(), true, *m};
  if (c.conf_path == NULL || c.root == NULL || c.files == NULL) {
    free(c.conf_path);
    free(c.root);
    fpm_config_cache_free(c.files);
    return NULL;
  }
  cache->masters[cache->n++] = c;
  return c.files;
}

/* Forgets the masters the last scan did not read (stopped, restarted, or not trusted now). */
static void forget_unseen(autodiscover_cache_t *cache) {
  size_t kept = 0;
  for (size_t i = 0; i < cache->n; i++) {
    autodiscover_master_cache_t *c = &cache->masters[i];
    if (c->seen) {
      cache->masters[kept++] = *c;
      continue;
    }
    free(c->conf_path);
    free(c->root);
    fpm_config_cache_free(c->files);
  }
  cache->n = kept;
}

static int add_pool(autodiscover_t *out, size_t *cap, const discovered_pool_t *pool) {
  if (out->n == *cap) {
    size_t grown = *cap ? *cap * 2 : 8;
    discovered_pool_t *pools = realloc(out->pools, grown * sizeof(*pools));
    if (pools == NULL)
      return -1;
    out->pools = pools;
    *cap = grown;
  }
  out->pools[out->n++] = *pool;
  return 0;
}

/* Adds the pools of one master, and a report line for each, polled or not and why. */
/* Where a master's files are read: our own mount namespace and root give plain paths, as
 * php-fpm reads them (no openat2 needed, which kernels before 5.6 and old seccomp profiles
 * lack); another, its /proc/PID/root. */
static const char *config_root(const fpm_master_t *m) {
  char its_root[8] = "";
  ssize_t len = m->root[0] ? readlink(m->root, its_root, sizeof(its_root) - 1) : -1;
  return m->ns_known && m->same_mnt_ns && len == 1 && its_root[0] == '/' ? "" : m->root;
}

/* Whether a scan would find exactly what the last one did, so that nothing need be built: the
 * same masters, each still trusted, in the same namespaces under the same host name, each
 * configuration's files unchanged (a stat(2) each). A host with an untrusted or unreadable
 * master is scanned in full. */
static bool same_as_last_scan(autodiscover_cache_t *cache, fpm_master_t *masters, size_t n,
                              const char *proc_root) {
  if (cache == NULL || !cache->complete || n != cache->n)
    return false;
  for (size_t i = 0; i < n; i++) {
    fpm_master_t *m = &masters[i];
    autodiscover_master_cache_t *c = cache->masters;
    while (c < cache->masters + cache->n && c->pid != m->pid)
      c++;
    if (c == cache->masters + cache->n)
      return false;
    const fpm_master_t *was = &c->master;
    char why[300];
    if (c->start_ticks != m->start_ticks || m->conf_truncated ||
        strcmp(c->conf_path, m->conf_path) != 0 || m->exec_cookie != was->exec_cookie ||
        !trusted_master(m, why, sizeof(why)))
      return false;
    fpm_master_namespaces(proc_root, m);
    fpm_config_options_t opt = {.root = config_root(m)};
    if (m->same_mnt_ns != was->same_mnt_ns || m->other_net_ns != was->other_net_ns ||
        m->net_ns_error != was->net_ns_error || strcmp(m->net_ns, was->net_ns) != 0 ||
        strcmp(m->hostname, was->hostname) != 0 || strcmp(c->root, opt.root) != 0 ||
        !fpm_config_cache_fresh(c->files, m->conf_path, &opt))
      return false;
  }
  return true;
}

static void add_master(autodiscover_t *out, size_t *cap, fpm_master_t *m, const char *proc_root,
                       const fcgx_pool_config_t *defaults, autodiscover_cache_t *cache) {
  fpm_config_t conf;
  fpm_config_options_t opt = {.root = config_root(m)};
  char err[600], instance[128];
  if (m->conf_truncated) {
    autodiscover_report(out,
                        AUTODISCOVER_WARNING
                        "master %d not read: its title cuts its configuration path (%s...)",
                        (int)m->pid, m->conf_path);
    return;
  }
  if (!trusted_master(m, err, sizeof(err))) {
    autodiscover_report(out, AUTODISCOVER_WARNING "master %d (%s) not read: %s", (int)m->pid,
                        m->conf_path, err);
    return;
  }
  fpm_master_namespaces(proc_root, m); /* only now: it enters the master's namespaces */
  master_instance(m, instance, sizeof(instance));
  fpm_config_init(&conf);
  fpm_config_cache_t *files = master_cache(cache, m, opt.root);
  int loaded = fpm_config_load_cached(m->conf_path, &opt, files, &conf, err, sizeof(err));
  if (cache != NULL && files != NULL) {
    fpm_config_cache_stats_t st;
    fpm_config_cache_stats(files, &st);
    cache->last.masters++;
    cache->last.reused += st.reused;
    cache->last.files_read += st.files_read;
    cache->last.files_known += st.files_known;
    cache->last.globs += st.globs;
  }
  if (loaded != 0) {
    autodiscover_report(out,
                        AUTODISCOVER_WARNING "master %d (%s): cannot read its configuration: %s",
                        (int)m->pid, m->conf_path, err);
    return;
  }
  autodiscover_report(out, "master %d (%s)%s%s%s: %zu pool(s); its OPcache as \"%s\"", (int)m->pid,
                      m->conf_path, m->hostname[0] ? " in container \"" : "", m->hostname,
                      m->hostname[0] ? "\"" : "", conf.n_pools, instance);
  /* Its sockets as we reach them: through /proc/PID/root only from another mount namespace. */
  const char *socket_root = m->ns_known && m->same_mnt_ns ? "" : m->root;
  for (size_t i = 0; i < conf.n_pools; i++) {
    const fpm_pool_conf_t *pc = &conf.pools[i];
    if (pc->status_path[0] == '\0') {
      autodiscover_report(
          out, "pool %s (master %d) not polled: add `pm.status_path = /status` to [%s] in %s",
          pc->name, (int)m->pid, pc->name, pc->file);
      continue;
    }
    if (!fcgx_instance_valid(pc->name)) {
      autodiscover_report(
          out, "pool %s (master %d) not polled: its name cannot be a collectd plugin instance",
          pc->name, (int)m->pid);
      continue;
    }
    discovered_pool_t d;
    memset(&d, 0, sizeof(d));
    d.cfg = *defaults;
    snprintf(d.cfg.name, sizeof(d.cfg.name), "%s", pc->name);
    snprintf(d.id.pool, sizeof(d.id.pool), "%s", pc->name);
    snprintf(d.cfg.status_path, sizeof(d.cfg.status_path), "%s", pc->status_path);
    snprintf(d.cfg.ping_path, sizeof(d.cfg.ping_path), "%s", pc->ping_path);
    snprintf(d.cfg.ping_response, sizeof(d.cfg.ping_response), "%s", pc->ping_response);
    d.cfg.max_children = pc->max_children;
    d.cfg.ondemand = pc->ondemand;
    d.cfg.idle_timeout_s = pc->idle_timeout_s;
    if (set_address(&d.cfg.addr, &pc->listen, socket_root, m, proc_root, err, sizeof(err)) != 0) {
      autodiscover_report(out, "pool %s (master %d) not polled: listen: %s", pc->name, (int)m->pid,
                          err);
      continue;
    }
    d.cfg.has_status_addr = pc->status_listen.kind != FPM_LISTEN_NONE &&
                            set_address(&d.cfg.status_addr, &pc->status_listen, socket_root, m,
                                        proc_root, err, sizeof(err)) == 0;
    d.chrooted = pc->chroot[0] != '\0';
    d.in_container = m->hostname[0] != '\0';
    d.id.master_pid = m->pid;
    d.id.master_start = m->start_ticks;
    d.master_exec = m->exec_cookie;
    snprintf(d.cfg.opcache_instance, sizeof(d.cfg.opcache_instance), "%s", instance);
    if (add_pool(out, cap, &d) != 0)
      break;
    /* its line once its name and role are final (see describe_pools) */
    autodiscover_report(out, POOL_LINE "%zu", out->n - 1);
  }
  fpm_config_free(&conf);
}

/* Replaces each pool's placeholder line in the report with what became of the pool. */
static void describe_pools(autodiscover_t *out) {
  autodiscover_t lines = {.report = NULL};
  for (char *line = out->report, *end; line != NULL && (end = strchr(line, '\n')) != NULL;
       line = end + 1) {
    *end = '\0';
    unsigned long i = line[0] == POOL_LINE[0] ? strtoul(line + 1, NULL, 10) : out->n;
    if (i >= out->n) {
      if (line[0] == AUTODISCOVER_WARNING[0])
        autodiscover_report(&lines, AUTODISCOVER_WARNING "%s", line + 1);
      else
        autodiscover_report(&lines, "%s", line);
      continue;
    }
    const discovered_pool_t *d = &out->pools[i];
    if (d->configured)
      autodiscover_report(&lines, "pool %s (master %d): configured by a <Pool> block", d->id.pool,
                          (int)d->id.master_pid);
    else
      autodiscover_report(&lines, "pool %s (master %d): %s%s%s", d->id.pool, (int)d->id.master_pid,
                          d->cfg.addr.display,
                          d->cfg.has_status_addr ? ", status through pm.status_listen" : "",
                          d->opcache_reader ? ", reads the master's OPcache" : "");
  }
  free(out->report);
  out->report = lines.report;
  out->report_len = lines.report_len;
  out->report_cap = lines.report_cap;
}

/* The string at offset in pools i and j, compared. */
static int pool_field_cmp(const autodiscover_t *out, size_t offset, size_t i, size_t j) {
  return strcmp((const char *)&out->pools[i] + offset, (const char *)&out->pools[j] + offset);
}

typedef struct {
  const autodiscover_t *out;
  size_t offset;
} sort_ctx_t;

static int by_field(const void *a, const void *b, void *vctx) {
  const sort_ctx_t *ctx = vctx;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  int c = pool_field_cmp(ctx->out, ctx->offset, i, j);
  return c != 0 ? c : (i > j) - (i < j);
}

/* order: the pools' indexes sorted by the string at offset (then by index). */
static void sort_pools(const autodiscover_t *out, size_t offset, size_t *order) {
  sort_ctx_t ctx = {out, offset};
  for (size_t i = 0; i < out->n; i++)
    order[i] = i;
  qsort_r(order, out->n, sizeof(*order), by_field, &ctx);
}

int autodiscover_scan(const char *proc_root, const fcgx_pool_config_t *defaults,
                      autodiscover_skip_fn skip, void *skip_ctx, autodiscover_cache_t *cache,
                      autodiscover_t *out, char *err, size_t err_size) {
  fpm_master_t *masters = NULL;
  size_t n_masters = 0, cap = 0;
  memset(out, 0, sizeof(*out));
  if (fpm_discover_masters(proc_root, &masters, &n_masters, err, err_size) != 0)
    return -1; /* the cache stays as it was: the next scan may see the masters again */
  if (same_as_last_scan(cache, masters, n_masters, proc_root)) {
    free(masters);
    memset(&cache->last, 0, sizeof(cache->last));
    cache->last.masters = cache->last.reused = n_masters;
    for (size_t i = 0; i < cache->n; i++) {
      fpm_config_cache_stats_t st;
      fpm_config_cache_stats(cache->masters[i].files, &st);
      cache->last.files_known += st.files_known;
      cache->last.globs += st.globs;
    }
    out->unchanged = true;
    return 0;
  }
  if (cache != NULL) {
    memset(&cache->last, 0, sizeof(cache->last));
    for (size_t i = 0; i < cache->n; i++)
      cache->masters[i].seen = false;
  }
  autodiscover_report(out, "%zu php-fpm master(s)", n_masters);
  for (size_t i = 0; i < n_masters; i++)
    add_master(out, &cap, &masters[i], proc_root, defaults, cache);
  free(masters);
  if (cache != NULL) {
    forget_unseen(cache);
    /* every master has its files cached: the next scan may compare them one for one */
    cache->complete = cache->n == n_masters;
  }

  /* Equal names are found by sorting, not by comparing every pair: a shared host has
   * thousands of pools. */
  size_t *order = malloc((out->n ? out->n : 1) * sizeof(*order));
  if (order == NULL) {
    autodiscover_free(out);
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  /* Two masters under one name (two containers with Debian's defaults): both get their pid,
   * found first and renamed after, so that the order of the masters does not matter. */
  const size_t instance = offsetof(discovered_pool_t, cfg.opcache_instance);
  sort_pools(out, instance, order);
  for (size_t a = 0, b; a < out->n; a = b) {
    pid_t first = out->pools[order[a]].id.master_pid;
    bool mixed = false;
    for (b = a + 1; b < out->n && pool_field_cmp(out, instance, order[a], order[b]) == 0; b++)
      mixed |= out->pools[order[b]].id.master_pid != first;
    for (size_t k = a; mixed && k < b; k++) {
      discovered_pool_t *x = &out->pools[order[k]];
      char named[sizeof(x->cfg.opcache_instance) + 16];
      snprintf(named, sizeof(named), "%s_%d", x->cfg.opcache_instance, (int)x->id.master_pid);
      snprintf(x->cfg.opcache_instance, sizeof(x->cfg.opcache_instance), "%s", named);
    }
  }
  /* One pool name in several masters: tell them apart by their master. A container's pools
   * always carry its name: they keep it whatever else runs on the node, and the host's pools
   * keep theirs whatever containers come and go. */
  const size_t pool_name = offsetof(discovered_pool_t, id.pool);
  sort_pools(out, pool_name, order);
  for (size_t a = 0, b; a < out->n; a = b) {
    size_t hosts = 0; /* pools of this name not in a container */
    for (b = a; b < out->n && pool_field_cmp(out, pool_name, order[a], order[b]) == 0; b++)
      hosts += !out->pools[order[b]].in_container;
    for (size_t k = a; k < b; k++) {
      discovered_pool_t *x = &out->pools[order[k]];
      if (x->in_container || hosts > 1)
        snprintf(x->cfg.name, sizeof(x->cfg.name), "%s-%s", x->cfg.opcache_instance, x->id.pool);
    }
  }
  free(order);
  /* An explicit <Pool> block wins, matched once the names are final (a pool renamed for a clash
   * by its new name). One OPcache per master: read it once, through a pool polled here whose
   * workers see the script (no chroot). */
  for (size_t i = 0; i < out->n; i++) {
    discovered_pool_t *d = &out->pools[i];
    d->configured = skip != NULL && skip(&d->cfg, skip_ctx);
    d->opcache_reader = defaults->opcache && !d->configured && !d->chrooted;
    for (size_t j = 0; j < i && d->opcache_reader; j++)
      d->opcache_reader =
          !(out->pools[j].opcache_reader && out->pools[j].id.master_pid == d->id.master_pid);
  }
  describe_pools(out);
  return 0;
}

void autodiscover_free(autodiscover_t *d) {
  free(d->pools);
  free(d->report);
  memset(d, 0, sizeof(*d));
}

bool autodiscover_same(const autodiscover_t *a, const autodiscover_t *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++) {
    const discovered_pool_t *x = &a->pools[i], *y = &b->pools[i];
    if (strcmp(x->cfg.name, y->cfg.name) != 0 || x->id.master_pid != y->id.master_pid ||
        strcmp(x->cfg.opcache_instance, y->cfg.opcache_instance) != 0 ||
        x->id.master_start != y->id.master_start || x->master_exec != y->master_exec ||
        strcmp(x->cfg.addr.display, y->cfg.addr.display) != 0 ||
        x->cfg.has_status_addr != y->cfg.has_status_addr ||
        strcmp(x->cfg.status_addr.display, y->cfg.status_addr.display) != 0 ||
        strcmp(x->cfg.status_path, y->cfg.status_path) != 0 ||
        strcmp(x->cfg.ping_path, y->cfg.ping_path) != 0 ||
        strcmp(x->cfg.ping_response, y->cfg.ping_response) != 0 ||
        x->opcache_reader != y->opcache_reader || x->cfg.max_children != y->cfg.max_children ||
        x->cfg.ondemand != y->cfg.ondemand || x->cfg.idle_timeout_s != y->cfg.idle_timeout_s)
      return false;
  }
  return true;
}
