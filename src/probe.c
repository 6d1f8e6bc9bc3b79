/* fcgx-probe: one pool's poll from the command line, for people and for health checks (Nagios
 * exit codes, Kubernetes exec probes). The same core as the plugin: pool.c does the work. */
#include "metrics.h"
#include "pool.h"

#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_OK = 0, EXIT_WARNING = 1, EXIT_CRITICAL = 2, EXIT_UNKNOWN = 3 };

static const char usage[] =
    "Usage: fcgx-probe [OPTIONS] CHECK\n"
    "Polls one PHP-FPM pool over FastCGI, as the fcgx collectd plugin does, and reports.\n"
    "\n"
    "CHECK (exit codes as a Nagios plugin: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN):\n"
    "  status   the pool's status figures (with process details); 2 when unreadable\n"
    "  ping     the ping answer and its round trip; 2 unless it answers PingResponse\n"
    "  opcache  OPcache, APCu and realpath cache read by fcgx-status.php inside the pool;\n"
    "           1 when the hit rate is below 95 %, more than 5 % is wasted or the cache is\n"
    "           full; 2 when the figures cannot be read\n"
    "  live     liveness: 0 when ping answers, else 2 (a Kubernetes livenessProbe)\n"
    "  ready    readiness: 0 when status answers with no connection waiting in the listen\n"
    "           queue and at least one idle worker, 1 when saturated, 2 when unreachable\n"
    "           (a Kubernetes readinessProbe)\n"
    "\n"
    "Address (one of):\n"
    "  -s, --socket PATH          the pool's unix socket (php-fpm `listen`)\n"
    "  -H, --host HOST -p, --port PORT   or its TCP address\n"
    "Options:\n"
    "  -S, --status-socket PATH   the pool's pm.status_listen socket: status, ping and the\n"
    "                             script go there (answers while every worker is busy)\n"
    "      --status-host HOST --status-port PORT   or its TCP address\n"
    "      --status-path PATH     pm.status_path (default /status)\n"
    "      --ping-path PATH       ping.path (default /ping)\n"
    "      --ping-response TEXT   ping.response (default pong)\n"
    "      --opcache-script PATH  fcgx-status.php as the pool sees it (default " FCGX_OPCACHE_SCRIPT
    ")\n"
    "  -t, --timeout MS           deadline of the whole poll (default 1000)\n"
    "  -j, --json                 print JSON instead of a table\n"
    "  -q, --quiet                print nothing; the exit code says it all\n"
    "  -h, --help                 this help\n";

typedef struct {
  char name[64];
  double value;
} figure_t;

typedef struct {
  figure_t items[80];
  size_t n;
} figures_t;

/* What the plugin would dispatch for this check, under the plugin's names (the catalogue): the
 * script's figures for opcache, the others for the rest. */
static void add_figures(figures_t *f, const fcgx_pool_result_t *res, const char *check) {
  const metric_source_t src = {.res = res, .script = true};
  bool script = strcmp(check, "opcache") == 0;
  for (size_t i = 0; i < fcgx_metrics_count && f->n < sizeof(f->items) / sizeof(f->items[0]); i++) {
    const metric_t *m = &fcgx_metrics[i];
    if (m->from_script == script && metric_value(m, &src, &f->items[f->n].value))
      metric_name(m, f->items[f->n++].name, sizeof(f->items[0].name));
  }
}

/* Decides the verdict of a check from the poll's result. */
static int verdict(const char *check, const fcgx_pool_result_t *res, char *why, size_t size) {
  if (strcmp(check, "live") == 0 || strcmp(check, "ping") == 0) {
    if (!res->ping_ok) {
      snprintf(why, size, "%s", res->ping_error);
      return EXIT_CRITICAL;
    }
    snprintf(why, size, "ping answered in %.1f ms", res->ping_seconds * 1e3);
    return EXIT_OK;
  }
  if (!res->status_ok) {
    snprintf(why, size, "%s", res->status_error);
    return EXIT_CRITICAL;
  }
  const fpm_status_t *st = &res->status;
  if (strcmp(check, "ready") == 0) {
    /* php-fpm's own figure is always 0 on unix sockets: the kernel's is the truth. */
    double waiting = res->kernel_queue_ok ? res->kernel_queue : st->listen_queue;
    if (isnan(waiting) || isnan(st->idle_processes)) {
      snprintf(why, size, "the page's figures are out of range");
      return EXIT_UNKNOWN;
    }
    if (waiting > 0) {
      snprintf(why, size, "saturated: %.0f connections wait in the listen queue", waiting);
      return EXIT_WARNING;
    }
    if (st->idle_processes < 1) {
      snprintf(why, size, "saturated: all %.0f workers are busy", st->total_processes);
      return EXIT_WARNING;
    }
    snprintf(why, size, "ready: %.0f of %.0f workers idle", st->idle_processes,
             st->total_processes);
    return EXIT_OK;
  }
  if (strcmp(check, "opcache") == 0) {
    const opcache_report_t *oc = &res->opcache;
    if (!res->opcache_ok) {
      snprintf(why, size, "%s", res->opcache_error);
      return EXIT_CRITICAL;
    }
    if (oc->availability != OPCACHE_OK || !oc->enabled) {
      snprintf(why, size, "OPcache is not enabled in the pool");
      return EXIT_CRITICAL;
    }
    if (isnan(oc->hit_rate) || isnan(oc->wasted_percentage)) {
      snprintf(why, size, "hit rate or waste outside the range PHP can report");
      return EXIT_UNKNOWN;
    }
    if (oc->cache_full || oc->hit_rate < 95 || oc->wasted_percentage > 5) {
      snprintf(why, size, "hit rate %.1f %%, %.1f %% wasted%s", oc->hit_rate, oc->wasted_percentage,
               oc->cache_full ? ", cache full" : "");
      return EXIT_WARNING;
    }
    snprintf(why, size, "hit rate %.1f %%, %.1f %% wasted", oc->hit_rate, oc->wasted_percentage);
    return EXIT_OK;
  }
  snprintf(why, size, "%.0f active, %.0f idle, %.0f total processes", st->active_processes,
           st->idle_processes, st->total_processes);
  return EXIT_OK;
}

static const char *const verdict_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

static void print_table(const char *check, int code, const char *why, const fcgx_pool_result_t *res,
                        const figures_t *f) {
  /* One verdict line (what a Nagios-style check shows), then one "name value" line a figure. */
  printf("%s %s - %s", check, verdict_names[code], why);
  if (res->status_ok && res->status.pool[0])
    printf(" (pool \"%s\")", res->status.pool);
  if (res->status_ok && res->fallback_reason[0])
    printf("; without process details: %s", res->fallback_reason);
  const char *first;
  size_t left_out = fcgx_pool_result_left_out(res, &first);
  if (left_out > 0)
    printf("; %zu figure(s) out of range left out, e.g. %s", left_out, first);
  putchar('\n');
  for (size_t i = 0; i < f->n; i++)
    printf("  %-36s %.15g\n", f->items[i].name, f->items[i].value);
}

static int print_json(const char *address, const char *check, int code, const char *why,
                      const fcgx_pool_result_t *res, const figures_t *f) {
  cJSON *root = cJSON_CreateObject();
  cJSON *values = cJSON_CreateObject();
  if (root == NULL || values == NULL) {
    cJSON_Delete(root);
    cJSON_Delete(values);
    return -1;
  }
  cJSON_AddStringToObject(root, "address", address);
  if (res->status_ok && res->status.pool[0])
    cJSON_AddStringToObject(root, "pool", res->status.pool);
  cJSON_AddStringToObject(root, "check", check);
  cJSON_AddStringToObject(root, "verdict", verdict_names[code]);
  cJSON_AddNumberToObject(root, "exit_code", code);
  cJSON_AddStringToObject(root, "message", why);
  if (res->status_ok)
    cJSON_AddBoolToObject(root, "process_details", res->status_full);
  if (res->status_ok && res->fallback_reason[0])
    cJSON_AddStringToObject(root, "fallback_reason", res->fallback_reason);
  const char *first;
  size_t left_out = fcgx_pool_result_left_out(res, &first);
  if (left_out > 0) {
    cJSON_AddNumberToObject(root, "out_of_range", (double)left_out);
    cJSON_AddStringToObject(root, "out_of_range_first", first);
  }
  for (size_t i = 0; i < f->n; i++)
    cJSON_AddNumberToObject(values, f->items[i].name, f->items[i].value);
  cJSON_AddItemToObject(root, "values", values);
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (text == NULL)
    return -1;
  puts(text);
  cJSON_free(text);
  return 0;
}

static int set_text(char *buf, size_t size, const char *value, const char *option) {
  if (strlen(value) >= size) {
    fprintf(stderr, "fcgx-probe: %s is too long\n", option);
    return -1;
  }
  snprintf(buf, size, "%s", value);
  return 0;
}

int main(int argc, char **argv) {
  enum {
    OPT_STATUS_HOST = 256,
    OPT_STATUS_PORT,
    OPT_STATUS_PATH,
    OPT_PING_PATH,
    OPT_PING_RESPONSE,
    OPT_SCRIPT
  };
  static const struct option options[] = {
      {"socket", required_argument, NULL, 's'},
      {"host", required_argument, NULL, 'H'},
      {"port", required_argument, NULL, 'p'},
      {"status-socket", required_argument, NULL, 'S'},
      {"status-host", required_argument, NULL, OPT_STATUS_HOST},
      {"status-port", required_argument, NULL, OPT_STATUS_PORT},
      {"status-path", required_argument, NULL, OPT_STATUS_PATH},
      {"ping-path", required_argument, NULL, OPT_PING_PATH},
      {"ping-response", required_argument, NULL, OPT_PING_RESPONSE},
      {"opcache-script", required_argument, NULL, OPT_SCRIPT},
      {"timeout", required_argument, NULL, 't'},
      {"json", no_argument, NULL, 'j'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *socket_path = NULL, *host = NULL, *port = NULL;
  const char *status_socket = NULL, *status_host = NULL, *status_port = NULL;
  bool json = false, quiet = false;
  fcgx_pool_config_t cfg;
  char err[400];
  int opt;

  fcgx_pool_config_defaults(&cfg);
  snprintf(cfg.name, sizeof(cfg.name), "probe");
  while ((opt = getopt_long(argc, argv, "s:H:p:S:t:jqh", options, NULL)) != -1) {
    int rc = 0;
    switch (opt) {
    case 's':
      socket_path = optarg;
      break;
    case 'H':
      host = optarg;
      break;
    case 'p':
      port = optarg;
      break;
    case 'S':
      status_socket = optarg;
      break;
    case OPT_STATUS_HOST:
      status_host = optarg;
      break;
    case OPT_STATUS_PORT:
      status_port = optarg;
      break;
    case OPT_STATUS_PATH:
      rc = set_text(cfg.status_path, sizeof(cfg.status_path), optarg, "--status-path");
      break;
    case OPT_PING_PATH:
      rc = set_text(cfg.ping_path, sizeof(cfg.ping_path), optarg, "--ping-path");
      break;
    case OPT_PING_RESPONSE:
      rc = set_text(cfg.ping_response, sizeof(cfg.ping_response), optarg, "--ping-response");
      break;
    case OPT_SCRIPT:
      rc = set_text(cfg.opcache_script, sizeof(cfg.opcache_script), optarg, "--opcache-script");
      break;
    case 't': {
      char *end;
      long ms = strtol(optarg, &end, 10);
      if (*end != '\0' || ms <= 0 || ms > 3600000) {
        fprintf(stderr, "fcgx-probe: --timeout takes milliseconds, 1 to 3600000\n");
        rc = -1;
      }
      cfg.timeout_ms = (int)ms;
      break;
    }
    case 'j':
      json = true;
      break;
    case 'q':
      quiet = true;
      break;
    case 'h':
      fputs(usage, stdout);
      return EXIT_OK;
    default:
      fputs(usage, stderr);
      return EXIT_UNKNOWN;
    }
    if (rc != 0)
      return EXIT_UNKNOWN;
  }
  const char *check = optind == argc - 1 ? argv[optind] : NULL;
  static const char *const checks[] = {"status", "ping", "opcache", "live", "ready"};
  bool known = false;
  for (size_t i = 0; check != NULL && i < sizeof(checks) / sizeof(checks[0]); i++)
    known = known || strcmp(check, checks[i]) == 0;
  if (!known) {
    fprintf(stderr, "fcgx-probe: name one CHECK: status, ping, opcache, live or ready\n%s", usage);
    return EXIT_UNKNOWN;
  }

  int rc = -1;
  if (socket_path != NULL && host == NULL && port == NULL)
    rc = fcgx_address_unix(&cfg.addr, socket_path, err, sizeof(err));
  else if (socket_path == NULL && host != NULL && port != NULL)
    rc = fcgx_address_tcp(&cfg.addr, host, port, err, sizeof(err));
  else
    snprintf(err, sizeof(err), "give --socket PATH, or --host HOST and --port PORT");
  if (rc == 0 && status_socket != NULL) {
    rc = fcgx_address_unix(&cfg.status_addr, status_socket, err, sizeof(err));
  } else if (rc == 0 && status_host != NULL && status_port != NULL) {
    rc = fcgx_address_tcp(&cfg.status_addr, status_host, status_port, err, sizeof(err));
  } else if (rc == 0 && (status_host != NULL || status_port != NULL)) {
    snprintf(err, sizeof(err), "give --status-host and --status-port together");
    rc = -1;
  }
  if (rc != 0) {
    fprintf(stderr, "fcgx-probe: %s\n", err);
    return EXIT_UNKNOWN;
  }
  cfg.has_status_addr = status_socket != NULL || status_host != NULL;
  /* Ask only for what the check needs. */
  cfg.opcache = strcmp(check, "opcache") == 0;
  if (strcmp(check, "live") == 0 || strcmp(check, "ping") == 0) {
    if (cfg.ping_path[0] == '\0') {
      fprintf(stderr, "fcgx-probe: %s needs a --ping-path\n", check);
      return EXIT_UNKNOWN;
    }
  } else if (strcmp(check, "status") != 0) {
    cfg.ping_path[0] = '\0';
  }

  fcgx_pool_poll_t poll;
  fcgx_pool_poll_init(&poll, &cfg);
  fcgx_pools_poll(&poll, 1);
  const fcgx_pool_result_t *res = &poll.result;
  char why[700];
  int code = verdict(check, res, why, sizeof(why));

  figures_t figures = {.n = 0};
  if (strcmp(check, "live") != 0)
    add_figures(&figures, res, check);
  if (!quiet) {
    if (json)
      print_json(cfg.addr.display, check, code, why, res, &figures);
    else
      print_table(check, code, why, res, &figures);
  }
  fcgx_pool_poll_release(&poll);
  return code;
}
