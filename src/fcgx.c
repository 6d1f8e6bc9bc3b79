/* collectd glue: the configuration into the pool set, one read callback per group of pools,
 * each pool's poll turned into value lists (the metric catalogue), log lines (c_complain) and
 * notifications (pool events). The only file that includes collectd. */
#include "collectd.h"

#include "plugin.h"
#include "utils/common/common.h"
#include "utils_complain.h"

#include "metrics.h"
#include "pool_events.h"
#include "pool_set.h"

#define PLUGIN "fcgx"
#define PROC_ROOT "/proc"

/* A <Pool> block as read, until init puts it into the pool set. */
typedef struct {
  fcgx_pool_config_t cfg;
  cdtime_t interval; /* 0: collectd's global Interval */
  bool workers;      /* look its master up in /proc: its workers, and pm.max_children */
  bool timeout_set;  /* else the plugin-wide Timeout applies */
  bool script_set;   /* else the plugin-wide OPcacheScript applies */
} pool_options_t;

/* The glue's own state of each pool: what it has complained about (pool_entry_t.user). */
typedef struct {
  c_complain_t down, status, details, opcache, kernel_queue, range;
} complaints_t;

static pool_options_t *configured;
static size_t configured_num;
static int default_timeout_ms = FCGX_DEFAULT_TIMEOUT_MS;
static bool auto_discover;
static char default_script[512]; /* <Plugin fcgx> OPcacheScript: "" for the built-in default */

/* Built by init, read by the read callbacks; freed once shutdown and every callback let go. */
static pool_set_t *set;
static size_t set_refs;
static c_complain_t scan_complaint = C_COMPLAIN_INIT_STATIC;

/* ---- configuration ---- */

/* A <Pool> block while it is read: its options and the address strings they give. */
typedef struct {
  pool_options_t o;
  char socket[256], host[256], port[32];
  char status_socket[256], status_host[256], status_port[32];
} pool_block_t;

typedef enum { OPT_STRING, OPT_SERVICE, OPT_BOOL, OPT_INT, OPT_SIZE, OPT_TIME } option_kind_t;

/* One option of <Pool>: where it goes in a pool_block_t, and the least value it takes. */
typedef struct {
  const char *key;
  option_kind_t kind;
  size_t offset, size; /* size: of a string's buffer */
  int min;             /* OPT_INT, OPT_SIZE: the least value; OPT_TIME: must be positive */
  const char *rule;    /* what the error says it must be */
  ssize_t set_flag;    /* offset of a bool set when the option is given, or -1 */
} option_t;

#define AT(field) offsetof(pool_block_t, field), sizeof(((pool_block_t *)0)->field)
#define CFG(field) AT(o.cfg.field)
static const option_t pool_options[] = {
    {"Socket", OPT_STRING, AT(socket), 0, NULL, -1},
    {"Host", OPT_STRING, AT(host), 0, NULL, -1},
    {"Port", OPT_SERVICE, AT(port), 0, NULL, -1},
    {"StatusSocket", OPT_STRING, AT(status_socket), 0, NULL, -1},
    {"StatusHost", OPT_STRING, AT(status_host), 0, NULL, -1},
    {"StatusPort", OPT_SERVICE, AT(status_port), 0, NULL, -1},
    {"StatusPath", OPT_STRING, CFG(status_path), 0, NULL, -1},
    {"PingPath", OPT_STRING, CFG(ping_path), 0, NULL, -1},
    {"PingResponse", OPT_STRING, CFG(ping_response), 0, NULL, -1},
    {"ProcessDetails", OPT_BOOL, CFG(process_details), 0, NULL, -1},
    {"MaxChildren", OPT_INT, CFG(max_children), 1, "positive (pm.max_children)", -1},
    {"MaxReplySize", OPT_SIZE, CFG(max_reply), 4096, "at least 4096 bytes", -1},
    {"Workers", OPT_BOOL, AT(o.workers), 0, NULL, -1},
    {"KernelQueue", OPT_BOOL, CFG(kernel_queue), 0, NULL, -1},
    {"OPcacheInstance", OPT_STRING, CFG(opcache_instance), 0, NULL, -1},
    {"OPcache", OPT_BOOL, CFG(opcache), 0, NULL, -1},
    {"OPcacheScript", OPT_STRING, CFG(opcache_script), 0, NULL,
     offsetof(pool_block_t, o.script_set)},
    {"Timeout", OPT_INT, CFG(timeout_ms), 1, "a positive number of milliseconds",
     offsetof(pool_block_t, o.timeout_set)},
    {"Interval", OPT_TIME, AT(o.interval), 0, "positive", -1},
};

static int config_string(const oconfig_item_t *ci, const char *pool, char *buf, size_t size) {
  char *value = NULL;
  if (cf_util_get_string(ci, &value) != 0)
    return -1;
  size_t len = strlen(value);
  if (len >= size)
    ERROR(PLUGIN " plugin: %s: %s is %zu bytes, at most %zu allowed", pool, ci->key, len, size - 1);
  else
    sstrncpy(buf, value, size);
  sfree(value);
  return len < size ? 0 : -1;
}

static int config_option(const oconfig_item_t *ci, const option_t *opt, pool_block_t *b,
                         const char *where) {
  void *field = (char *)b + opt->offset;
  int value = 0, rc;
  switch (opt->kind) {
  case OPT_STRING:
    return config_string(ci, where, field, opt->size);
  case OPT_SERVICE: {
    char *service = NULL;
    rc = cf_util_get_service(ci, &service);
    if (rc != 0 || strlen(service) >= opt->size)
      ERROR(PLUGIN " plugin: %s: bad %s", where, ci->key);
    else
      sstrncpy(field, service, opt->size);
    rc = rc != 0 || strlen(service) >= opt->size ? -1 : 0;
    sfree(service);
    return rc;
  }
  case OPT_BOOL:
    return cf_util_get_boolean(ci, field);
  case OPT_TIME:
    rc = cf_util_get_cdtime(ci, field);
    if (rc == 0 && *(cdtime_t *)field == 0) {
      ERROR(PLUGIN " plugin: %s: %s must be %s", where, ci->key, opt->rule);
      return -1;
    }
    return rc;
  case OPT_INT:
  case OPT_SIZE:
    if (cf_util_get_int(ci, &value) != 0)
      return -1;
    if (value < opt->min) {
      ERROR(PLUGIN " plugin: %s: %s must be %s, not %d", where, ci->key, opt->rule, value);
      return -1;
    }
    if (opt->kind == OPT_SIZE)
      *(size_t *)field = (size_t)value;
    else
      *(int *)field = value;
    return 0;
  }
  return -1;
}

/* What a <Pool> block must hold besides its options' own ranges. */
static int check_pool(pool_block_t *b, const char *where) {
  fcgx_pool_config_t *cfg = &b->o.cfg;
  char err[500];
  int rc = fcgx_address_set(&cfg->addr, "", b->socket, b->host, b->port, err, sizeof(err));
  cfg->has_status_addr = b->status_socket[0] || b->status_host[0] || b->status_port[0];
  if (rc == 0 && cfg->has_status_addr)
    rc = fcgx_address_set(&cfg->status_addr, "Status", b->status_socket, b->status_host,
                          b->status_port, err, sizeof(err));
  if (rc == 0)
    rc = fcgx_pool_config_check(cfg, err, sizeof(err));
  if (rc != 0)
    ERROR(PLUGIN " plugin: %s: %s", where, err);
  return rc;
}

/* collectd identifiers are host/plugin-instance/type-instance, and writers turn them into file
 * names, Graphite paths and Prometheus labels. */
static bool instance_ok(const char *what, const char *name) {
  if (name[0] != '\0' && fcgx_instance_valid(name) && strlen(name) < DATA_MAX_NAME_LEN)
    return true;
  ERROR(PLUGIN " plugin: %s \"%s\" cannot be a collectd plugin instance: it must not be empty or "
               "longer than %d bytes, nor contain '/', quotes, backslashes, spaces or control "
               "characters",
        what, name, DATA_MAX_NAME_LEN - 1);
  return false;
}

static int config_pool(const oconfig_item_t *ci) {
  pool_block_t b = {.o.workers = true};
  char where[DATA_MAX_NAME_LEN + 16];
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
    ERROR(PLUGIN " plugin: <Pool> needs exactly one string argument, its name");
    return -1;
  }
  const char *name = ci->values[0].value.string;
  if (!instance_ok("pool name", name))
    return -1;
  for (size_t i = 0; i < configured_num; i++)
    if (strcmp(configured[i].cfg.name, name) == 0) {
      ERROR(PLUGIN " plugin: pool \"%s\" is configured twice", name);
      return -1;
    }
  fcgx_pool_config_defaults(&b.o.cfg);
  sstrncpy(b.o.cfg.name, name, sizeof(b.o.cfg.name));
  ssnprintf(where, sizeof(where), "pool \"%s\"", name);

  for (int i = 0; i < ci->children_num; i++) {
    const oconfig_item_t *child = ci->children + i;
    const option_t *opt = NULL;
    for (size_t k = 0; k < STATIC_ARRAY_SIZE(pool_options) && opt == NULL; k++)
      if (strcasecmp(child->key, pool_options[k].key) == 0)
        opt = &pool_options[k];
    if (opt == NULL) {
      ERROR(PLUGIN " plugin: %s: unknown option \"%s\"", where, child->key);
      return -1;
    }
    if (config_option(child, opt, &b, where) != 0)
      return -1;
    if (opt->set_flag >= 0)
      *(bool *)((char *)&b + opt->set_flag) = true;
  }
  if (check_pool(&b, where) != 0)
    return -1;
  pool_options_t *grown = realloc(configured, (configured_num + 1) * sizeof(*grown));
  if (grown == NULL)
    return -1;
  configured = grown;
  configured[configured_num++] = b.o;
  return 0;
}

static int fcgx_config(oconfig_item_t *ci) {
  for (int i = 0; i < ci->children_num; i++) {
    oconfig_item_t *child = ci->children + i;
    int rc;
    if (strcasecmp(child->key, "Pool") == 0)
      rc = config_pool(child);
    else if (strcasecmp(child->key, "Timeout") == 0) {
      rc = cf_util_get_int(child, &default_timeout_ms);
      if (rc == 0 && default_timeout_ms <= 0) {
        ERROR(PLUGIN " plugin: <Plugin fcgx>: Timeout must be a positive number of "
                     "milliseconds, not %d",
              default_timeout_ms);
        rc = -1;
      }
    } else if (strcasecmp(child->key, "MaxConnections") == 0) {
      int cap = 0;
      rc = cf_util_get_int(child, &cap);
      if (rc == 0 && cap < 1) {
        ERROR(PLUGIN " plugin: <Plugin fcgx>: MaxConnections must be positive, not %d", cap);
        rc = -1;
      }
      if (rc == 0)
        fcgx_pools_max_connections((size_t)cap);
    } else if (strcasecmp(child->key, "AutoDiscover") == 0)
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

/* ---- values and notifications ---- */

/* OPcache and APCu live in the master's shared memory: under the master's name when the plugin
 * knows it, else under the pool's. */
static const char *instance_of(const pool_entry_t *pool, metric_owner_t owner) {
  return owner == METRIC_OF_CACHE && pool->cfg.opcache_instance[0] ? pool->cfg.opcache_instance
                                                                   : pool->cfg.name;
}

static void dispatch(const pool_entry_t *pool, cdtime_t time, const metric_t *m, double v) {
  value_t value;
  value_list_t vl = VALUE_LIST_INIT;
  if (m->kind == METRIC_DERIVE)
    value.derive = (derive_t)v;
  else
    value.gauge = v;
  vl.values = &value;
  vl.values_len = 1;
  vl.time = time;
  sstrncpy(vl.plugin, PLUGIN, sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, instance_of(pool, m->owner), sizeof(vl.plugin_instance));
  sstrncpy(vl.type, m->type, sizeof(vl.type));
  if (m->type_instance != NULL)
    sstrncpy(vl.type_instance, m->type_instance, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

/* Every value the catalogue finds in the pool's poll. */
static void submit(const pool_entry_t *pool, cdtime_t time) {
  const metric_source_t src = {
      .res = &pool->poll.result,
      .max_children = pool->max_children,
      .workers = &pool->workers,
      .script = pool->reports_cache && !pool->compare_now,
  };
  for (size_t i = 0; i < fcgx_metrics_count; i++) {
    double v;
    if (metric_value(&fcgx_metrics[i], &src, &v))
      dispatch(pool, time, &fcgx_metrics[i], v);
  }
}

/* What an operator is paged for, per event. */
static const struct {
  int severity;
  const char *type, *type_instance;
} notices[] = {
    [POOL_EVENT_DOWN] = {NOTIF_FAILURE, "fpm_up", NULL},
    [POOL_EVENT_UP] = {NOTIF_OKAY, "fpm_up", NULL},
    [POOL_EVENT_GONE] = {NOTIF_OKAY, "fpm_up", NULL},
    [POOL_EVENT_OPCACHE_OOM_RESTART] = {NOTIF_WARNING, "opcache_restarts", "oom"},
    [POOL_EVENT_OPCACHE_HASH_RESTART] = {NOTIF_WARNING, "opcache_restarts", "hash"},
    [POOL_EVENT_OPCACHE_FULL] = {NOTIF_WARNING, "opcache_state", "cache_full"},
    [POOL_EVENT_OPCACHE_NOT_FULL] = {NOTIF_OKAY, "opcache_state", "cache_full"},
};

static void announce(const pool_entry_t *pool, pool_event_t event, cdtime_t time) {
  notification_t n = {.severity = notices[event.kind].severity, .time = time};
  pool_event_describe(event, pool->cfg.name, &pool->poll.result, n.message, sizeof(n.message));
  if (event.kind == POOL_EVENT_RELOAD) {
    /* a log line: collectd turns the counters' drop into no rate (DERIVE, minimum 0) */
    INFO(PLUGIN " plugin: %s", n.message);
    return;
  }
  /* OPcache's notifications go where its values go. */
  metric_owner_t owner =
      strncmp(notices[event.kind].type, "opcache", 7) == 0 ? METRIC_OF_CACHE : METRIC_OF_POOL;
  sstrncpy(n.host, hostname_g, sizeof(n.host));
  sstrncpy(n.plugin, PLUGIN, sizeof(n.plugin));
  sstrncpy(n.plugin_instance, instance_of(pool, owner), sizeof(n.plugin_instance));
  sstrncpy(n.type, notices[event.kind].type, sizeof(n.type));
  if (notices[event.kind].type_instance != NULL)
    sstrncpy(n.type_instance, notices[event.kind].type_instance, sizeof(n.type_instance));
  plugin_dispatch_notification(&n);
}

/* Logs each kind of failure once, and its recovery once. */
static void log_result(const pool_entry_t *pool, complaints_t *c) {
  const fcgx_pool_result_t *res = &pool->poll.result;
  const char *name = pool->cfg.name;
  if (res->plan != FCGX_POLL_ASK) { /* asleep or resting: up, nothing asked */
    c_release(LOG_INFO, &c->down, PLUGIN " plugin: pool \"%s\": up again", name);
    return;
  }
  /* The status error says more (it names a broken reply); ping's when status answered. */
  if (!res->up)
    c_complain_once(LOG_ERR, &c->down, PLUGIN " plugin: pool \"%s\": down: %s", name,
                    res->status_ok ? res->ping_error : res->status_error);
  else
    c_release(LOG_INFO, &c->down, PLUGIN " plugin: pool \"%s\": up again", name);

  if (res->up && !res->status_ok)
    c_complain_once(LOG_ERR, &c->status, PLUGIN " plugin: pool \"%s\": no status figures: %s", name,
                    res->status_error);
  else if (res->status_ok)
    c_release(LOG_INFO, &c->status, PLUGIN " plugin: pool \"%s\": status readable again", name);

  if (res->status_ok && res->fallback_reason[0])
    c_complain_once(LOG_WARNING, &c->details,
                    PLUGIN " plugin: pool \"%s\": reporting pool figures without process details: "
                           "%s",
                    name, res->fallback_reason);
  else if (res->status_ok && res->status_full)
    c_release(LOG_INFO, &c->details, PLUGIN " plugin: pool \"%s\": process details readable again",
              name);

  if (res->kernel_queue_error[0])
    c_complain_once(LOG_WARNING, &c->kernel_queue,
                    PLUGIN " plugin: pool \"%s\": no kernel queue figures: %s", name,
                    res->kernel_queue_error);
  else
    c_release(LOG_INFO, &c->kernel_queue,
              PLUGIN " plugin: pool \"%s\": kernel queue figures readable again", name);

  /* php-fpm prints a request that began after its page's clock reading with a negative
   * duration, unsigned (php bug 62382): such figures are left out of the values. */
  const char *first;
  size_t left_out = fcgx_pool_result_left_out(res, &first);
  if (left_out > 0)
    c_complain_once(LOG_WARNING, &c->range,
                    PLUGIN " plugin: pool \"%s\": %zu figure(s) out of range left out of this "
                           "poll, e.g. %s (logged once)",
                    name, left_out, first);

  if (!res->up || !res->opcache_enabled || pool->compare_now)
    return;
  char why[sizeof(res->opcache_error)];
  if (res->opcache_ok)
    fcgx_opcache_unavailable(&pool->cfg, &res->opcache, why, sizeof(why));
  else
    sstrncpy(why, res->opcache_error, sizeof(why));
  if (why[0])
    c_complain_once(LOG_WARNING, &c->opcache, PLUGIN " plugin: pool \"%s\": no OPcache figures: %s",
                    name, why);
  else
    c_release(LOG_INFO, &c->opcache, PLUGIN " plugin: pool \"%s\": OPcache figures readable again",
              name);
}

/* A discovered pool read once beside its master's reader: says when its OPcache differs. */
static void compare_opcache(const pool_group_t *group, const pool_entry_t *pool) {
  char why[600];
  const pool_entry_t *reader = pool_group_opcache_differs(group, pool, why, sizeof(why));
  if (reader != NULL)
    WARNING(PLUGIN " plugin: pool \"%s\": its OPcache differs from its master's (reported as "
                   "\"%s\"): %s",
            pool->cfg.name, reader->cfg.opcache_instance, why);
}

static int fcgx_read(user_data_t *ud) {
  pool_group_t *group = ud->data;
  uint64_t start_ns = fcgx_now_ns();
  pool_group_refresh(set, group, start_ns);
  /* One timestamp for a read: the values of a poll belong together, and a slow read does not
   * crowd the next one into the same second (rrdtool refuses two updates at one time). */
  cdtime_t time = cdtime();
  /* The read ends within the Interval: pools that waited for a connection get what is left. */
  cdtime_t interval = group->interval ? (cdtime_t)group->interval : plugin_get_interval();
  pool_group_poll(set, group, start_ns,
                  start_ns + (uint64_t)(CDTIME_T_TO_DOUBLE(interval) * 0.9 * 1e9));
  size_t skipped = 0;
  const pool_entry_t *first_skipped = NULL;
  for (size_t i = 0; i < group->n; i++) {
    pool_entry_t *pool = group->pools[i];
    if (pool->poll.result.plan == FCGX_POLL_SKIPPED) { /* no figure, not down: fcgx's fault */
      first_skipped = first_skipped != NULL ? first_skipped : pool;
      skipped++;
      continue;
    }
    if (pool->user == NULL && (pool->user = calloc(1, sizeof(complaints_t))) == NULL)
      continue;
    log_result(pool, pool->user);
    /* A pool's OPcache events come from the pool that reports its cache: a one-off comparison
     * read would repeat the reader's, from a state that is not kept up to date. */
    fcgx_pool_result_t seen = pool->poll.result;
    seen.opcache_ok = seen.opcache_ok && pool->reports_cache && !pool->compare_now;
    pool_event_t events[POOL_EVENTS_MAX];
    for (size_t k = 0, n = pool_events_next(&pool->events, &seen, events); k < n; k++)
      announce(pool, events[k], time);
    submit(pool, time);
    if (pool->compare_now)
      compare_opcache(group, pool);
  }
  /* pools left unpolled for want of fcgx's own means (descriptors, time): one line for all */
  c_complain_t *complaint = group->user;
  if (skipped > 0)
    c_complain(LOG_WARNING, complaint,
               PLUGIN " plugin: %zu of %zu pools not polled in this read (no value, not down), "
                      "e.g. \"%s\": %s",
               skipped, group->n, first_skipped->cfg.name, first_skipped->poll.result.skipped);
  else
    c_release(LOG_INFO, complaint, PLUGIN " plugin: every pool polled again");
  pool_group_release(group);
  /* Always 0: a failing read callback is suspended with its every pool, healthy ones included. */
  return 0;
}

/* ---- life cycle ---- */

static void on_report(void *ctx, const char *line, bool warning) {
  (void)ctx;
  if (warning)
    WARNING(PLUGIN " plugin: AutoDiscover: %s", line);
  else
    INFO(PLUGIN " plugin: AutoDiscover: %s", line);
}

static void on_scan_failed(void *ctx, const char *err) {
  (void)ctx;
  if (err != NULL)
    c_complain(LOG_ERR, &scan_complaint, PLUGIN " plugin: AutoDiscover: %s", err);
  else
    c_release(LOG_INFO, &scan_complaint, PLUGIN " plugin: AutoDiscover works again");
}

static void on_pool_gone(void *ctx, pool_entry_t *pool) {
  (void)ctx;
  if (pool_events_gone(&pool->events)) /* clear what its FAILURE notification opened */
    announce(pool, (pool_event_t){POOL_EVENT_GONE, 0}, cdtime());
  sfree(pool->user);
}

/* The set is freed by whichever lets go last: shutdown, or collectd freeing a read callback
 * (after a failed init, on a read thread). */
static void set_release(void *unused) {
  static pthread_mutex_t refs_lock = PTHREAD_MUTEX_INITIALIZER;
  (void)unused;
  pthread_mutex_lock(&refs_lock);
  bool last = set_refs > 0 && --set_refs == 0;
  pthread_mutex_unlock(&refs_lock);
  if (!last)
    return;
  for (size_t g = 0; g < pool_set_group_count(set); g++) {
    pool_group_t *group = pool_set_group(set, g);
    for (size_t i = 0; i < group->n; i++)
      sfree(group->pools[i]->user);
    sfree(group->user);
  }
  pool_set_free(set);
  set = NULL;
}

static void group_name(const pool_group_t *group, char *buf, size_t size) {
  if (group->discovered)
    sstrncpy(buf, PLUGIN "-discovered", size);
  else if (group->interval == 0)
    sstrncpy(buf, PLUGIN, size);
  else
    ssnprintf(buf, size, PLUGIN "-%.3fs", CDTIME_T_TO_DOUBLE(group->interval));
}

static int fcgx_init(void) {
  fcgx_pool_config_t defaults;
  fcgx_pool_config_defaults(&defaults);
  defaults.timeout_ms = default_timeout_ms;
  if (default_script[0])
    sstrncpy(defaults.opcache_script, default_script, sizeof(defaults.opcache_script));
  const pool_set_hooks_t hooks = {on_report, on_scan_failed, on_pool_gone, NULL};
  set = pool_set_new(PROC_ROOT, auto_discover ? &defaults : NULL, &hooks);
  if (set == NULL)
    return -1;
  set_refs = 1; /* shutdown's */
  for (size_t i = 0; i < configured_num; i++) {
    pool_options_t *o = &configured[i];
    if (!o->timeout_set)
      o->cfg.timeout_ms = default_timeout_ms;
    if (!o->script_set && default_script[0])
      sstrncpy(o->cfg.opcache_script, default_script, sizeof(o->cfg.opcache_script));
    pool_entry_t *pool = pool_set_add(set, &o->cfg, o->interval, o->workers);
    if (pool == NULL)
      return -1;
    /* Host names are looked up now, not in a read where the lookup would be under no deadline;
     * a failure is only logged here and retried by the reads, at most once a minute. */
    char err[300];
    if (fcgx_pool_poll_resolve(&pool->poll, err, sizeof(err)) != 0)
      WARNING(PLUGIN " plugin: pool \"%s\": %s", o->cfg.name, err);
  }
  sfree(configured);
  if (pool_set_group_count(set) == 0)
    WARNING(PLUGIN " plugin: no <Pool> configured and AutoDiscover off: nothing to poll");

  for (size_t g = 0; g < pool_set_group_count(set); g++)
    if ((pool_set_group(set, g)->user = calloc(1, sizeof(c_complain_t))) == NULL)
      return -1;
  /* One read callback per group; each polls its pools, many at once. The AutoDiscover group
   * scans first, so that its log lines say at start what was found. */
  for (size_t g = 0; g < pool_set_group_count(set); g++) {
    pool_group_t *group = pool_set_group(set, g);
    char name[64];
    group_name(group, name, sizeof(name));
    if (group->discovered)
      pool_group_refresh(set, group, fcgx_now_ns());
    set_refs++;
    if (plugin_register_complex_read(PLUGIN, name, fcgx_read, group->interval,
                                     &(user_data_t){.data = group, .free_func = set_release}) == 0)
      continue;
    set_refs--;
    ERROR(PLUGIN " plugin: cannot register the read callback %s", name);
    /* Nothing half-started keeps running: unregister what was registered. */
    while (g-- > 0) {
      group_name(pool_set_group(set, g), name, sizeof(name));
      plugin_unregister_read(name);
    }
    return -1;
  }
  if (configured_num > 0)
    INFO(PLUGIN " plugin: polling %zu pool(s)", configured_num);
  return 0;
}

static int fcgx_shutdown(void) {
  sfree(configured);
  configured_num = 0;
  set_release(NULL);
  return 0;
}

void module_register(void) {
  plugin_register_complex_config(PLUGIN, fcgx_config);
  plugin_register_init(PLUGIN, fcgx_init);
  plugin_register_shutdown(PLUGIN, fcgx_shutdown);
}
