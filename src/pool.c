/* One pool's poll: status (with a retry and a fallback), ping and the OPcache script, run
 * concurrently with every other pool's, then the kernel's view of its queue; see pool.h. */
#include "pool.h"

#include "cgi_response.h"
#include "listen_queue.h"
#include "poller.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define STATUS_ATTEMPTS 2 /* php-fpm's scoreboard lock race answers 500/503 now and then */
/* A pool in flight holds up to three sockets (status, ping, script through pm.status_listen) and,
 * while one connects inside a container's root, the socket file's O_PATH descriptor. */
#define FDS_PER_POOL 4
/* A pool that waited for a connection starts only with at least this much of the read left. */
#define MIN_SLICE_NS (100ull * 1000000ull)

/* Every read thread's pools in flight together, against one limit: descriptors are the
 * process's. */
static atomic_size_t max_connections = FCGX_DEFAULT_MAX_CONNECTIONS;
static atomic_size_t pools_in_flight;

/* One fcgx_pools_poll_each: the pools still to start, and its own in flight. */
struct fcgx_poll_round {
  fcgx_pool_poll_t *const *polls;
  size_t n, next;
  size_t in_flight, limit;
  bool waited; /* a pool had to wait for room */
  uint64_t end_ns;
  fcgx_poller_t *poller;
};

void fcgx_pool_config_defaults(fcgx_pool_config_t *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  snprintf(cfg->status_path, sizeof(cfg->status_path), "/status");
  snprintf(cfg->ping_path, sizeof(cfg->ping_path), "/ping");
  snprintf(cfg->ping_response, sizeof(cfg->ping_response), "pong");
  cfg->process_details = true;
  cfg->opcache = true;
  cfg->kernel_queue = true;
  snprintf(cfg->opcache_script, sizeof(cfg->opcache_script), "%s", FCGX_OPCACHE_SCRIPT);
  cfg->timeout_ms = FCGX_DEFAULT_TIMEOUT_MS;
  cfg->max_reply = FCGI_DEFAULT_MAX_REPLY;
}

int fcgx_pool_config_check(const fcgx_pool_config_t *cfg, char *err, size_t err_size) {
  const char *error = NULL;
  if (cfg->status_path[0] != '/')
    error = "StatusPath must start with '/' (pm.status_path)";
  else if (cfg->ping_path[0] != '\0' && cfg->ping_path[0] != '/')
    error = "PingPath must start with '/' (ping.path), or be \"\" to turn ping off";
  else if (cfg->opcache && cfg->opcache_script[0] != '/')
    error = "OPcacheScript must be an absolute path, as the pool sees it";
  else if (cfg->opcache_instance[0] != '\0' && !fcgx_instance_valid(cfg->opcache_instance))
    error = "OPcacheInstance cannot be a collectd plugin instance";
  if (error != NULL)
    snprintf(err, err_size, "%s", error);
  return error != NULL ? -1 : 0;
}

bool fcgx_instance_char_ok(char c) {
  return c != '/' && c != '"' && c != '\\' && (unsigned char)c > ' ' && c != 0x7f;
}

bool fcgx_instance_valid(const char *name) {
  if (name[0] == '\0' || strlen(name) >= sizeof(((fcgx_pool_config_t *)0)->name))
    return false;
  for (const char *p = name; *p; p++)
    if (!fcgx_instance_char_ok(*p))
      return false;
  return true;
}

void fcgx_pool_poll_init(fcgx_pool_poll_t *poll, const fcgx_pool_config_t *cfg) {
  memset(poll, 0, sizeof(*poll));
  poll->cfg = cfg;
  poll->run_script = cfg->opcache;
  poll->plan = FCGX_POLL_ASK;
  fcgx_endpoint_init(&poll->endpoint, &cfg->addr);
  fcgx_endpoint_init(&poll->status_endpoint, &cfg->status_addr);
}

int fcgx_pool_poll_resolve(fcgx_pool_poll_t *poll, char *err, size_t err_size) {
  if (fcgx_endpoint_resolve(&poll->endpoint, err, err_size) != 0)
    return -1;
  return poll->cfg->has_status_addr ? fcgx_endpoint_resolve(&poll->status_endpoint, err, err_size)
                                    : 0;
}

static fcgx_endpoint_t *target(fcgx_pool_poll_t *poll) {
  /* Every request goes to pm.status_listen when set: its hidden pool serves status, ping and
   * PHP scripts while every worker of the pool is busy. */
  return poll->cfg->has_status_addr ? &poll->status_endpoint : &poll->endpoint;
}

/* Starts a GET of path?query as a web server would send it to php-fpm. php-fpm matches
 * SCRIPT_NAME against pm.status_path and ping.path, and runs SCRIPT_FILENAME otherwise. */
static void start_get(fcgx_pool_poll_t *poll, fcgx_request_t *req, const char *path,
                      const char *filename, const char *query) {
  char uri[600];
  snprintf(uri, sizeof(uri), "%s%s%s", path, query[0] ? "?" : "", query);
  const fcgi_param_t params[] = {
      {"GATEWAY_INTERFACE", "FastCGI/1.0"},
      {"SERVER_SOFTWARE", "fcgx"},
      {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"REQUEST_METHOD", "GET"},
      {"SCRIPT_NAME", path},
      {"SCRIPT_FILENAME", filename},
      {"DOCUMENT_URI", path},
      {"QUERY_STRING", query},
      {"REQUEST_URI", uri},
      /* fcgx-status.php answers only requests with this parameter: a web server passes a
       * visitor's headers as HTTP_* parameters, never as this one. */
      {"FCGX_STATUS_REQUEST", "1"},
  };
  req->ep = target(poll);
  req->owner = poll;
  fcgx_request_start(req, params, sizeof(params) / sizeof(params[0]), poll->deadline_ns,
                     poll->cfg->timeout_ms, poll->cfg->max_reply);
}

static const char *status_query(fcgx_status_format_t format) {
  return format == FCGX_STATUS_FULL ? "json&full" : "json";
}

static void start_status(fcgx_pool_poll_t *poll) {
  poll->status_attempts++;
  start_get(poll, &poll->status_req, poll->cfg->status_path, poll->cfg->status_path,
            status_query(poll->format));
}

/* Checks transport, CGI headers and HTTP status of a finished request. On success resp holds
 * the reply; on failure err says why, with php-fpm's STDERR when it wrote any, and kind what. */
static int read_reply(fcgx_request_t *req, const char *what, cgi_response_t *resp,
                      fcgx_error_kind_t *kind, char *err, size_t err_size) {
  char why[200];
  *kind = req->error_kind;
  if (!req->ok) {
    snprintf(err, err_size, "%s request: %s", what, req->error);
    return -1;
  }
  *kind = FCGX_ERR_PROTOCOL;
  if (cgi_response_parse(req->dec.out.data ? req->dec.out.data : "", req->dec.out.len, resp, why,
                         sizeof(why)) != 0) {
    snprintf(err, err_size, "%s request to %s: %s", what, req->ep->addr->display, why);
    return -1;
  }
  *kind = FCGX_ERR_HTTP_STATUS;
  if (resp->status != 200) {
    /* php-fpm says why on STDERR ("Primary script unknown"); keep its first line. */
    const char *stderr_text = req->dec.err.data ? req->dec.err.data : "";
    size_t line = strcspn(stderr_text, "\r\n");
    snprintf(err, err_size, "%s request to %s answered HTTP %d%s%.*s", what, req->ep->addr->display,
             resp->status, line ? ": " : "", (int)(line > 160 ? 160 : line), stderr_text);
    return -1;
  }
  *kind = FCGX_ERR_NONE;
  return 0;
}

static void status_done(fcgx_request_t *req) {
  fcgx_pool_poll_t *poll = req->owner;
  fcgx_pool_result_t *res = &poll->result;
  cgi_response_t resp = {0};
  char why[300];

  if (read_reply(req, "status", &resp, &res->status_error_kind, res->status_error,
                 sizeof(res->status_error)) != 0) {
    if (req->ok && (resp.status == 500 || resp.status == 503) &&
        poll->status_attempts < STATUS_ATTEMPTS)
      start_status(poll);
    return;
  }
  /* Through the pool's own socket, a worker of the pool serves this very request. */
  char self_uri[600];
  snprintf(self_uri, sizeof(self_uri), "%s?%s", poll->cfg->status_path, status_query(poll->format));
  const char *self = poll->cfg->has_status_addr ? NULL : self_uri;
  if (fpm_status_parse(resp.body, resp.body_len, self, &res->status, why, sizeof(why)) != 0) {
    if (poll->format == FCGX_STATUS_FULL) {
      /* Some PHP versions leave request uri, user and script unescaped in `full` (php-src
       * 11050, 11464): a visitor's URL can break the JSON. The pool figures are still there. */
      snprintf(res->fallback_reason, sizeof(res->fallback_reason),
               "status with process details from %s: %s", req->ep->addr->display, why);
      poll->format = FCGX_STATUS_PLAIN;
      start_status(poll);
      return;
    }
    snprintf(res->status_error, sizeof(res->status_error), "status from %s: %s",
             req->ep->addr->display, why);
    res->status_error_kind = FCGX_ERR_PARSE;
    return;
  }
  res->status_error[0] = '\0';
  res->status_ok = true;
  res->status_full = res->status.has_processes;
  res->status_seconds = fcgx_request_seconds(req);
}

/* What the pool answers to the script when it cannot run it, and what the operator changes. */
static void describe_script_failure(fcgx_request_t *req, const cgi_response_t *resp, char *err,
                                    size_t err_size) {
  const char *path = ((fcgx_pool_poll_t *)req->owner)->cfg->opcache_script;
  const char *stderr_text = req->dec.err.data ? req->dec.err.data : "";
  if (resp->status == 403)
    snprintf(err, err_size,
             "the pool refuses to run %s (HTTP 403): security.limit_extensions must allow "
             ".php, and open_basedir must include the script's folder",
             path);
  else if (resp->status == 404)
    snprintf(err, err_size,
             "the pool cannot find %s (HTTP 404): OPcacheScript is the path as the pool sees "
             "it (chroot, container)",
             path);
  else if (strstr(stderr_text, "undefined function opcache_get_status") != NULL)
    snprintf(err, err_size, "OPcache is not loaded in the pool (zend_extension=opcache.so)");
}

static void opcache_done(fcgx_request_t *req) {
  fcgx_pool_poll_t *poll = req->owner;
  fcgx_pool_result_t *res = &poll->result;
  cgi_response_t resp = {0};
  char why[300];

  if (read_reply(req, "OPcache script", &resp, &res->opcache_error_kind, res->opcache_error,
                 sizeof(res->opcache_error)) != 0) {
    if (req->ok)
      describe_script_failure(req, &resp, res->opcache_error, sizeof(res->opcache_error));
    return;
  }
  if (opcache_report_parse(resp.body, resp.body_len, &res->opcache, why, sizeof(why)) != 0) {
    snprintf(res->opcache_error, sizeof(res->opcache_error), "%s from %s: %s",
             poll->cfg->opcache_script, req->ep->addr->display, why);
    res->opcache_error_kind = FCGX_ERR_PARSE;
    return;
  }
  res->opcache_ok = true;
  res->opcache_seconds = fcgx_request_seconds(req);
}

static void start_script(fcgx_pool_poll_t *poll) {
  const char *path = poll->cfg->opcache_script, *base = strrchr(path, '/');
  start_get(poll, &poll->opcache_req, base ? base : path, path, "");
  fcgx_poller_add(poll->round->poller, &poll->opcache_req);
}

/* An ondemand pool's own workers are asked one request at a time: two at once would make
 * php-fpm fork a second worker for fcgx alone. */
static bool one_at_a_time(const fcgx_pool_poll_t *poll) {
  return poll->cfg->ondemand && !poll->cfg->has_status_addr;
}

static void start_followers(fcgx_pool_poll_t *poll) {
  const fcgx_pool_config_t *cfg = poll->cfg;
  if (poll->result.ping_enabled) {
    start_get(poll, &poll->ping_req, cfg->ping_path, cfg->ping_path, "");
    fcgx_poller_add(poll->round->poller, &poll->ping_req);
  }
  if (poll->result.opcache_enabled && !(poll->result.ping_enabled && one_at_a_time(poll)))
    start_script(poll);
}

/* Through the pool's own socket, ping and the OPcache script start once status has answered:
 * in flight, they would occupy workers and show up in the status as the pool's own load. */
static void status_then_followers(fcgx_request_t *req) {
  fcgx_pool_poll_t *poll = req->owner;
  status_done(req);
  if (!req->reported)
    return; /* started again (retry, fallback): its own end comes back here */
  if (req->ok) {
    start_followers(poll);
  } else {
    /* Unreachable: the other requests would only wait for the same failure. */
    snprintf(poll->result.ping_error, sizeof(poll->result.ping_error), "%s",
             poll->result.status_error);
    snprintf(poll->result.opcache_error, sizeof(poll->result.opcache_error), "%s",
             poll->result.status_error);
    poll->result.ping_error_kind = poll->result.opcache_error_kind = poll->result.status_error_kind;
  }
}

static void ping_done(fcgx_request_t *req) {
  fcgx_pool_poll_t *poll = req->owner;
  fcgx_pool_result_t *res = &poll->result;
  const char *expected = poll->cfg->ping_response;
  cgi_response_t resp = {0};

  if (read_reply(req, "ping", &resp, &res->ping_error_kind, res->ping_error,
                 sizeof(res->ping_error)) != 0)
    return;
  if (resp.body_len != strlen(expected) || memcmp(resp.body, expected, resp.body_len) != 0) {
    snprintf(res->ping_error, sizeof(res->ping_error),
             "ping to %s answered \"%.*s\" instead of \"%s\" (PingResponse)",
             req->ep->addr->display, (int)(resp.body_len > 40 ? 40 : resp.body_len), resp.body,
             expected);
    res->ping_error_kind = FCGX_ERR_PARSE;
    return;
  }
  res->ping_ok = true;
  res->ping_seconds = fcgx_request_seconds(req);
}

/* The kernel's count of connections waiting on each pool's own socket: it still rises when a
 * saturated pool cannot answer its status, and php-fpm reports 0 on unix sockets anyway. One
 * dump of the listening sockets of each network namespace (ours, each container's) serves all
 * of its pools. */
/* Whether the poll wants its kernel queue and listens in the network namespace of ns. */
static bool queue_in(const fcgx_pool_poll_t *poll, const fcgx_address_t *ns) {
  return poll->cfg->kernel_queue && strcmp(poll->cfg->addr.netns_id, ns->netns_id) == 0;
}

static void read_kernel_queues(fcgx_pool_poll_t *const *polls, size_t n) {
  bool *done = calloc(n ? n : 1, sizeof(*done));
  for (size_t first = 0; done != NULL && first < n; first++) {
    const fcgx_address_t *ns = &polls[first]->cfg->addr; /* this round's namespace */
    bool want_unix = false, want_tcp = false;
    for (size_t i = first; i < n; i++) {
      if (done[i] || !queue_in(polls[i], ns))
        continue;
      want_unix = want_unix || polls[i]->cfg->addr.is_unix;
      want_tcp = want_tcp || !polls[i]->cfg->addr.is_unix;
    }
    if (done[first] || (!want_unix && !want_tcp))
      continue;
    listen_table_t table = {0};
    char err[200];
    int rc = listen_table_read(&table, want_unix, want_tcp, ns, err, sizeof(err));
    for (size_t i = first; i < n; i++) {
      fcgx_pool_result_t *res = &polls[i]->result;
      if (done[i] || !queue_in(polls[i], ns))
        continue;
      done[i] = true;
      if (rc != 0) {
        snprintf(res->kernel_queue_error, sizeof(res->kernel_queue_error), "%s", err);
        continue;
      }
      /* Through a status socket, the pool's own TCP address was never resolved by a request. */
      char unresolved[200];
      if (fcgx_endpoint_resolve(&polls[i]->endpoint, unresolved, sizeof(unresolved)) != 0)
        continue;
      const listen_socket_t *sock = listen_table_find(&table, &polls[i]->endpoint);
      if (sock != NULL) {
        res->kernel_queue_ok = true;
        res->kernel_queue = sock->queue;
        res->kernel_backlog = sock->backlog;
      }
    }
    listen_table_free(&table);
  }
  free(done);
}

void fcgx_pools_max_connections(size_t cap) {
  atomic_store(&max_connections, cap);
}

/* Pools in flight at once, every read together. */
static size_t pools_limit(void) {
  size_t fds = atomic_load(&max_connections);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < fds)
    fds = (size_t)rl.rlim_cur / 2;
  return fds >= FDS_PER_POOL ? fds / FDS_PER_POOL : 1;
}

/* Whether php-fpm may have accepted the request (and counted it), whatever came back: it
 * connected and sent something. */
static bool reached(const fcgx_request_t *req) {
  return req->sent > 0;
}

static bool busy(const fcgx_request_t *req) {
  return fcgx_request_events(req) != 0 || (req->phase == FCGX_REQ_DONE && !req->reported);
}

/* Every request of a pool ends here: its own handler, then the pool leaves the flight once none
 * of its requests is left, making room for the next. */
static void request_ended(fcgx_request_t *req) {
  fcgx_pool_poll_t *poll = req->owner;
  fcgx_pool_result_t *res = &poll->result;
  if (req->ep == &poll->endpoint && reached(req)) {
    if (req == &poll->status_req)
      res->own_before_status++;
    else
      res->own_after_status++;
  }
  if (req == &poll->status_req)
    (poll->cfg->has_status_addr ? status_done : status_then_followers)(req);
  else if (req == &poll->ping_req) {
    ping_done(req);
    if (poll->result.opcache_enabled && one_at_a_time(poll) && req->ok)
      start_script(poll); /* after ping, not beside it */
  } else
    opcache_done(req);
  if (poll->in_flight && !busy(&poll->status_req) && !busy(&poll->ping_req) &&
      !busy(&poll->opcache_req)) {
    poll->in_flight = false;
    poll->round->in_flight--;
    atomic_fetch_sub(&pools_in_flight, 1);
    /* its replies are parsed: buffers go now, not after thousands of pools have added theirs */
    fcgx_pool_poll_release(poll);
  }
}

static void skip(fcgx_pool_poll_t *poll, const char *why) {
  poll->result.plan = FCGX_POLL_SKIPPED;
  snprintf(poll->result.skipped, sizeof(poll->result.skipped), "%s", why);
}

static void start_pool(struct fcgx_poll_round *round, fcgx_pool_poll_t *poll,
                       uint64_t deadline_ns) {
  poll->round = round;
  poll->deadline_ns = deadline_ns;
  poll->in_flight = true;
  round->in_flight++;
  atomic_fetch_add(&pools_in_flight, 1);
  fcgx_request_reset(&poll->status_req);
  fcgx_request_reset(&poll->ping_req);
  fcgx_request_reset(&poll->opcache_req);
  start_status(poll);
  if (fcgx_poller_add(round->poller, &poll->status_req) == 0 && poll->in_flight &&
      poll->cfg->has_status_addr)
    start_followers(poll);
}

/* Starts the next pools while there is room: one of this read's own at least, so that every
 * read moves on whatever the others hold. */
static void refill(fcgx_poller_t *poller, void *ctx) {
  struct fcgx_poll_round *round = ctx;
  round->poller = poller;
  for (; round->next < round->n; round->next++) {
    fcgx_pool_poll_t *poll = round->polls[round->next];
    if (poll->result.plan != FCGX_POLL_ASK)
      continue;
    if (round->in_flight > 0 && atomic_load(&pools_in_flight) >= round->limit) {
      round->waited = true;
      return;
    }
    /* One that can start at once has its whole Timeout (which may be as long as the
     * Interval); one that waited for room, what is left of the read, if enough. */
    uint64_t now = fcgx_now_ns();
    uint64_t deadline_ns = now + (uint64_t)poll->cfg->timeout_ms * 1000000u;
    poll->cut_short = round->waited && round->end_ns != 0 && deadline_ns > round->end_ns;
    if (poll->cut_short && round->end_ns < now + MIN_SLICE_NS)
      skip(poll, "the read ran out of time before it could start (every connection fcgx may "
                 "open was busy: MaxConnections)");
    else
      start_pool(round, poll, poll->cut_short ? round->end_ns : deadline_ns);
  }
}

void fcgx_pools_prepare(fcgx_pool_poll_t *const *polls, size_t n) {
  for (size_t i = 0; i < n; i++) {
    memset(&polls[i]->result, 0, sizeof(polls[i]->result));
    polls[i]->plan = FCGX_POLL_ASK;
  }
  read_kernel_queues(polls, n);
}

void fcgx_pools_poll_each(fcgx_pool_poll_t *const *polls, size_t n, uint64_t end_ns) {
  struct fcgx_poll_round round = {.polls = polls, .n = n, .limit = pools_limit(), .end_ns = end_ns};
  for (size_t i = 0; i < n; i++) {
    fcgx_pool_poll_t *poll = polls[i];
    fcgx_pool_result_t *res = &poll->result;
    res->plan = poll->plan;
    if (res->plan != FCGX_POLL_ASK)
      continue;
    poll->format = poll->cfg->process_details ? FCGX_STATUS_FULL : FCGX_STATUS_PLAIN;
    poll->status_attempts = 0;
    poll->status_req.on_done = poll->ping_req.on_done = poll->opcache_req.on_done = request_ended;
    res->ping_enabled = poll->cfg->ping_path[0] != '\0';
    res->opcache_enabled = poll->run_script;
  }
  /* each pool in flight has up to three requests */
  if (fcgx_poller_run(3 * round.limit + 3, refill, &round) != 0)
    for (size_t i = 0; i < n; i++)
      if (polls[i]->result.plan == FCGX_POLL_ASK)
        skip(polls[i], "out of memory");

  for (size_t i = 0; i < n; i++) {
    fcgx_pool_result_t *res = &polls[i]->result;
    /* Not the pool's fault: fcgx's lack of descriptors, or a deadline cut short by the read's
     * end rather than the pool's own Timeout. */
    bool short_timeout = polls[i]->cut_short && (res->status_error_kind == FCGX_ERR_TIMEOUT ||
                                                 res->ping_error_kind == FCGX_ERR_TIMEOUT);
    if (res->plan == FCGX_POLL_ASK && short_timeout)
      skip(polls[i], "the read ran out of time before its Timeout (it waited for a connection: "
                     "MaxConnections)");
    else if (res->plan == FCGX_POLL_ASK &&
             (res->status_error_kind == FCGX_ERR_LOCAL || res->ping_error_kind == FCGX_ERR_LOCAL))
      skip(polls[i],
           res->status_error_kind == FCGX_ERR_LOCAL ? res->status_error : res->ping_error);
    if (res->plan == FCGX_POLL_ASK)
      res->up = res->ping_enabled ? res->ping_ok : res->status_ok;
    else
      res->up = res->plan != FCGX_POLL_SKIPPED;
  }
}

void fcgx_pools_poll(fcgx_pool_poll_t *polls, size_t n) {
  fcgx_pool_poll_t **each = calloc(n ? n : 1, sizeof(fcgx_pool_poll_t *));
  if (each == NULL)
    n = 0;
  for (size_t i = 0; i < n; i++)
    each[i] = &polls[i];
  fcgx_pools_prepare(each, n);
  fcgx_pools_poll_each(each, n, 0);
  free(each);
}

void fcgx_pool_poll_release(fcgx_pool_poll_t *poll) {
  fcgx_request_reset(&poll->status_req);
  fcgx_request_reset(&poll->ping_req);
  fcgx_request_reset(&poll->opcache_req);
}

size_t fcgx_pool_result_left_out(const fcgx_pool_result_t *res, const char **first) {
  const out_of_range_t *st = &res->status.out_of_range, *oc = &res->opcache.out_of_range;
  size_t from_status = res->status_ok ? st->count : 0,
         from_script = res->opcache_ok ? oc->count : 0;
  *first = from_status > 0 ? st->first : from_script > 0 ? oc->first : "";
  return from_status + from_script;
}

void fcgx_opcache_unavailable(const fcgx_pool_config_t *cfg, const opcache_report_t *oc, char *buf,
                              size_t size) {
  switch (oc->availability) {
  case OPCACHE_OK:
    buf[0] = '\0';
    break;
  case OPCACHE_NOT_LOADED:
    snprintf(buf, size, "OPcache is not loaded in the pool (zend_extension=opcache.so)");
    break;
  case OPCACHE_OFF:
    snprintf(buf, size, "OPcache is off in the pool (opcache.enable=0)");
    break;
  case OPCACHE_RESTRICTED:
    snprintf(buf, size,
             "opcache.restrict_api=\"%s\" does not allow %s: set it to a prefix of that path or "
             "to \"\"",
             oc->restrict_api, cfg->opcache_script);
    break;
  }
}
