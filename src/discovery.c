/* AutoDiscover; see discovery.h. */
#include "discovery.h"

#include "fpm_config.h"
#include "fpm_discover.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The master's name, stable across restarts and whatever else runs: its binary's basename
 * ("php-fpm8.2") when it reads that binary's Debian default configuration, else the basename
 * and the configuration's path, with what a plugin instance may not hold written as '_'. */
static void master_instance(const fpm_master_t *m, char *out, size_t size) {
  const char *base = strrchr(m->exe, '/');
  base = base ? base + 1 : (m->exe[0] ? m->exe : "php-fpm");
  char debian_default[300] = "";
  if (strncmp(base, "php-fpm", 7) == 0 && base[7] != '\0')
    snprintf(debian_default, sizeof(debian_default), "/etc/php/%s/fpm/php-fpm.conf", base + 7);
  if (strcmp(m->conf_path, debian_default) == 0) {
    snprintf(out, size, "%s", base);
    return;
  }
  snprintf(out, size, "%s_%s", base, m->conf_path + (m->conf_path[0] == '/'));
  for (char *p = out + strlen(base) + 1; *p; p++)
    if (*p == '/' || *p == ' ' || *p == '"' || *p == '\\' || (unsigned char)*p < ' ')
      *p = '_';
}

static int set_address(fcgx_address_t *addr, const fpm_listen_t *listen, const char *root,
                       char *err, size_t err_size) {
  if (listen->kind == FPM_LISTEN_UNIX) {
    char path[600];
    snprintf(path, sizeof(path), "%s%s", root, listen->path); /* the master's mount namespace */
    return fcgx_address_unix(addr, path, err, err_size);
  }
  if (listen->kind == FPM_LISTEN_TCP)
    return fcgx_address_tcp(addr, listen->host, listen->port, err, err_size);
  snprintf(err, err_size, "no listen address");
  return -1;
}

/* Appends one line to the report (each becomes one log line: collectd cuts longer ones). */
__attribute__((format(printf, 2, 3))) static void report(discovery_t *out, const char *fmt, ...) {
  char line[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
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

static int add_pool(discovery_t *out, size_t *cap, const discovered_pool_t *pool) {
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
static void add_master(discovery_t *out, size_t *cap, const fpm_master_t *m,
                       const fcgx_pool_config_t *defaults, discovery_skip_fn skip, void *skip_ctx) {
  fpm_config_t conf;
  fpm_config_options_t opt = {.root = m->root};
  char err[600], instance[128];
  master_instance(m, instance, sizeof(instance));
  fpm_config_init(&conf);
  if (fpm_config_load(m->conf_path, &opt, &conf, err, sizeof(err)) != 0) {
    report(out, "master %d (%s): cannot read its configuration: %s", (int)m->pid, m->conf_path,
           err);
    return;
  }
  report(out, "master %d (%s): %zu pool(s); its OPcache as \"%s\"", (int)m->pid, m->conf_path,
         conf.n_pools, instance);
  /* Its sockets as we reach them: through /proc/PID/root only from another mount namespace. */
  const char *socket_root = m->ns_known && m->same_mnt_ns ? "" : m->root;
  bool reader_chosen = false;
  for (size_t i = 0; i < conf.n_pools; i++) {
    const fpm_pool_conf_t *pc = &conf.pools[i];
    if (pc->status_path[0] == '\0') {
      report(out, "pool %s (master %d) not polled: add `pm.status_path = /status` to [%s] in %s",
             pc->name, (int)m->pid, pc->name, pc->file);
      continue;
    }
    discovered_pool_t d;
    memset(&d, 0, sizeof(d));
    d.cfg = *defaults;
    snprintf(d.cfg.name, sizeof(d.cfg.name), "%s", pc->name);
    snprintf(d.pool_name, sizeof(d.pool_name), "%s", pc->name);
    snprintf(d.cfg.status_path, sizeof(d.cfg.status_path), "%s", pc->status_path);
    snprintf(d.cfg.ping_path, sizeof(d.cfg.ping_path), "%s", pc->ping_path);
    snprintf(d.cfg.ping_response, sizeof(d.cfg.ping_response), "%s", pc->ping_response);
    d.cfg.max_children = pc->max_children;
    if (set_address(&d.cfg.addr, &pc->listen, socket_root, err, sizeof(err)) != 0) {
      report(out, "pool %s (master %d) not polled: listen: %s", pc->name, (int)m->pid, err);
      continue;
    }
    d.cfg.has_status_addr =
        pc->status_listen.kind != FPM_LISTEN_NONE &&
        set_address(&d.cfg.status_addr, &pc->status_listen, socket_root, err, sizeof(err)) == 0;
    if (skip != NULL && skip(&d.cfg, skip_ctx)) {
      report(out, "pool %s (master %d): configured by a <Pool> block", pc->name, (int)m->pid);
      continue;
    }
    /* One OPcache per master: read it once, through a pool whose workers see the script. */
    d.opcache_reader = defaults->opcache && !reader_chosen && pc->chroot[0] == '\0';
    reader_chosen = reader_chosen || d.opcache_reader;
    d.cfg.opcache = d.opcache_reader;
    d.master_pid = m->pid;
    d.master_start = m->start_ticks;
    d.master_exec = m->exec_cookie;
    snprintf(d.master_instance, sizeof(d.master_instance), "%s", instance);
    if (add_pool(out, cap, &d) != 0)
      break;
    report(out, "pool %s (master %d): %s%s%s", pc->name, (int)m->pid, d.cfg.addr.display,
           d.cfg.has_status_addr ? ", status through pm.status_listen" : "",
           d.opcache_reader ? ", reads the master's OPcache" : "");
  }
  fpm_config_free(&conf);
}

int discovery_scan(const char *proc_root, const fcgx_pool_config_t *defaults,
                   discovery_skip_fn skip, void *skip_ctx, discovery_t *out, char *err,
                   size_t err_size) {
  fpm_master_t *masters = NULL;
  size_t n_masters = 0, cap = 0;
  memset(out, 0, sizeof(*out));
  if (fpm_discover_masters(proc_root, &masters, &n_masters, err, err_size) != 0)
    return -1;
  report(out, "%zu php-fpm master(s)", n_masters);
  for (size_t i = 0; i < n_masters; i++)
    add_master(out, &cap, &masters[i], defaults, skip, skip_ctx);
  free(masters);

  for (size_t i = 0; i < out->n; i++)
    for (size_t j = 0; j < out->n; j++) {
      discovered_pool_t *x = &out->pools[i];
      const discovered_pool_t *y = &out->pools[j];
      if (i == j || x->master_pid == y->master_pid)
        continue;
      /* Two masters under one name (two containers with Debian's defaults): add the pid. */
      if (strcmp(x->master_instance, y->master_instance) == 0) {
        char named[sizeof(x->master_instance) + 16];
        snprintf(named, sizeof(named), "%s_%d", x->master_instance, (int)x->master_pid);
        snprintf(x->master_instance, sizeof(x->master_instance), "%s", named);
      }
    }
  /* One pool name in several masters: tell them apart by their master. */
  for (size_t i = 0; i < out->n; i++)
    for (size_t j = 0; j < out->n; j++)
      if (i != j && strcmp(out->pools[i].pool_name, out->pools[j].pool_name) == 0) {
        snprintf(out->pools[i].cfg.name, sizeof(out->pools[i].cfg.name), "%s-%s",
                 out->pools[i].master_instance, out->pools[i].pool_name);
        break;
      }
  return 0;
}

void discovery_free(discovery_t *d) {
  free(d->pools);
  free(d->report);
  memset(d, 0, sizeof(*d));
}

bool discovery_same(const discovery_t *a, const discovery_t *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++) {
    const discovered_pool_t *x = &a->pools[i], *y = &b->pools[i];
    if (strcmp(x->cfg.name, y->cfg.name) != 0 || x->master_pid != y->master_pid ||
        strcmp(x->master_instance, y->master_instance) != 0 || x->master_start != y->master_start ||
        x->master_exec != y->master_exec || strcmp(x->cfg.addr.display, y->cfg.addr.display) != 0 ||
        x->cfg.has_status_addr != y->cfg.has_status_addr ||
        x->cfg.max_children != y->cfg.max_children)
      return false;
  }
  return true;
}

void discovery_worker_usage(const char *proc_root, const discovered_pool_t *pools, size_t n,
                            worker_usage_t *usage) {
  memset(usage, 0, n * sizeof(*usage));
  for (size_t i = 0; i < n; i++) {
    bool done = false; /* one /proc scan per master serves all its pools */
    for (size_t j = 0; j < i && !done; j++)
      done = pools[j].master_pid == pools[i].master_pid;
    if (done)
      continue;
    fpm_worker_t *workers = NULL;
    size_t n_workers = 0;
    char err[200];
    if (fpm_discover_workers(proc_root, pools[i].master_pid, NULL, &workers, &n_workers, err,
                             sizeof(err)) != 0)
      continue;
    for (size_t w = 0; w < n_workers; w++) {
      fpm_proc_usage_t u;
      if (fpm_proc_usage(proc_root, workers[w].pid, &u) != 0)
        continue; /* gone meanwhile */
      for (size_t k = i; k < n; k++)
        if (pools[k].master_pid == pools[i].master_pid &&
            strcmp(pools[k].pool_name, workers[w].pool) == 0) {
          usage[k].count++;
          usage[k].cpu_seconds += u.cpu_seconds;
          usage[k].rss_bytes += (double)u.rss_bytes;
        }
    }
    free(workers);
  }
}
