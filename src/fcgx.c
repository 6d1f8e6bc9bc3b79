/* collectd glue: configuration, read callbacks (one per distinct pool Interval), mapping each
 * pool's poll result to value lists, and logging. The only file that includes collectd. */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"
#include "utils_complain.h"

#include "discovery.h"
#include "pool.h"

#define PLUGIN "fcgx"

typedef struct {
  fcgx_pool_config_t cfg;
  bool timeout_set;      /* else the plugin-wide Timeout applies */
  bool script_set;       /* else the plugin-wide OPcacheScript applies */
  bool max_children_set; /* else pm.max_children as the pool's master says, when found */
  bool workers;      /* look its master up in /proc: its workers, and pm.max_children unless set */
  cdtime_t interval; /* 0: collectd's global Interval */
  c_complain_t down_complaint;
  c_complain_t status_complaint;
  c_complain_t details_complaint;
  c_complain_t opcache_complaint;
  c_complain_t kernel_queue_complaint;
  c_complain_t range_complaint; /* figures outside their range: logged once per pool */
  double start_time;  /* of the php-fpm master, as last seen: a change is a restart or reload */
  cdtime_t poll_time; /* when the values being dispatched were polled */
  /* for notifications: what the previous read saw */
  bool seen;
  bool was_up;
  bool opcache_seen;
  bool was_full;
  double oom_restarts, hash_restarts;
  /* discovered pools: the OPcache of a master is dispatched once, under its own name */
  char opcache_instance[DATA_MAX_NAME_LEN]; /* "" for the pool's name */
  bool check_opcache;       /* read once to compare with the master's: a pool may differ */
  worker_cpu_t workers_cpu; /* discovered pools: their workers' CPU as a counter */
} fcgx_pool_t;

/* The pools that share one Interval, read by one callback; or the pools AutoDiscover found,
 * which the group owns and which change as php-fpm masters start, reload and stop. */
typedef struct {
  cdtime_t interval;
  fcgx_pool_t **pools;
  fcgx_pool_poll_t *polls;
  size_t n;
  bool discovered;
  discovery_t found; /* the last scan: found.pools[i] is pools[i] */
  cdtime_t next_scan;
  cdtime_t next_worker_walk;
  c_complain_t scan_complaint;
} fcgx_group_t;

#define DISCOVERY_RESCAN TIME_T_TO_CDTIME_T(5) /* at most this often: a /proc walk and configs */
#define PROC_ROOT "/proc"

static fcgx_pool_t **pools;
static size_t pools_num;
static int default_timeout_ms = FCGX_DEFAULT_TIMEOUT_MS;
static bool auto_discover;
static char default_script[512]; /* <Plugin fcgx> OPcacheScript: "" for the built-in default */

/* ---- configuration ---- */

static int config_string(const oconfig_item_t *ci, const char *pool, char *buf, size_t size) {
  char *value = NULL;
  if (cf_util_get_string(ci, &value) != 0)
    return -1;
  size_t len = strlen(value);
  if (len >= size)
    ERROR(PLUGIN " plugin: pool \"%s\": %s is %zu bytes, at most %zu allowed", pool, ci->key, len,
          size - 1);
  else
    sstrncpy(buf, value, size);
  sfree(value);
  return len < size ? 0 : -1;
}

static int config_timeout(const oconfig_item_t *ci, const char *where, int *timeout_ms) {
  if (cf_util_get_int(ci, timeout_ms) != 0)
    return -1;
  if (*timeout_ms <= 0) {
    ERROR(PLUGIN " plugin: %s: Timeout must be a positive number of milliseconds, not %d", where,
          *timeout_ms);
    return -1;
  }
  return 0;
}

/* collectd identifiers are host/plugin-instance/type-instance, and writers turn them into file
 * names, Graphite paths and Prometheus labels. */
static int check_pool_name(const char *name) {
  if (name[0] == '\0') {
    ERROR(PLUGIN " plugin: a <Pool> block needs a name, e.g. <Pool \"www\">");
    return -1;
  }
  if (strlen(name) >= DATA_MAX_NAME_LEN) {
    ERROR(PLUGIN " plugin: pool name \"%s\" is longer than %d bytes", name, DATA_MAX_NAME_LEN - 1);
    return -1;
  }
  if (!fcgx_instance_valid(name)) {
    ERROR(PLUGIN " plugin: pool name \"%s\" cannot be a collectd plugin instance: it must not "
                 "contain '/', quotes, backslashes, spaces or control characters",
          name);
    return -1;
  }
  for (size_t i = 0; i < pools_num; i++)
    if (strcmp(pools[i]->cfg.name, name) == 0) {
      ERROR(PLUGIN " plugin: pool \"%s\" is configured twice", name);
      return -1;
    }
  return 0;
}

/* Sets addr from a unix socket path, or from host and port; exactly one of the two. */
static int config_address(const char *pool, const char *what, const char *socket_path,
                          const char *host, const char *port, fcgx_address_t *addr) {
  char err[400];
  int rc;
  if (socket_path[0] && (host[0] || port[0])) {
    ERROR(PLUGIN " plugin: pool \"%s\": set either %sSocket or %sHost and %sPort, not both", pool,
          what, what, what);
    return -1;
  }
  if (socket_path[0])
    rc = fcgx_address_unix(addr, socket_path, err, sizeof(err));
  else if (host[0] && port[0])
    rc = fcgx_address_tcp(addr, host, port, err, sizeof(err));
  else {
    ERROR(PLUGIN " plugin: pool \"%s\": %s: set %sSocket, or %sHost and %sPort", pool,
          host[0]   ? "Host without Port"
          : port[0] ? "Port without Host"
                    : "no address",
          what, what, what);
    return -1;
  }
  if (rc != 0)
    ERROR(PLUGIN " plugin: pool \"%s\": %s%s: %s", pool, what, socket_path[0] ? "Socket" : "Port",
          err);
  return rc;
}

static fcgx_pool_t *pool_new(const fcgx_pool_config_t *cfg) {
  fcgx_pool_t *pool = calloc(1, sizeof(*pool));
  if (pool == NULL)
    return NULL;
  pool->cfg = *cfg;
  pool->workers = true;
  C_COMPLAIN_INIT(&pool->down_complaint);
  C_COMPLAIN_INIT(&pool->status_complaint);
  C_COMPLAIN_INIT(&pool->details_complaint);
  C_COMPLAIN_INIT(&pool->opcache_complaint);
  C_COMPLAIN_INIT(&pool->kernel_queue_complaint);
  return pool;
}

static int config_pool(oconfig_item_t *ci) {
  char name[DATA_MAX_NAME_LEN] = "";
  char socket_path[256] = "", host[256] = "", port[32] = "";
  char status_socket[256] = "", status_host[256] = "", status_port[32] = "";
  int rc = 0;

  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
    ERROR(PLUGIN " plugin: <Pool> needs exactly one string argument, its name");
    return -1;
  }
  if (check_pool_name(ci->values[0].value.string) != 0)
    return -1;
  sstrncpy(name, ci->values[0].value.string, sizeof(name));

  fcgx_pool_config_t defaults;
  fcgx_pool_config_defaults(&defaults);
  sstrncpy(defaults.name, name, sizeof(defaults.name));
  fcgx_pool_t *pool = pool_new(&defaults);
  if (pool == NULL)
    return -1;

  for (int i = 0; i < ci->children_num && rc == 0; i++) {
    oconfig_item_t *child = ci->children + i;
    char *service = NULL;
    if (strcasecmp(child->key, "Socket") == 0)
      rc = config_string(child, name, socket_path, sizeof(socket_path));
    else if (strcasecmp(child->key, "Host") == 0)
      rc = config_string(child, name, host, sizeof(host));
    else if (strcasecmp(child->key, "Port") == 0 || strcasecmp(child->key, "StatusPort") == 0) {
      rc = cf_util_get_service(child, &service);
      if (rc != 0)
        ERROR(PLUGIN " plugin: pool \"%s\": bad %s", name, child->key);
      else {
        bool status = strcasecmp(child->key, "StatusPort") == 0;
        sstrncpy(status ? status_port : port, service, sizeof(port));
        if (strlen(service) >= sizeof(port))
          (status ? status_port : port)[0] = '?';
      }
      sfree(service);
    } else if (strcasecmp(child->key, "StatusSocket") == 0)
      rc = config_string(child, name, status_socket, sizeof(status_socket));
    else if (strcasecmp(child->key, "StatusHost") == 0)
      rc = config_string(child, name, status_host, sizeof(status_host));
    else if (strcasecmp(child->key, "StatusPath") == 0)
      rc = config_string(child, name, pool->cfg.status_path, sizeof(pool->cfg.status_path));
    else if (strcasecmp(child->key, "PingPath") == 0)
      rc = config_string(child, name, pool->cfg.ping_path, sizeof(pool->cfg.ping_path));
    else if (strcasecmp(child->key, "PingResponse") == 0)
      rc = config_string(child, name, pool->cfg.ping_response, sizeof(pool->cfg.ping_response));
    else if (strcasecmp(child->key, "ProcessDetails") == 0)
      rc = cf_util_get_boolean(child, &pool->cfg.process_details);
    else if (strcasecmp(child->key, "MaxChildren") == 0) {
      rc = cf_util_get_int(child, &pool->cfg.max_children);
      pool->max_children_set = true;
      if (rc == 0 && pool->cfg.max_children <= 0) {
        ERROR(PLUGIN " plugin: pool \"%s\": MaxChildren must be positive (pm.max_children)", name);
        rc = -1;
      }
    } else if (strcasecmp(child->key, "MaxReplySize") == 0) {
      int bytes = 0;
      rc = cf_util_get_int(child, &bytes);
      if (rc == 0 && bytes < 4096) {
        ERROR(PLUGIN " plugin: pool \"%s\": MaxReplySize must be at least 4096 bytes", name);
        rc = -1;
      }
      pool->cfg.max_reply = (size_t)bytes;
    } else if (strcasecmp(child->key, "Workers") == 0)
      rc = cf_util_get_boolean(child, &pool->workers);
    else if (strcasecmp(child->key, "KernelQueue") == 0)
      rc = cf_util_get_boolean(child, &pool->cfg.kernel_queue);
    else if (strcasecmp(child->key, "OPcacheInstance") == 0) {
      /* the master's name, when this pool reads OPcache for all the pools of its master */
      rc = config_string(child, name, pool->opcache_instance, sizeof(pool->opcache_instance));
      if (rc == 0 &&
          (pool->opcache_instance[0] == '\0' || !fcgx_instance_valid(pool->opcache_instance))) {
        ERROR(PLUGIN " plugin: pool \"%s\": OPcacheInstance \"%s\" cannot be a plugin instance",
              name, pool->opcache_instance);
        rc = -1;
      }
    } else if (strcasecmp(child->key, "OPcache") == 0)
      rc = cf_util_get_boolean(child, &pool->cfg.opcache);
    else if (strcasecmp(child->key, "OPcacheScript") == 0) {
      rc = config_string(child, name, pool->cfg.opcache_script, sizeof(pool->cfg.opcache_script));
      pool->script_set = true;
    } else if (strcasecmp(child->key, "Timeout") == 0) {
      char where[DATA_MAX_NAME_LEN + 16];
      ssnprintf(where, sizeof(where), "pool \"%s\"", name);
      rc = config_timeout(child, where, &pool->cfg.timeout_ms);
      pool->timeout_set = true;
    } else if (strcasecmp(child->key, "Interval") == 0) {
      rc = cf_util_get_cdtime(child, &pool->interval);
      if (rc == 0 && pool->interval == 0) {
        ERROR(PLUGIN " plugin: pool \"%s\": Interval must be positive", name);
        rc = -1;
      }
    } else {
      ERROR(PLUGIN " plugin: pool \"%s\": unknown option \"%s\"", name, child->key);
      rc = -1;
    }
  }

  if (rc == 0)
    rc = config_address(name, "", socket_path, host, port, &pool->cfg.addr);
  if (rc == 0 && (status_socket[0] || status_host[0] || status_port[0])) {
    rc = config_address(name, "Status", status_socket, status_host, status_port,
                        &pool->cfg.status_addr);
    pool->cfg.has_status_addr = rc == 0;
  }
  if (rc == 0 && pool->cfg.status_path[0] != '/') {
    ERROR(PLUGIN " plugin: pool \"%s\": StatusPath must start with '/' (pm.status_path)", name);
    rc = -1;
  }
  if (rc == 0 && pool->cfg.ping_path[0] != '\0' && pool->cfg.ping_path[0] != '/') {
    ERROR(PLUGIN " plugin: pool \"%s\": PingPath must start with '/' (ping.path), or be \"\" to "
                 "turn ping off",
          name);
    rc = -1;
  }

  if (rc == 0 && pool->cfg.opcache && pool->cfg.opcache_script[0] != '/') {
    ERROR(PLUGIN " plugin: pool \"%s\": OPcacheScript must be an absolute path, as the pool "
                 "sees it",
          name);
    rc = -1;
  }

  fcgx_pool_t **grown = rc == 0 ? realloc(pools, (pools_num + 1) * sizeof(fcgx_pool_t *)) : NULL;
  if (grown == NULL) {
    sfree(pool);
    return -1;
  }
  pools = grown;
  pools[pools_num++] = pool;
  return 0;
}

static int fcgx_config(oconfig_item_t *ci) {
  for (int i = 0; i < ci->children_num; i++) {
    oconfig_item_t *child = ci->children + i;
    int rc;
    if (strcasecmp(child->key, "Pool") == 0)
      rc = config_pool(child);
    else if (strcasecmp(child->key, "Timeout") == 0)
      rc = config_timeout(child, "<Plugin fcgx>", &default_timeout_ms);
    else if (strcasecmp(child->key, "AutoDiscover") == 0)
      rc = cf_util_get_boolean(child, &auto_discover);
    else if (strcasecmp(child->key, "OPcacheScript") == 0) {
      rc = config_string(child, "<Plugin fcgx>", default_script, sizeof(default_script));
      if (rc == 0 && default_script[0] != '/') {
        ERROR(PLUGIN " plugin: OPcacheScript must be an absolute path, as the pools see it");
        rc = -1;
      }
    } else {
      ERROR(PLUGIN " plugin: unknown option \"%s\" in <Plugin fcgx>", child->key);
      rc = -1;
    }
    if (rc != 0)
      return -1;
  }
  return 0;
}

/* ---- dispatch ---- */

static void submit_as(const fcgx_pool_t *pool, const char *instance, const char *type,
                      const char *type_instance, value_t value) {
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = &value;
  vl.values_len = 1;
  vl.time = pool->poll_time;
  sstrncpy(vl.plugin, PLUGIN, sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, instance, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  if (type_instance != NULL)
    sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

static void submit(const fcgx_pool_t *pool, const char *type, const char *type_instance,
                   value_t value) {
  submit_as(pool, pool->cfg.name, type, type_instance, value);
}

/* NaN is a figure the parser left out (outside its range): nothing is dispatched for it. */
static void submit_gauge(const fcgx_pool_t *pool, const char *type, const char *type_instance,
                         double value) {
  if (!isnan(value))
    submit(pool, type, type_instance, (value_t){.gauge = value});
}

/* A counter from the wire that is negative or beyond derive_t is no counter: never dispatched. */
static bool counter_ok(double value) {
  return value >= 0 && value < 9.2e18;
}

static void submit_derive(const fcgx_pool_t *pool, const char *type, const char *type_instance,
                          double value) {
  if (counter_ok(value))
    submit(pool, type, type_instance, (value_t){.derive = (derive_t)value});
}

static void submit_status(const fcgx_pool_t *pool, const fcgx_pool_result_t *res) {
  const fpm_status_t *st = &res->status;
  submit_gauge(pool, "fpm_processes", "active", st->active_processes);
  submit_gauge(pool, "fpm_processes", "idle", st->idle_processes);
  submit_gauge(pool, "fpm_processes", "total", st->total_processes);
  submit_gauge(pool, "fpm_processes", "max_active", st->max_active_processes);
  submit_derive(pool, "fpm_requests", "accepted", st->accepted_conn);
  submit_derive(pool, "fpm_requests", "slow", st->slow_requests);
  submit_derive(pool, "fpm_events", "max_children_reached", st->max_children_reached);
  submit_gauge(pool, "fpm_queue", "current", st->listen_queue);
  submit_gauge(pool, "fpm_queue", "max", st->max_listen_queue);
  submit_gauge(pool, "fpm_queue", "length", st->listen_queue_len);
  submit_gauge(pool, "uptime", NULL, st->start_since);
  submit_gauge(pool, "fpm_response_time", "status", res->status_seconds);
  /* "max active processes" is a high-water mark; against pm.max_children, active is the load. */
  if (pool->cfg.max_children > 0) {
    submit_gauge(pool, "fpm_processes", "limit", pool->cfg.max_children);
    submit_gauge(pool, "fpm_utilization", "active",
                 100.0 * st->active_processes / pool->cfg.max_children);
  }
  if (!res->status_full)
    return;

  for (int s = 0; s < FPM_STATE_COUNT; s++) {
    char instance[32];
    ssnprintf(instance, sizeof(instance), "state_%s", fpm_state_metric_names[s]);
    submit_gauge(pool, "fpm_processes", instance, st->state_count[s]);
  }
  if (st->duration_samples > 0) {
    submit_gauge(pool, "fpm_request_duration", "avg", st->duration_avg);
    submit_gauge(pool, "fpm_request_duration", "max", st->duration_max);
  }
  if (st->running_max_known)
    submit_gauge(pool, "fpm_request_duration", "running_max", st->duration_running_max);
  if (st->cpu_samples > 0) {
    submit_gauge(pool, "fpm_request_cpu", "avg", st->cpu_avg);
    submit_gauge(pool, "fpm_request_cpu", "max", st->cpu_max);
  }
  if (st->memory_samples > 0) {
    submit_gauge(pool, "fpm_request_memory", "avg", st->memory_avg);
    submit_gauge(pool, "fpm_request_memory", "max", st->memory_max);
  }
}

/* OPcache and APCu live in the master's shared memory: under the master's name when the plugin
 * knows it (AutoDiscover), else under the pool's. */
static void submit_cache(const fcgx_pool_t *pool, const char *type, const char *type_instance,
                         double value, bool derive) {
  const char *instance = pool->opcache_instance[0] ? pool->opcache_instance : pool->cfg.name;
  value_t v;
  if (derive ? !counter_ok(value) : isnan(value))
    return;
  if (derive)
    v.derive = (derive_t)value;
  else
    v.gauge = value;
  submit_as(pool, instance, type, type_instance, v);
}

static void submit_opcache(const fcgx_pool_t *pool, const opcache_report_t *oc) {
  if (oc->availability != OPCACHE_OK) {
    /* Not loaded, or off: say so, so that an alert can fire. Restricted: nothing is known. */
    if (oc->availability != OPCACHE_RESTRICTED)
      submit_cache(pool, "opcache_state", "enabled", 0, false);
    return;
  }
  submit_cache(pool, "opcache_state", "enabled", oc->enabled, false);
  submit_cache(pool, "opcache_state", "cache_full", oc->cache_full, false);
  submit_cache(pool, "opcache_state", "restart_pending", oc->restart_pending, false);
  submit_cache(pool, "opcache_state", "restart_in_progress", oc->restart_in_progress, false);
  submit_cache(pool, "opcache_memory", "used", oc->used_memory, false);
  submit_cache(pool, "opcache_memory", "free", oc->free_memory, false);
  submit_cache(pool, "opcache_memory", "wasted", oc->wasted_memory, false);
  submit_cache(pool, "opcache_percent", "hit_rate", oc->hit_rate, false);
  submit_cache(pool, "opcache_percent", "wasted", oc->wasted_percentage, false);
  submit_cache(pool, "opcache_scripts", "cached", oc->cached_scripts, false);
  submit_cache(pool, "opcache_keys", "cached", oc->cached_keys, false);
  submit_cache(pool, "opcache_keys", "max", oc->max_cached_keys, false);
  submit_cache(pool, "opcache_lookups", "hits", oc->hits, true);
  submit_cache(pool, "opcache_lookups", "misses", oc->misses, true);
  submit_cache(pool, "opcache_lookups", "blacklist_misses", oc->blacklist_misses, true);
  submit_cache(pool, "opcache_restarts", "oom", oc->oom_restarts, true);
  submit_cache(pool, "opcache_restarts", "hash", oc->hash_restarts, true);
  submit_cache(pool, "opcache_restarts", "manual", oc->manual_restarts, true);
  if (oc->has_strings) {
    submit_cache(pool, "opcache_strings_memory", "used", oc->strings_used, false);
    submit_cache(pool, "opcache_strings_memory", "free", oc->strings_free, false);
    submit_cache(pool, "opcache_strings", "count", oc->strings_count, false);
  }
  if (oc->has_jit) {
    submit_cache(pool, "opcache_jit_memory", "size", oc->jit_size, false);
    submit_cache(pool, "opcache_jit_memory", "free", oc->jit_free, false);
  }
  if (oc->has_preload) {
    submit_cache(pool, "opcache_preload_memory", NULL, oc->preload_memory, false);
    submit_cache(pool, "opcache_preload", "scripts", oc->preload_scripts, false);
    submit_cache(pool, "opcache_preload", "functions", oc->preload_functions, false);
    submit_cache(pool, "opcache_preload", "classes", oc->preload_classes, false);
  }
}

static void submit_script(const fcgx_pool_t *pool, const fcgx_pool_result_t *res) {
  const opcache_report_t *rep = &res->opcache;
  submit_opcache(pool, rep);
  if (rep->has_apcu) {
    submit_cache(pool, "apcu_memory", "used", rep->apcu_used, false);
    submit_cache(pool, "apcu_memory", "free", rep->apcu_free, false);
    submit_cache(pool, "apcu_entries", NULL, rep->apcu_entries, false);
    submit_cache(pool, "apcu_lookups", "hits", rep->apcu_hits, true);
    submit_cache(pool, "apcu_lookups", "misses", rep->apcu_misses, true);
    submit_cache(pool, "apcu_events", "expunges", rep->apcu_expunges, true);
  }
  if (rep->has_realpath) {
    /* each worker process has its own realpath cache: the pool's figure */
    submit_gauge(pool, "realpath_cache", "used", rep->realpath_used);
    submit_gauge(pool, "realpath_cache", "size", rep->realpath_size);
  }
  submit_gauge(pool, "fpm_response_time", "opcache", res->opcache_seconds);
}

/* Why the script answered without OPcache figures, and what to change; "" when it has them. */
static void opcache_unavailable(const fcgx_pool_t *pool, const opcache_report_t *oc, char *buf,
                                size_t size) {
  switch (oc->availability) {
  case OPCACHE_OK:
    buf[0] = '\0';
    break;
  case OPCACHE_NOT_LOADED:
    ssnprintf(buf, size, "OPcache is not loaded in the pool (zend_extension=opcache.so)");
    break;
  case OPCACHE_OFF:
    ssnprintf(buf, size, "OPcache is off in the pool (opcache.enable=0)");
    break;
  case OPCACHE_RESTRICTED:
    ssnprintf(buf, size,
              "opcache.restrict_api=\"%s\" does not allow %s: set it to a prefix of that path "
              "or to \"\"",
              oc->restrict_api, pool->cfg.opcache_script);
    break;
  }
}

__attribute__((format(printf, 5, 6))) static void notify(const fcgx_pool_t *pool, int severity,
                                                         const char *type,
                                                         const char *type_instance,
                                                         const char *format, ...) {
  /* OPcache's notifications go where its values go: the master's name when it is known. */
  const char *instance = strncmp(type, "opcache", 7) == 0 && pool->opcache_instance[0]
                             ? pool->opcache_instance
                             : pool->cfg.name;
  notification_t n = {.severity = severity, .time = pool->poll_time};
  va_list ap;
  va_start(ap, format);
  vsnprintf(n.message, sizeof(n.message), format, ap);
  va_end(ap);
  sstrncpy(n.host, hostname_g, sizeof(n.host));
  sstrncpy(n.plugin, PLUGIN, sizeof(n.plugin));
  sstrncpy(n.plugin_instance, instance, sizeof(n.plugin_instance));
  sstrncpy(n.type, type, sizeof(n.type));
  if (type_instance != NULL)
    sstrncpy(n.type_instance, type_instance, sizeof(n.type_instance));
  plugin_dispatch_notification(&n);
}

/* Notifications for what an operator is paged for: the pool going down and coming back, OPcache
 * restarting for lack of memory or hash slots, and the cache filling up. */
static void notify_changes(fcgx_pool_t *pool, const fcgx_pool_result_t *res) {
  const char *name = pool->cfg.name;
  if (!res->up && (!pool->seen || pool->was_up))
    notify(pool, NOTIF_FAILURE, "fpm_up", NULL, "PHP-FPM pool \"%s\" is down: %s", name,
           res->status_ok ? res->ping_error : res->status_error);
  else if (res->up && pool->seen && !pool->was_up)
    notify(pool, NOTIF_OKAY, "fpm_up", NULL, "PHP-FPM pool \"%s\" is up again", name);
  pool->seen = true;
  pool->was_up = res->up;

  const opcache_report_t *oc = &res->opcache;
  /* Restart counts left out (outside their range) say nothing: this poll is not compared. */
  if (!res->opcache_ok || oc->availability != OPCACHE_OK || isnan(oc->oom_restarts) ||
      isnan(oc->hash_restarts))
    return;
  if (pool->opcache_seen) {
    /* A reload resets the counters: only a rise is a restart. */
    if (oc->oom_restarts > pool->oom_restarts)
      notify(pool, NOTIF_WARNING, "opcache_restarts", "oom",
             "OPcache of pool \"%s\" restarted for lack of memory (%.0f so far): raise "
             "opcache.memory_consumption",
             name, oc->oom_restarts);
    if (oc->hash_restarts > pool->hash_restarts)
      notify(pool, NOTIF_WARNING, "opcache_restarts", "hash",
             "OPcache of pool \"%s\" restarted for lack of hash slots (%.0f so far): raise "
             "opcache.max_accelerated_files",
             name, oc->hash_restarts);
    if (oc->cache_full && !pool->was_full)
      notify(pool, NOTIF_WARNING, "opcache_state", "cache_full",
             "OPcache of pool \"%s\" is full: new scripts are not cached", name);
    else if (!oc->cache_full && pool->was_full)
      notify(pool, NOTIF_OKAY, "opcache_state", "cache_full",
             "OPcache of pool \"%s\" is no longer full", name);
  }
  pool->opcache_seen = true;
  pool->was_full = oc->cache_full;
  pool->oom_restarts = oc->oom_restarts;
  pool->hash_restarts = oc->hash_restarts;
}

/* Logs each kind of failure once, and its recovery once. */
static void log_result(fcgx_pool_t *pool, const fcgx_pool_result_t *res) {
  const char *name = pool->cfg.name;
  /* The status error says more (it names a broken reply); ping's when status answered. */
  if (!res->up)
    c_complain_once(LOG_ERR, &pool->down_complaint, PLUGIN " plugin: pool \"%s\": down: %s", name,
                    res->status_ok ? res->ping_error : res->status_error);
  else
    c_release(LOG_INFO, &pool->down_complaint, PLUGIN " plugin: pool \"%s\": up again", name);

  if (res->up && !res->status_ok)
    c_complain_once(LOG_ERR, &pool->status_complaint,
                    PLUGIN " plugin: pool \"%s\": no status figures: %s", name, res->status_error);
  else if (res->status_ok)
    c_release(LOG_INFO, &pool->status_complaint,
              PLUGIN " plugin: pool \"%s\": status readable again", name);

  if (res->status_ok && res->fallback_reason[0])
    c_complain_once(LOG_WARNING, &pool->details_complaint,
                    PLUGIN " plugin: pool \"%s\": reporting pool figures without process details: "
                           "%s",
                    name, res->fallback_reason);
  else if (res->status_ok && res->status_full)
    c_release(LOG_INFO, &pool->details_complaint,
              PLUGIN " plugin: pool \"%s\": process details readable again", name);

  if (res->kernel_queue_error[0])
    c_complain_once(LOG_WARNING, &pool->kernel_queue_complaint,
                    PLUGIN " plugin: pool \"%s\": no kernel queue figures: %s", name,
                    res->kernel_queue_error);
  else
    c_release(LOG_INFO, &pool->kernel_queue_complaint,
              PLUGIN " plugin: pool \"%s\": kernel queue figures readable again", name);

  /* php-fpm prints a request that began after its page's clock reading with a negative
   * duration, unsigned (php bug 62382); such figures are left out of the values. */
  const out_of_range_t *status_oor = &res->status.out_of_range;
  const out_of_range_t *script_oor = &res->opcache.out_of_range;
  size_t left_out =
      (res->status_ok ? status_oor->count : 0) + (res->opcache_ok ? script_oor->count : 0);
  if (left_out > 0)
    c_complain_once(LOG_WARNING, &pool->range_complaint,
                    PLUGIN " plugin: pool \"%s\": %zu figure(s) outside the range php-fpm can "
                           "report left out of this poll, e.g. %s (logged once)",
                    name, left_out,
                    res->status_ok && status_oor->count ? status_oor->first : script_oor->first);

  /* A reload (SIGUSR2) or restart starts every counter again: collectd turns the drop into no
   * rate (DERIVE, minimum 0) rather than a negative one; say why the counters fell. */
  if (res->status_ok && !isnan(res->status.start_time)) {
    if (pool->start_time != 0 && res->status.start_time != pool->start_time)
      INFO(PLUGIN " plugin: pool \"%s\": php-fpm was restarted or reloaded (uptime %.0f s): its "
                  "counters start again",
           name, res->status.start_since);
    pool->start_time = res->status.start_time;
  }

  if (!res->up || !res->opcache_enabled || pool->check_opcache)
    return;
  char why[sizeof(res->opcache_error)];
  if (res->opcache_ok)
    opcache_unavailable(pool, &res->opcache, why, sizeof(why));
  else
    sstrncpy(why, res->opcache_error, sizeof(why));
  if (why[0])
    c_complain_once(LOG_WARNING, &pool->opcache_complaint,
                    PLUGIN " plugin: pool \"%s\": no OPcache figures: %s", name, why);
  else
    c_release(LOG_INFO, &pool->opcache_complaint,
              PLUGIN " plugin: pool \"%s\": OPcache figures readable again", name);
}

/* An explicit <Pool> block overrides a discovered pool of its name or its address. */
static bool configured_explicitly(const fcgx_pool_config_t *cfg, void *ctx) {
  (void)ctx;
  for (size_t i = 0; i < pools_num; i++)
    if (strcmp(pools[i]->cfg.name, cfg->name) == 0 ||
        strcmp(pools[i]->cfg.addr.display, cfg->addr.display) == 0)
      return true;
  return false;
}

/* Rescans the host's php-fpm masters; when what is found changed, the group's pools are rebuilt
 * (a pool that stays keeps its state: complaints, counters seen) and the result logged once. */
static void rescan(fcgx_group_t *group) {
  fcgx_pool_config_t defaults;
  discovery_t fresh;
  char err[300];

  fcgx_pool_config_defaults(&defaults);
  defaults.timeout_ms = default_timeout_ms;
  if (default_script[0])
    sstrncpy(defaults.opcache_script, default_script, sizeof(defaults.opcache_script));
  if (discovery_scan(PROC_ROOT, &defaults, configured_explicitly, NULL, &fresh, err, sizeof(err)) !=
      0) {
    c_complain(LOG_ERR, &group->scan_complaint, PLUGIN " plugin: AutoDiscover: %s", err);
    return;
  }
  c_release(LOG_INFO, &group->scan_complaint, PLUGIN " plugin: AutoDiscover works again");
  if (group->pools != NULL && discovery_same(&group->found, &fresh)) {
    discovery_free(&fresh);
    return;
  }

  fcgx_pool_t **next = calloc(fresh.n ? fresh.n : 1, sizeof(fcgx_pool_t *));
  fcgx_pool_poll_t *polls = calloc(fresh.n ? fresh.n : 1, sizeof(*polls));
  if (next == NULL || polls == NULL) {
    sfree(next);
    sfree(polls);
    discovery_free(&fresh);
    return;
  }
  for (size_t i = 0; i < fresh.n; i++) {
    const discovered_pool_t *d = &fresh.pools[i];
    for (size_t j = 0; j < group->n && next[i] == NULL; j++)
      if (group->pools[j] != NULL && strcmp(group->pools[j]->cfg.name, d->cfg.name) == 0) {
        next[i] = group->pools[j];
        group->pools[j] = NULL;
        next[i]->cfg = d->cfg;
      }
    if (next[i] == NULL)
      next[i] = pool_new(&d->cfg);
    if (next[i] == NULL)
      continue;
    sstrncpy(next[i]->opcache_instance, d->opcache_reader ? d->master_instance : "",
             sizeof(next[i]->opcache_instance));
    /* The other pools share the reader's cache, but a pool of its own mind (OPcache off by
     * php_admin_value, restrict_api) is worth one look: read it once, in the next read. */
    next[i]->check_opcache = !d->opcache_reader && defaults.opcache;
    next[i]->cfg.opcache = d->opcache_reader || next[i]->check_opcache;
  }
  for (size_t j = 0; j < group->n; j++) {
    fcgx_pool_poll_release(&group->polls[j]);
    fcgx_pool_t *gone = group->pools[j]; /* its master stopped or its pool was removed */
    if (gone != NULL && gone->seen && !gone->was_up) /* clear what its FAILURE opened */
      notify(gone, NOTIF_OKAY, "fpm_up", NULL,
             "PHP-FPM pool \"%s\" is gone: its master stopped or the pool was removed",
             gone->cfg.name);
    if (gone != NULL)
      worker_cpu_free(&gone->workers_cpu);
    sfree(gone);
  }
  /* A pool that could not be allocated is left out of this round. */
  size_t n = 0;
  for (size_t i = 0; i < fresh.n; i++)
    if (next[i] != NULL) {
      next[n] = next[i];
      fresh.pools[n] = fresh.pools[i];
      polls[n].cfg = &next[n]->cfg;
      n++;
    }
  fresh.n = n;
  sfree(group->pools);
  sfree(group->polls);
  discovery_free(&group->found);
  group->pools = next;
  group->polls = polls;
  group->n = n;
  group->found = fresh;
  group->next_worker_walk = 0; /* new pools: find their workers at once */
  /* One log line each: collectd cuts a long one, and a host can have hundreds of pools. */
  for (char *line = fresh.report, *end; line != NULL && *line; line = end + 1) {
    end = strchr(line, '\n');
    if (end == NULL)
      break;
    INFO(PLUGIN " plugin: AutoDiscover: %.*s", (int)(end - line), line);
  }
}

/* For explicit pools on this host: which php-fpm master and [pool] each is, found by its listen
 * address in the masters' configurations, for its workers and pm.max_children. Rescanned at
 * most every DISCOVERY_RESCAN: a master may start, stop or reload meanwhile. */
static void find_masters(fcgx_group_t *group) {
  fcgx_pool_config_t defaults;
  discovery_t found;
  char err[300];
  bool needed = false;
  for (size_t i = 0; i < group->n; i++)
    needed = needed || group->pools[i]->workers;
  if (!needed)
    return; /* a /proc walk and every master's configuration: only when they serve */
  fcgx_pool_config_defaults(&defaults);
  discovered_pool_t *mapped = calloc(group->n ? group->n : 1, sizeof(*mapped));
  if (mapped == NULL ||
      discovery_scan(PROC_ROOT, &defaults, NULL, NULL, &found, err, sizeof(err)) != 0) {
    free(mapped);
    return; /* no /proc: these figures are simply not there */
  }
  for (size_t i = 0; i < group->n; i++) {
    fcgx_pool_t *pool = group->pools[i];
    for (size_t j = 0; j < found.n && mapped[i].master_pid == 0; j++)
      if (strcmp(found.pools[j].cfg.addr.display, pool->cfg.addr.display) == 0)
        mapped[i] = found.pools[j];
    if (pool->workers && !pool->max_children_set)
      pool->cfg.max_children = mapped[i].cfg.max_children; /* 0 when not found */
  }
  discovery_free(&found);
  free(group->found.pools);
  group->found.pools = mapped;
  group->found.n = group->n;
  group->next_worker_walk = 0; /* masters may have changed: find their workers at once */
}

/* For pools whose master is known: their workers as /proc sees them, even during saturation. */
static void submit_workers(fcgx_group_t *group) {
  worker_usage_t *usage = calloc(group->n ? group->n : 1, sizeof(*usage));
  worker_cpu_t **cpu = calloc(group->n ? group->n : 1, sizeof(worker_cpu_t *));
  if (usage == NULL || cpu == NULL) {
    free(usage);
    free(cpu);
    return;
  }
  for (size_t i = 0; i < group->n; i++)
    cpu[i] = &group->pools[i]->workers_cpu;
  /* Walking /proc finds new workers; in between, the known ones are read directly. */
  bool walk = cdtime() >= group->next_worker_walk;
  if (walk)
    group->next_worker_walk = cdtime() + DISCOVERY_RESCAN;
  discovery_worker_usage(PROC_ROOT, group->found.pools, group->n, walk, cpu, usage);
  free(cpu);
  for (size_t i = 0; i < group->n; i++) {
    const fcgx_pool_t *pool = group->pools[i];
    if (!usage[i].master_alive || !pool->workers)
      continue; /* not a pool of a master running on this host, or not wanted */
    submit_gauge(pool, "fpm_workers", "count", usage[i].count);
    /* hundredths of a CPU second: the rate is the percent of one core */
    submit_derive(pool, "fpm_workers_cpu", NULL, usage[i].cpu_seconds * 100);
    submit_gauge(pool, "fpm_workers_memory", "rss", usage[i].rss_bytes);
  }
  free(usage);
}

/* A discovered pool read once beside its master's reader: says when its OPcache differs. */
static void compare_opcache(fcgx_group_t *group, size_t i) {
  fcgx_pool_t *pool = group->pools[i];
  const fcgx_pool_result_t *mine = &group->polls[i].result;
  const discovered_pool_t *me = &group->found.pools[i];
  for (size_t j = 0; j < group->n; j++) {
    const fcgx_pool_result_t *reader = &group->polls[j].result;
    if (j == i || !group->found.pools[j].opcache_reader ||
        group->found.pools[j].master_pid != me->master_pid || !reader->opcache_ok ||
        reader->opcache.availability != OPCACHE_OK)
      continue;
    char why[sizeof(mine->opcache_error)];
    if (mine->opcache_ok)
      opcache_unavailable(pool, &mine->opcache, why, sizeof(why));
    else
      sstrncpy(why, mine->opcache_error, sizeof(why));
    if (why[0] == '\0' && mine->opcache.enabled != reader->opcache.enabled)
      ssnprintf(why, sizeof(why), "OPcache is %s in this pool (php_admin_value[opcache.enable])",
                mine->opcache.enabled ? "on" : "off");
    if (why[0] != '\0' && mine->up)
      WARNING(PLUGIN " plugin: pool \"%s\": its OPcache differs from its master's (reported as "
                     "\"%s\"): %s",
              pool->cfg.name, group->pools[j]->opcache_instance, why);
  }
  pool->check_opcache = false;
  pool->cfg.opcache = false;
}

static int fcgx_read(user_data_t *ud) {
  fcgx_group_t *group = ud->data;
  if (cdtime() >= group->next_scan) {
    if (group->discovered)
      rescan(group);
    else
      find_masters(group);
    group->next_scan = cdtime() + DISCOVERY_RESCAN;
  }
  /* One timestamp for a read: the values of a poll belong together, and a slow read does not
   * crowd the next one into the same second (rrdtool refuses two updates at one time). */
  cdtime_t poll_time = cdtime();
  fcgx_pools_poll(group->polls, group->n);
  for (size_t i = 0; i < group->n; i++) {
    fcgx_pool_t *pool = group->pools[i];
    pool->poll_time = poll_time;
    fcgx_pool_result_t *res = &group->polls[i].result;
    log_result(pool, res);
    notify_changes(pool, res);
    submit_gauge(pool, "fpm_up", NULL, res->up ? 1 : 0);
    if (res->status_ok)
      submit_status(pool, res);
    if (res->ping_ok)
      submit_gauge(pool, "fpm_response_time", "ping", res->ping_seconds);
    if (pool->check_opcache)
      compare_opcache(group, i);
    else if (res->opcache_ok)
      submit_script(pool, res);
    /* The kernel's figures come whatever php-fpm answered: they show a saturated pool. */
    if (res->kernel_queue_ok) {
      submit_gauge(pool, "fpm_queue", "kernel", res->kernel_queue);
      submit_gauge(pool, "fpm_queue", "kernel_max", res->kernel_backlog);
    }
    fcgx_pool_poll_release(&group->polls[i]);
  }
  if (group->found.pools != NULL)
    submit_workers(group);
  /* Always 0: a failing read callback is suspended with its every pool, healthy ones included. */
  return 0;
}

/* ---- life cycle ---- */

static void group_free(void *data) {
  fcgx_group_t *group = data;
  if (group == NULL)
    return;
  for (size_t i = 0; i < group->n; i++) {
    fcgx_pool_poll_release(&group->polls[i]);
    worker_cpu_free(&group->pools[i]->workers_cpu);
    if (group->discovered) /* explicit pools are freed at shutdown */
      sfree(group->pools[i]);
  }
  discovery_free(&group->found);
  sfree(group->polls);
  sfree(group->pools);
  sfree(group);
}

static int register_group(cdtime_t interval) {
  fcgx_group_t *group = calloc(1, sizeof(*group));
  if (group == NULL)
    return -1;
  group->interval = interval;
  group->pools = calloc(pools_num, sizeof(fcgx_pool_t *));
  group->polls = calloc(pools_num, sizeof(*group->polls));
  if (group->pools == NULL || group->polls == NULL) {
    group_free(group);
    return -1;
  }
  for (size_t i = 0; i < pools_num; i++)
    if (pools[i]->interval == interval) {
      group->polls[group->n].cfg = &pools[i]->cfg;
      group->pools[group->n++] = pools[i];
    }

  char name[64];
  if (interval == 0)
    sstrncpy(name, PLUGIN, sizeof(name));
  else
    ssnprintf(name, sizeof(name), PLUGIN "-%.3fs", CDTIME_T_TO_DOUBLE(interval));
  return plugin_register_complex_read(PLUGIN, name, fcgx_read, interval,
                                      &(user_data_t){.data = group, .free_func = group_free});
}

static int register_discovery(void) {
  fcgx_group_t *group = calloc(1, sizeof(*group));
  if (group == NULL)
    return -1;
  group->discovered = true;
  C_COMPLAIN_INIT(&group->scan_complaint);
  rescan(group); /* the first scan at start: its log line says what was found */
  group->next_scan = cdtime() + DISCOVERY_RESCAN;
  return plugin_register_complex_read(PLUGIN, PLUGIN "-discovered", fcgx_read, 0,
                                      &(user_data_t){.data = group, .free_func = group_free});
}

static int fcgx_init(void) {
  if (auto_discover && register_discovery() != 0) {
    ERROR(PLUGIN " plugin: cannot register the AutoDiscover read callback");
    return -1;
  }
  if (pools_num == 0) {
    if (!auto_discover)
      WARNING(PLUGIN " plugin: no <Pool> configured and AutoDiscover off: nothing to poll");
    return 0;
  }
  for (size_t i = 0; i < pools_num; i++) {
    /* Host names are looked up now, not in a read where the lookup would be under no deadline;
     * a failure is only logged here and retried by the reads, at most once a minute. */
    char err[300];
    if (fcgx_address_resolve(&pools[i]->cfg.addr, err, sizeof(err)) != 0 ||
        (pools[i]->cfg.has_status_addr &&
         fcgx_address_resolve(&pools[i]->cfg.status_addr, err, sizeof(err)) != 0))
      WARNING(PLUGIN " plugin: pool \"%s\": %s", pools[i]->cfg.name, err);
    if (!pools[i]->timeout_set)
      pools[i]->cfg.timeout_ms = default_timeout_ms;
    if (!pools[i]->script_set && default_script[0])
      sstrncpy(pools[i]->cfg.opcache_script, default_script, sizeof(pools[i]->cfg.opcache_script));
  }

  /* One read callback per distinct Interval; each polls all of its pools at once. */
  for (size_t i = 0; i < pools_num; i++) {
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = pools[j]->interval == pools[i]->interval;
    if (!seen && register_group(pools[i]->interval) != 0) {
      ERROR(PLUGIN " plugin: cannot register the read callback");
      return -1;
    }
  }
  INFO(PLUGIN " plugin: polling %zu pool(s)", pools_num);
  return 0;
}

static int fcgx_shutdown(void) {
  for (size_t i = 0; i < pools_num; i++)
    sfree(pools[i]);
  sfree(pools);
  pools_num = 0;
  return 0;
}

void module_register(void) {
  plugin_register_complex_config(PLUGIN, fcgx_config);
  plugin_register_init(PLUGIN, fcgx_init);
  plugin_register_shutdown(PLUGIN, fcgx_shutdown);
}
