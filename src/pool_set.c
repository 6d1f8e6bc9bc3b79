/* The pool set; see pool_set.h. */
#include "pool_set.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pool_set {
  const char *proc_root;
  bool auto_discover;
  fcgx_pool_config_t discovered_defaults;
  pool_set_hooks_t hooks;
  pool_group_t **groups;
  size_t n_groups;

  /* The host's masters, shared by every group: the lock guards what follows. */
  pthread_mutex_t lock;
  bool started;     /* the first refresh has run: no more pools are added */
  bool scan_wanted; /* AutoDiscover, or an explicit pool that wants its workers */
  autodiscover_t scan;
  autodiscover_cache_t scan_cache; /* the masters' files as the last scan found them */
  bool scan_failed;
  uint64_t generation; /* counts scans that differ from the one before */
  uint64_t scans;      /* every scan */
  uint64_t next_scan_ns;
};

static void entry_free(pool_entry_t *pool) {
  fcgx_pool_poll_release(&pool->poll);
  worker_cpu_free(&pool->workers_cpu);
  free(pool);
}

static pool_entry_t *entry_new(const fcgx_pool_config_t *cfg, bool discovered) {
  pool_entry_t *pool = calloc(1, sizeof(*pool));
  if (pool == NULL)
    return NULL;
  pool->cfg = *cfg;
  pool->discovered = discovered;
  pool->max_children = cfg->max_children;
  pool->opcache_reader = cfg->opcache;
  pool->accepted_seen = pool->started_seen = NAN;
  fcgx_pool_poll_init(&pool->poll, &pool->cfg);
  return pool;
}

static int group_append(pool_group_t *group, pool_entry_t *pool) {
  pool_entry_t **grown = realloc(group->pools, (group->n + 1) * sizeof(pool_entry_t *));
  if (grown == NULL)
    return -1;
  group->pools = grown;
  group->pools[group->n++] = pool;
  return 0;
}

static pool_group_t *group_for(pool_set_t *set, uint64_t interval, bool discovered) {
  for (size_t i = 0; i < set->n_groups; i++)
    if (set->groups[i]->interval == interval && set->groups[i]->discovered == discovered)
      return set->groups[i];
  pool_group_t **grown = realloc(set->groups, (set->n_groups + 1) * sizeof(pool_group_t *));
  if (grown == NULL)
    return NULL;
  set->groups = grown;
  pool_group_t *group = calloc(1, sizeof(*group));
  if (group == NULL)
    return NULL;
  group->interval = interval;
  group->discovered = discovered;
  set->groups[set->n_groups++] = group;
  return group;
}

pool_set_t *pool_set_new(const char *proc_root, const fcgx_pool_config_t *discovered,
                         const pool_set_hooks_t *hooks) {
  pool_set_t *set = calloc(1, sizeof(*set));
  if (set == NULL)
    return NULL;
  set->proc_root = proc_root;
  set->hooks = *hooks;
  pthread_mutex_init(&set->lock, NULL);
  if (discovered != NULL) {
    set->auto_discover = true;
    set->discovered_defaults = *discovered;
    if (group_for(set, 0, true) == NULL) {
      pool_set_free(set);
      return NULL;
    }
  }
  return set;
}

pool_entry_t *pool_set_add(pool_set_t *set, const fcgx_pool_config_t *cfg, uint64_t interval,
                           bool want_workers) {
  pool_group_t *group = group_for(set, interval, false);
  pool_entry_t *pool = group != NULL ? entry_new(cfg, false) : NULL;
  if (pool == NULL)
    return NULL;
  pool->want_workers = want_workers;
  if (group_append(group, pool) != 0) {
    entry_free(pool);
    return NULL;
  }
  return pool;
}

uint64_t pool_set_scan_count(pool_set_t *set) {
  pthread_mutex_lock(&set->lock);
  uint64_t scans = set->scans;
  pthread_mutex_unlock(&set->lock);
  return scans;
}

size_t pool_set_group_count(const pool_set_t *set) {
  return set->n_groups;
}

pool_group_t *pool_set_group(pool_set_t *set, size_t i) {
  return i < set->n_groups ? set->groups[i] : NULL;
}

void pool_set_free(pool_set_t *set) {
  if (set == NULL)
    return;
  for (size_t g = 0; g < set->n_groups; g++) {
    for (size_t i = 0; i < set->groups[g]->n; i++)
      entry_free(set->groups[g]->pools[i]);
    free(set->groups[g]->pools);
    free(set->groups[g]);
  }
  free(set->groups);
  autodiscover_free(&set->scan);
  autodiscover_cache_free(&set->scan_cache);
  pthread_mutex_destroy(&set->lock);
  free(set);
}

/* ---- scanning (under the lock) ---- */

/* Whether a socket address is one of an explicit pool's, as resolved at start. */
static bool resolved_to(const pool_entry_t *pool, const struct sockaddr *sa) {
  for (int i = 0; i < pool->n_addresses; i++) {
    const struct sockaddr *mine = (const struct sockaddr *)&pool->addresses[i];
    if (mine->sa_family != sa->sa_family)
      continue;
    if (sa->sa_family == AF_INET) {
      const struct sockaddr_in *a = (const void *)mine, *b = (const void *)sa;
      if (a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr)
        return true;
    } else if (sa->sa_family == AF_INET6) {
      const struct sockaddr_in6 *a = (const void *)mine, *b = (const void *)sa;
      if (a->sin6_port == b->sin6_port &&
          memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0)
        return true;
    }
  }
  return false;
}

/* Whether an explicit pool listens where a discovered one does: the same unix socket path, or
 * the same TCP address once resolved (localhost:9000 is 127.0.0.1:9000). php-fpm's own
 * configuration gives numeric addresses. */
static bool same_address(const pool_entry_t *pool, const fcgx_address_t *found) {
  if (strcmp(pool->cfg.addr.display, found->display) == 0)
    return true;
  /* a container's 127.0.0.1 is not ours: no explicit pool is there */
  if (pool->cfg.addr.is_unix || found->is_unix || found->netns_id[0] != '\0' ||
      strcmp(pool->cfg.addr.port, found->port) != 0)
    return false;
  struct sockaddr_in in = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)strtol(found->port, NULL, 10))};
  struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = in.sin_port};
  if (inet_pton(AF_INET, found->host, &in.sin_addr) == 1)
    return resolved_to(pool, (const struct sockaddr *)&in);
  return inet_pton(AF_INET6, found->host, &in6.sin6_addr) == 1 &&
         resolved_to(pool, (const struct sockaddr *)&in6);
}

/* Whether an explicit pool has the name or the address of a discovered one. Explicit pools are
 * set before the first read and never change: any thread may read them. */
static bool configured_explicitly(const fcgx_pool_config_t *cfg, void *ctx) {
  const pool_set_t *set = ctx;
  for (size_t g = 0; g < set->n_groups; g++)
    for (size_t i = 0; i < set->groups[g]->n && !set->groups[g]->discovered; i++) {
      const pool_entry_t *pool = set->groups[g]->pools[i];
      if (strcmp(pool->cfg.name, cfg->name) == 0 || same_address(pool, &cfg->addr))
        return true;
    }
  return false;
}

static void scan(pool_set_t *set) {
  autodiscover_t fresh;
  char err[300];
  set->scans++;
  if (autodiscover_scan(set->proc_root, &set->discovered_defaults, configured_explicitly, set,
                        &set->scan_cache, &fresh, err, sizeof(err)) != 0) {
    set->scan_failed = true;
    if (set->hooks.scan_failed != NULL)
      set->hooks.scan_failed(set->hooks.ctx, err); /* the last scan's pools stay */
    return;
  }
  if (set->scan_failed && set->hooks.scan_failed != NULL)
    set->hooks.scan_failed(set->hooks.ctx, NULL);
  set->scan_failed = false;
  if (set->generation > 0 && (fresh.unchanged || autodiscover_same(&set->scan, &fresh))) {
    autodiscover_free(&fresh);
    return;
  }
  /* One line each: collectd cuts a long one, and a host can have hundreds of pools. Only with
   * AutoDiscover: explicit pools' masters are looked up quietly. */
  for (char *line = fresh.report, *end; set->auto_discover && set->hooks.report != NULL &&
                                        line != NULL && (end = strchr(line, '\n')) != NULL;
       line = end + 1) {
    *end = '\0';
    bool warning = strncmp(line, AUTODISCOVER_WARNING, 1) == 0;
    set->hooks.report(set->hooks.ctx, line + warning, warning);
    *end = '\n';
  }
  autodiscover_free(&set->scan);
  set->scan = fresh;
  set->generation++;
}

/* ---- reconciling a group with the latest scan (under the lock, on the group's thread) ---- */

/* An explicit pool on this host: its master, by its listen address in the masters'
 * configurations, for its workers and pm.max_children. */
static void map_explicit(const pool_set_t *set, pool_entry_t *pool) {
  const discovered_pool_t *found = NULL;
  for (size_t j = 0; j < set->scan.n && found == NULL && pool->want_workers; j++)
    if (same_address(pool, &set->scan.pools[j].cfg.addr))
      found = &set->scan.pools[j];
  memset(&pool->master, 0, sizeof(pool->master));
  pool->max_children = pool->cfg.max_children;
  pool->cfg.ondemand = false;
  if (found == NULL)
    return;
  pool->master = found->id;
  if (pool->max_children == 0)
    pool->max_children = found->cfg.max_children;
  pool->cfg.ondemand = found->cfg.ondemand;
  pool->cfg.idle_timeout_s = found->cfg.idle_timeout_s;
}

static pool_entry_t *take(pool_group_t *group, const char *name) {
  for (size_t j = 0; j < group->n; j++)
    if (group->pools[j] != NULL && strcmp(group->pools[j]->cfg.name, name) == 0) {
      pool_entry_t *pool = group->pools[j];
      group->pools[j] = NULL;
      return pool;
    }
  return NULL;
}

/* The discovered group's pools become the scan's: a pool that stays keeps its state (events,
 * complaints, workers' CPU), one that changed takes its new configuration, one gone is freed. */
static void map_discovered(pool_set_t *set, pool_group_t *group) {
  pool_entry_t **next = calloc(set->scan.n ? set->scan.n : 1, sizeof(pool_entry_t *));
  size_t n = 0;
  if (next == NULL)
    return; /* the pools of the scan before stay */
  for (size_t i = 0; i < set->scan.n; i++) {
    const discovered_pool_t *d = &set->scan.pools[i];
    if (d->configured)
      continue;
    pool_entry_t *pool = take(group, d->cfg.name);
    if (pool == NULL)
      pool = entry_new(&d->cfg, true);
    if (pool == NULL)
      continue; /* out of memory: left out of this round */
    /* The scan changed: its configuration may have (a new address), its endpoints with it. */
    fcgx_pool_poll_release(&pool->poll);
    pool->cfg = d->cfg;
    fcgx_pool_poll_init(&pool->poll, &pool->cfg);
    pool->master = d->id;
    pool->max_children = d->cfg.max_children;
    pool->opcache_reader = d->opcache_reader;
    pool->may_read_cache = d->cfg.opcache && !d->chrooted;
    /* The other pools share the reader's cache, but a pool of its own mind (OPcache off by
     * php_admin_value, restrict_api) is worth one look: read it once, in the next read. */
    pool->check_opcache = !d->opcache_reader && d->cfg.opcache;
    next[n++] = pool;
  }
  for (size_t j = 0; j < group->n; j++) {
    if (group->pools[j] == NULL)
      continue;
    if (set->hooks.pool_gone != NULL)
      set->hooks.pool_gone(set->hooks.ctx, group->pools[j]);
    entry_free(group->pools[j]);
  }
  free(group->pools);
  group->pools = next;
  group->n = n;
}

void pool_group_refresh(pool_set_t *set, pool_group_t *group, uint64_t now_ns) {
  pthread_mutex_lock(&set->lock);
  if (!set->started) {
    /* The first refresh, before any poll: the explicit pools are all known now, and their
     * addresses resolved (or not) at start; kept apart from what their polls learn later. */
    set->started = true;
    set->scan_wanted = set->auto_discover;
    for (size_t g = 0; g < set->n_groups; g++)
      for (size_t i = 0; i < set->groups[g]->n; i++) {
        pool_entry_t *pool = set->groups[g]->pools[i];
        set->scan_wanted = set->scan_wanted || pool->want_workers;
        pool->n_addresses = pool->poll.endpoint.resolved ? pool->poll.endpoint.n_sa : 0;
        memcpy(pool->addresses, pool->poll.endpoint.sa, sizeof(pool->addresses));
      }
  }
  if (set->scan_wanted && now_ns >= set->next_scan_ns) {
    scan(set);
    set->next_scan_ns = now_ns + POOL_SET_RESCAN_NS;
  }
  if (group->generation != set->generation) {
    if (group->discovered)
      map_discovered(set, group);
    else
      for (size_t i = 0; i < group->n; i++)
        map_explicit(set, group->pools[i]);
    group->generation = set->generation;
    group->next_walk_ns = 0; /* new pools, or masters changed: find their workers at once */
  }
  pthread_mutex_unlock(&set->lock);
}

/* ---- polling (the group's thread only) ---- */

static bool wants_workers(const pool_entry_t *pool) {
  return (pool->discovered || pool->want_workers) && pool->master.master_pid > 0;
}

/* Reads the workers of the group's pools that have a master. Walking /proc finds new workers:
 * each read when a pool is ondemand (its first worker would otherwise go unseen, and it could
 * not be said to have none), else every few seconds; in between, the known ones are read
 * directly. Returns whether this read walked /proc. */
static bool read_workers(pool_set_t *set, pool_group_t *group, uint64_t now_ns) {
  size_t n = 0;
  bool walked_ok = false;
  for (size_t i = 0; i < group->n; i++)
    n += wants_workers(group->pools[i]);
  if (n == 0)
    return false;
  workers_of_t *of = calloc(n, sizeof(*of));
  worker_cpu_t **cpu = calloc(n, sizeof(worker_cpu_t *));
  worker_usage_t *usage = calloc(n, sizeof(*usage));
  fpm_worker_t *walked = NULL;
  size_t n_walked = 0;
  if (of != NULL && cpu != NULL && usage != NULL) {
    size_t k = 0;
    for (size_t i = 0; i < group->n; i++)
      if (wants_workers(group->pools[i])) {
        of[k] = group->pools[i]->master;
        cpu[k++] = &group->pools[i]->workers_cpu;
      }
    bool ondemand = false;
    for (size_t i = 0; i < group->n && !ondemand; i++)
      ondemand = group->pools[i]->cfg.ondemand;
    if (ondemand || now_ns >= group->next_walk_ns) {
      char err[200];
      group->next_walk_ns = now_ns + POOL_SET_RESCAN_NS;
      walked_ok =
          fpm_discover_workers(set->proc_root, 0, NULL, &walked, &n_walked, err, sizeof(err)) == 0;
    }
    workers_usage(set->proc_root, of, n, walked_ok ? walked : NULL, n_walked, cpu, usage);
    k = 0;
    for (size_t i = 0; i < group->n; i++)
      if (wants_workers(group->pools[i]))
        group->pools[i]->workers = usage[k++];
  }
  free(walked);
  free(of);
  free(cpu);
  free(usage);
  return walked_ok;
}

/* What this read does with a pool, from its workers and its socket's queue read just now. */
static fcgx_poll_plan_t plan_for(pool_entry_t *pool, bool walked, uint64_t now_ns) {
  const fcgx_pool_result_t *res = &pool->poll.result;
  const worker_usage_t *w = &pool->workers;
  /* Asleep only when all of it is known: its master runs, no worker of its pool, its socket
   * listens with nobody waiting (a visitor's connection forks the worker that accepts it). */
  if (!pool->cfg.ondemand || !walked || !wants_workers(pool) || !w->master_alive ||
      !res->kernel_queue_ok || res->kernel_queue > 0) {
    pool->rest_until_ns = 0;
    return FCGX_POLL_ASK;
  }
  if (w->count == 0) {
    pool->rest_until_ns = 0;
    pool->accepted_seen = NAN; /* its next page starts afresh */
    return FCGX_POLL_ASLEEP;
  }
  /* Resting until its idle timeout has passed, and while pm is still ending its idle workers
   * (one a second); a new worker means visitors. */
  if (pool->rest_until_ns != 0 && w->count <= pool->rest_workers &&
      (now_ns < pool->rest_until_ns || w->count < pool->rest_workers)) {
    pool->rest_workers = w->count;
    return FCGX_POLL_RESTING;
  }
  pool->rest_until_ns = 0;
  return FCGX_POLL_ASK;
}

/* After an ondemand pool answered through its own socket: if `accepted conn` grew by no more
 * than our own requests since its last page, nobody else uses it and our requests are all that
 * keep its workers from pm.process_idle_timeout: leave it to rest. */
static void note_own_load(pool_entry_t *pool, uint64_t now_ns) {
  const fcgx_pool_result_t *res = &pool->poll.result;
  if (!pool->cfg.ondemand || pool->cfg.has_status_addr || res->plan != FCGX_POLL_ASK)
    return;
  if (!res->status_ok) {
    pool->accepted_seen = NAN;
    return;
  }
  const fpm_status_t *st = &res->status;
  bool quiet = st->start_time == pool->started_seen &&
               st->accepted_conn - pool->accepted_seen <= pool->own_since + res->own_before_status;
  pool->accepted_seen = st->accepted_conn;
  pool->started_seen = st->start_time;
  pool->own_since = res->own_after_status;
  if (quiet && pool->workers.master_alive) {
    int idle_s = pool->cfg.idle_timeout_s > 0 ? pool->cfg.idle_timeout_s : 10;
    /* php-fpm looks for idle workers once a second */
    pool->rest_until_ns = now_ns + (uint64_t)(idle_s + 2) * 1000000000ull;
    pool->rest_workers = pool->workers.count;
  }
}

/* A master's OPcache is read through its reader; when that pool sleeps, through another pool of
 * the same master that is asked anyway, so that no pool is woken for it. */
static void choose_cache_readers(pool_group_t *group) {
  for (size_t i = 0; i < group->n; i++) {
    pool_entry_t *reader = group->pools[i];
    reader->reports_cache = reader->opcache_reader && reader->poll.plan == FCGX_POLL_ASK;
  }
  for (size_t i = 0; i < group->n; i++) {
    const pool_entry_t *reader = group->pools[i];
    if (!reader->discovered || !reader->opcache_reader || reader->reports_cache)
      continue;
    for (size_t j = 0; j < group->n; j++) {
      pool_entry_t *other = group->pools[j];
      if (other->may_read_cache && other->poll.plan == FCGX_POLL_ASK &&
          other->master.master_pid == reader->master.master_pid &&
          other->master.master_start == reader->master.master_start) {
        other->reports_cache = true;
        break;
      }
    }
  }
}

void pool_group_poll(pool_set_t *set, pool_group_t *group, uint64_t now_ns, uint64_t end_ns) {
  fcgx_pool_poll_t **polls = calloc(group->n ? group->n : 1, sizeof(fcgx_pool_poll_t *));
  if (polls == NULL)
    return;
  /* In turn from where the read before ran out of room, so that no pool is always last. */
  size_t first = group->first < group->n ? group->first : 0;
  for (size_t i = 0; i < group->n; i++) {
    memset(&group->pools[i]->workers, 0, sizeof(group->pools[i]->workers));
    polls[i] = &group->pools[(first + i) % group->n]->poll;
  }
  /* Workers and queues first: they decide which pools can be asked without waking them. */
  bool walked = read_workers(set, group, now_ns);
  fcgx_pools_prepare(polls, group->n);
  for (size_t i = 0; i < group->n; i++) {
    pool_entry_t *pool = group->pools[i];
    pool->poll.plan = plan_for(pool, walked, now_ns);
  }
  choose_cache_readers(group);
  for (size_t i = 0; i < group->n; i++) {
    pool_entry_t *pool = group->pools[i];
    pool->compare_now =
        pool->check_opcache && pool->poll.plan == FCGX_POLL_ASK && !pool->reports_cache;
    if (pool->compare_now)
      pool->check_opcache = false; /* once, when it is awake anyway */
    pool->poll.run_script = pool->cfg.opcache && (pool->reports_cache || pool->compare_now);
  }
  fcgx_pools_poll_each(polls, group->n, end_ns);
  for (size_t i = 0; i < group->n; i++)
    if (polls[i]->result.plan == FCGX_POLL_SKIPPED) {
      group->first = (first + i) % group->n;
      break;
    }
  free(polls);
  for (size_t i = 0; i < group->n; i++)
    note_own_load(group->pools[i], now_ns);
}

void pool_group_release(pool_group_t *group) {
  for (size_t i = 0; i < group->n; i++)
    fcgx_pool_poll_release(&group->pools[i]->poll);
}

const pool_entry_t *pool_group_opcache_differs(const pool_group_t *group, const pool_entry_t *pool,
                                               char *why, size_t size) {
  const fcgx_pool_result_t *mine = &pool->poll.result;
  for (size_t j = 0; j < group->n && mine->up; j++) {
    const pool_entry_t *reader = group->pools[j];
    const fcgx_pool_result_t *theirs = &reader->poll.result;
    if (reader == pool || !reader->reports_cache ||
        reader->master.master_pid != pool->master.master_pid || !theirs->opcache_ok ||
        theirs->opcache.availability != OPCACHE_OK)
      continue;
    if (mine->opcache_ok)
      fcgx_opcache_unavailable(&pool->cfg, &mine->opcache, why, size);
    else
      snprintf(why, size, "%s", mine->opcache_error);
    if (why[0] == '\0' && mine->opcache.enabled != theirs->opcache.enabled)
      snprintf(why, size, "OPcache is %s in this pool (php_admin_value[opcache.enable])",
               mine->opcache.enabled ? "on" : "off");
    if (why[0] != '\0')
      return reader;
  }
  return NULL;
}
