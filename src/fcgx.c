/* collectd glue: configuration, read callbacks (one per distinct pool Interval), mapping each
 * pool's poll result to value lists, and logging. The only file that includes collectd. */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"
#include "utils_complain.h"

#include "pool.h"

#define PLUGIN "fcgx"

typedef struct {
  fcgx_pool_config_t cfg;
  bool timeout_set;  /* else the plugin-wide Timeout applies */
  cdtime_t interval; /* 0: collectd's global Interval */
  c_complain_t down_complaint;
  c_complain_t status_complaint;
  c_complain_t details_complaint;
  c_complain_t opcache_complaint;
  c_complain_t kernel_queue_complaint;
  double start_time;  /* of the php-fpm master, as last seen: a change is a restart or reload */
  cdtime_t poll_time; /* when the values being dispatched were polled */
} fcgx_pool_t;

/* The pools that share one Interval, read by one callback. */
typedef struct {
  cdtime_t interval;
  fcgx_pool_t **pools;
  fcgx_pool_poll_t *polls;
  size_t n;
} fcgx_group_t;

static fcgx_pool_t **pools;
static size_t pools_num;
static int default_timeout_ms = FCGX_DEFAULT_TIMEOUT_MS;

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
  for (const char *p = name; *p; p++)
    if (*p == '/' || *p == '"' || *p == '\\' || (unsigned char)*p <= ' ' || *p == 0x7f) {
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

  fcgx_pool_t *pool = calloc(1, sizeof(*pool));
  if (pool == NULL)
    return -1;
  fcgx_pool_config_defaults(&pool->cfg);
  sstrncpy(pool->cfg.name, name, sizeof(pool->cfg.name));
  C_COMPLAIN_INIT(&pool->down_complaint);
  C_COMPLAIN_INIT(&pool->status_complaint);
  C_COMPLAIN_INIT(&pool->details_complaint);
  C_COMPLAIN_INIT(&pool->opcache_complaint);
  C_COMPLAIN_INIT(&pool->kernel_queue_complaint);

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
    else if (strcasecmp(child->key, "MaxReplySize") == 0) {
      int bytes = 0;
      rc = cf_util_get_int(child, &bytes);
      if (rc == 0 && bytes < 4096) {
        ERROR(PLUGIN " plugin: pool \"%s\": MaxReplySize must be at least 4096 bytes", name);
        rc = -1;
      }
      pool->cfg.max_reply = (size_t)bytes;
    } else if (strcasecmp(child->key, "OPcache") == 0)
      rc = cf_util_get_boolean(child, &pool->cfg.opcache);
    else if (strcasecmp(child->key, "OPcacheScript") == 0)
      rc = config_string(child, name, pool->cfg.opcache_script, sizeof(pool->cfg.opcache_script));
    else if (strcasecmp(child->key, "Timeout") == 0) {
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
    else {
      ERROR(PLUGIN " plugin: unknown option \"%s\" in <Plugin fcgx>", child->key);
      rc = -1;
    }
    if (rc != 0)
      return -1;
  }
  return 0;
}

/* ---- dispatch ---- */

static void submit(const fcgx_pool_t *pool, const char *type, const char *type_instance,
                   value_t value) {
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = &value;
  vl.values_len = 1;
  vl.time = pool->poll_time;
  sstrncpy(vl.plugin, PLUGIN, sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, pool->cfg.name, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  if (type_instance != NULL)
    sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

static void submit_gauge(const fcgx_pool_t *pool, const char *type, const char *type_instance,
                         double value) {
  submit(pool, type, type_instance, (value_t){.gauge = value});
}

static void submit_derive(const fcgx_pool_t *pool, const char *type, const char *type_instance,
                          double value) {
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
  submit_gauge(pool, "fpm_request_duration", "running_max", st->duration_running_max);
  if (st->idle_samples > 0) {
    submit_gauge(pool, "fpm_request_cpu", "avg", st->cpu_avg);
    submit_gauge(pool, "fpm_request_cpu", "max", st->cpu_max);
    submit_gauge(pool, "fpm_request_memory", "avg", st->memory_avg);
    submit_gauge(pool, "fpm_request_memory", "max", st->memory_max);
  }
}

static void submit_opcache(const fcgx_pool_t *pool, const opcache_report_t *oc) {
  if (oc->availability != OPCACHE_OK) {
    /* Not loaded, or off: say so, so that an alert can fire. Restricted: nothing is known. */
    if (oc->availability != OPCACHE_RESTRICTED)
      submit_gauge(pool, "opcache_state", "enabled", 0);
    return;
  }
  submit_gauge(pool, "opcache_state", "enabled", oc->enabled);
  submit_gauge(pool, "opcache_state", "cache_full", oc->cache_full);
  submit_gauge(pool, "opcache_state", "restart_pending", oc->restart_pending);
  submit_gauge(pool, "opcache_state", "restart_in_progress", oc->restart_in_progress);
  submit_gauge(pool, "opcache_memory", "used", oc->used_memory);
  submit_gauge(pool, "opcache_memory", "free", oc->free_memory);
  submit_gauge(pool, "opcache_memory", "wasted", oc->wasted_memory);
  submit_gauge(pool, "opcache_percent", "hit_rate", oc->hit_rate);
  submit_gauge(pool, "opcache_percent", "wasted", oc->wasted_percentage);
  submit_gauge(pool, "opcache_scripts", "cached", oc->cached_scripts);
  submit_gauge(pool, "opcache_keys", "cached", oc->cached_keys);
  submit_gauge(pool, "opcache_keys", "max", oc->max_cached_keys);
  submit_derive(pool, "opcache_lookups", "hits", oc->hits);
  submit_derive(pool, "opcache_lookups", "misses", oc->misses);
  submit_derive(pool, "opcache_lookups", "blacklist_misses", oc->blacklist_misses);
  submit_derive(pool, "opcache_restarts", "oom", oc->oom_restarts);
  submit_derive(pool, "opcache_restarts", "hash", oc->hash_restarts);
  submit_derive(pool, "opcache_restarts", "manual", oc->manual_restarts);
  if (oc->has_strings) {
    submit_gauge(pool, "opcache_strings_memory", "used", oc->strings_used);
    submit_gauge(pool, "opcache_strings_memory", "free", oc->strings_free);
    submit_gauge(pool, "opcache_strings", "count", oc->strings_count);
  }
  if (oc->has_jit) {
    submit_gauge(pool, "opcache_jit_memory", "size", oc->jit_size);
    submit_gauge(pool, "opcache_jit_memory", "free", oc->jit_free);
  }
  if (oc->has_preload) {
    submit_gauge(pool, "opcache_preload_memory", NULL, oc->preload_memory);
    submit_gauge(pool, "opcache_preload", "scripts", oc->preload_scripts);
    submit_gauge(pool, "opcache_preload", "functions", oc->preload_functions);
    submit_gauge(pool, "opcache_preload", "classes", oc->preload_classes);
  }
}

static void submit_script(const fcgx_pool_t *pool, const fcgx_pool_result_t *res) {
  const opcache_report_t *rep = &res->opcache;
  submit_opcache(pool, rep);
  if (rep->has_apcu) {
    submit_gauge(pool, "apcu_memory", "used", rep->apcu_used);
    submit_gauge(pool, "apcu_memory", "free", rep->apcu_free);
    submit_gauge(pool, "apcu_entries", NULL, rep->apcu_entries);
    submit_derive(pool, "apcu_lookups", "hits", rep->apcu_hits);
    submit_derive(pool, "apcu_lookups", "misses", rep->apcu_misses);
    submit_derive(pool, "apcu_events", "expunges", rep->apcu_expunges);
  }
  if (rep->has_realpath) {
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

  /* A reload (SIGUSR2) or restart starts every counter again: collectd turns the drop into no
   * rate (DERIVE, minimum 0) rather than a negative one; say why the counters fell. */
  if (res->status_ok) {
    if (pool->start_time != 0 && res->status.start_time != pool->start_time)
      INFO(PLUGIN " plugin: pool \"%s\": php-fpm was restarted or reloaded (uptime %.0f s): its "
                  "counters start again",
           name, res->status.start_since);
    pool->start_time = res->status.start_time;
  }

  if (!res->up || !res->opcache_enabled)
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

static int fcgx_read(user_data_t *ud) {
  fcgx_group_t *group = ud->data;
  /* One timestamp for a read: the values of a poll belong together, and a slow read does not
   * crowd the next one into the same second (rrdtool refuses two updates at one time). */
  cdtime_t poll_time = cdtime();
  fcgx_pools_poll(group->polls, group->n);
  for (size_t i = 0; i < group->n; i++) {
    fcgx_pool_t *pool = group->pools[i];
    pool->poll_time = poll_time;
    fcgx_pool_result_t *res = &group->polls[i].result;
    log_result(pool, res);
    submit_gauge(pool, "fpm_up", NULL, res->up ? 1 : 0);
    if (res->status_ok)
      submit_status(pool, res);
    if (res->ping_ok)
      submit_gauge(pool, "fpm_response_time", "ping", res->ping_seconds);
    if (res->opcache_ok)
      submit_script(pool, res);
    /* The kernel's figures come whatever php-fpm answered: they show a saturated pool. */
    if (res->kernel_queue_ok) {
      submit_gauge(pool, "fpm_queue", "kernel", res->kernel_queue);
      submit_gauge(pool, "fpm_queue", "kernel_max", res->kernel_backlog);
    }
    fcgx_pool_poll_release(&group->polls[i]);
  }
  /* Always 0: a failing read callback is suspended with its every pool, healthy ones included. */
  return 0;
}

/* ---- life cycle ---- */

static void group_free(void *data) {
  fcgx_group_t *group = data;
  if (group == NULL)
    return;
  for (size_t i = 0; i < group->n; i++)
    fcgx_pool_poll_release(&group->polls[i]);
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

static int fcgx_init(void) {
  if (pools_num == 0) {
    WARNING(PLUGIN " plugin: no <Pool> configured: nothing to poll");
    return 0;
  }
  for (size_t i = 0; i < pools_num; i++)
    if (!pools[i]->timeout_set)
      pools[i]->cfg.timeout_ms = default_timeout_ms;

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
