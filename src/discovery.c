/* AutoDiscover; see discovery.h. */
#include "discovery.h"

#include "fpm_config.h"
#include "fpm_discover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "/usr/sbin/php-fpm8.2" -> "php-fpm8.2": the master's name, stable across restarts. */
static void master_instance(const fpm_master_t *m, const fpm_master_t *all, size_t n, char *out,
                            size_t size) {
  const char *base = strrchr(m->exe, '/');
  base = base ? base + 1 : (m->exe[0] ? m->exe : "php-fpm");
  size_t same = 0;
  for (size_t i = 0; i < n; i++) {
    const char *other = strrchr(all[i].exe, '/');
    other = other ? other + 1 : (all[i].exe[0] ? all[i].exe : "php-fpm");
    same += strcmp(other, base) == 0;
  }
  if (same <= 1) {
    snprintf(out, size, "%s", base);
    return;
  }
  /* Several masters of one binary (containers, several configurations): add the config path,
   * with what a plugin instance may not hold replaced. */
  snprintf(out, size, "%s%s", base, m->conf_path);
  for (char *p = out + strlen(base); *p; p++)
    if (*p == '/' || *p == ' ' || *p == '"' || *p == '\\')
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

static void append(char *buf, size_t size, const char *text) {
  size_t len = strlen(buf);
  if (len + 1 < size)
    snprintf(buf + len, size - len, "%s", text);
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

/* Adds the pools of one master; notes the ones that cannot be polled in the summary. */
static void add_master(discovery_t *out, size_t *cap, const fpm_master_t *m, const char *instance,
                       const fcgx_pool_config_t *defaults) {
  fpm_config_t conf;
  fpm_config_options_t opt = {.root = m->root};
  char err[600], line[1200];
  fpm_config_init(&conf);
  if (fpm_config_load(m->conf_path, &opt, &conf, err, sizeof(err)) != 0) {
    snprintf(line, sizeof(line), " master %d (%s): cannot read its configuration: %s;", (int)m->pid,
             m->conf_path, err);
    append(out->summary, sizeof(out->summary), line);
    return;
  }
  snprintf(line, sizeof(line), " master %d (%s):", (int)m->pid, m->conf_path);
  append(out->summary, sizeof(out->summary), line);
  /* Its sockets as we reach them: through /proc/PID/root only from another mount namespace. */
  const char *socket_root = m->ns_known && m->same_mnt_ns ? "" : m->root;
  bool reader_chosen = false;
  for (size_t i = 0; i < conf.n_pools; i++) {
    const fpm_pool_conf_t *pc = &conf.pools[i];
    if (pc->status_path[0] == '\0') {
      snprintf(line, sizeof(line), " %s not polled (add `pm.status_path = /status` to [%s] in %s);",
               pc->name, pc->name, pc->file);
      append(out->summary, sizeof(out->summary), line);
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
      snprintf(line, sizeof(line), " %s not polled (listen: %s);", pc->name, err);
      append(out->summary, sizeof(out->summary), line);
      continue;
    }
    d.cfg.has_status_addr =
        pc->status_listen.kind != FPM_LISTEN_NONE &&
        set_address(&d.cfg.status_addr, &pc->status_listen, socket_root, err, sizeof(err)) == 0;
    /* One OPcache per master: read it once, through a pool whose workers see the script. */
    d.opcache_reader = defaults->opcache && !reader_chosen && pc->chroot[0] == '\0';
    reader_chosen = reader_chosen || d.opcache_reader;
    d.cfg.opcache = d.opcache_reader;
    d.master_pid = m->pid;
    d.master_start = m->start_ticks;
    d.master_exec = m->exec_cookie;
    snprintf(d.master_instance, sizeof(d.master_instance), "%s", instance);
    snprintf(d.conf_path, sizeof(d.conf_path), "%s", m->conf_path);
    if (add_pool(out, cap, &d) != 0)
      break;
    snprintf(line, sizeof(line), " %s (%s%s)%s;", pc->name, d.cfg.addr.display,
             d.cfg.has_status_addr ? ", status through pm.status_listen" : "",
             d.opcache_reader ? ", reads the master's OPcache" : "");
    append(out->summary, sizeof(out->summary), line);
  }
  fpm_config_free(&conf);
}

int discovery_scan(const char *proc_root, const fcgx_pool_config_t *defaults, discovery_t *out,
                   char *err, size_t err_size) {
  fpm_master_t *masters = NULL;
  size_t n_masters = 0, cap = 0;
  memset(out, 0, sizeof(*out));
  if (fpm_discover_masters(proc_root, &masters, &n_masters, err, err_size) != 0)
    return -1;
  snprintf(out->summary, sizeof(out->summary), "%zu php-fpm master(s)", n_masters);
  for (size_t i = 0; i < n_masters; i++) {
    char instance[128];
    master_instance(&masters[i], masters, n_masters, instance, sizeof(instance));
    add_master(out, &cap, &masters[i], instance, defaults);
  }
  free(masters);

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
  memset(d, 0, sizeof(*d));
}

bool discovery_same(const discovery_t *a, const discovery_t *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++) {
    const discovered_pool_t *x = &a->pools[i], *y = &b->pools[i];
    if (strcmp(x->cfg.name, y->cfg.name) != 0 || x->master_pid != y->master_pid ||
        x->master_start != y->master_start || x->master_exec != y->master_exec ||
        strcmp(x->cfg.addr.display, y->cfg.addr.display) != 0 ||
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
