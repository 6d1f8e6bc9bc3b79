/* One pool's poll: which requests (status, ping, the OPcache script) go to which address, and
 * their replies parsed into one result. Shared by the collectd glue and any command-line tool. */
#ifndef FCGX_POOL_H
#define FCGX_POOL_H

#include "fpm_status.h"
#include "opcache.h"
#include "transport.h"

#include <stdbool.h>

#define FCGX_DEFAULT_TIMEOUT_MS 1000
#define FCGX_DEFAULT_MAX_CONNECTIONS 128 /* sockets open at once, every read thread together */

/* One pool's configuration: set once (explicit pools at start, discovered ones by the scan that
 * found them) and only read after. */
typedef struct {
  char name[128];             /* DATA_MAX_NAME_LEN: the collectd plugin instance */
  fcgx_address_t addr;        /* the pool's listen socket */
  fcgx_address_t status_addr; /* pm.status_listen, when has_status_addr */
  bool has_status_addr;
  char status_path[256];
  char ping_path[256]; /* "" turns ping off */
  char ping_response[256];
  bool process_details;
  bool opcache;             /* run the in-pool script */
  bool kernel_queue;        /* read the listen socket's queue from the kernel (local pools) */
  char opcache_script[512]; /* its path as the pool sees it */
  /* OPcache and APCu are the master's: the plugin instance of their values, "" for name */
  char opcache_instance[128];
  int timeout_ms;
  size_t max_reply;
  int max_children; /* pm.max_children, 0 unknown: utilisation needs it */
  /* pm = ondemand: a pool without visitors has no worker, and one left idle for
   * pm.process_idle_timeout (idle_timeout_s, 10 by default) exits; false when not known */
  bool ondemand;
  int idle_timeout_s;
} fcgx_pool_config_t;

void fcgx_pool_config_defaults(fcgx_pool_config_t *cfg);
/* What a configuration must hold besides its address (StatusPath starts with '/', ...): 0, or
 * -1 with err naming the option. */
int fcgx_pool_config_check(const fcgx_pool_config_t *cfg, char *err, size_t err_size);
/* Whether a name can be a collectd plugin instance: it becomes file names, Graphite paths and
 * Prometheus labels, so no '/', quotes, backslashes, spaces or control characters. */
bool fcgx_instance_char_ok(char c);
bool fcgx_instance_valid(const char *name);

/* What a read does with a pool, chosen before it sends anything. */
typedef enum {
  FCGX_POLL_ASK,     /* send its requests */
  FCGX_POLL_ASLEEP,  /* pm = ondemand with no worker and nothing queued: a request would wake it */
  FCGX_POLL_RESTING, /* its idle workers served only our requests: left alone so they can exit */
  FCGX_POLL_SKIPPED, /* not polled this time for want of fcgx's own means: descriptors, time */
} fcgx_poll_plan_t;

typedef struct {
  fcgx_poll_plan_t plan; /* ASK turns into SKIPPED when the pool could not be polled */
  char skipped[200];     /* why, when SKIPPED */
  /* requests that reached the pool's own socket (not pm.status_listen) before its status page
   * was made (the page counts them in `accepted conn`) and after it */
  int own_before_status, own_after_status;

  bool status_ok;
  fcgx_error_kind_t status_error_kind; /* why not, with status_error */
  fpm_status_t status;
  double status_seconds; /* round trip of the status request that answered */
  bool status_full;      /* per-process figures are in status */
  char status_error[400];
  char fallback_reason[400]; /* set when `full` was unreadable and plain json was used */

  bool ping_enabled;
  bool ping_ok;
  fcgx_error_kind_t ping_error_kind;
  double ping_seconds;
  char ping_error[400];

  bool opcache_enabled;
  bool opcache_ok; /* the script answered; see opcache.availability */
  fcgx_error_kind_t opcache_error_kind;
  opcache_report_t opcache;
  double opcache_seconds;
  char opcache_error[600]; /* why the script did not answer, and what to change */

  bool kernel_queue_ok; /* the pool's listening socket was found on this host */
  double kernel_queue, kernel_backlog;
  char kernel_queue_error[200]; /* netlink failed (not: the socket is elsewhere) */

  /* ping answered as expected (status when ping is off); ASLEEP, RESTING: its master runs and
   * its socket listens */
  bool up;
} fcgx_pool_result_t;

typedef enum { FCGX_STATUS_FULL, FCGX_STATUS_PLAIN } fcgx_status_format_t;

/* One pool's poll and what it keeps between polls (its endpoints); fcgx_pool_poll_init it, then
 * pass an array to fcgx_pools_poll, from one thread at a time. */
typedef struct {
  const fcgx_pool_config_t *cfg;
  fcgx_endpoint_t endpoint;        /* cfg->addr */
  fcgx_endpoint_t status_endpoint; /* cfg->status_addr, when cfg->has_status_addr */
  bool run_script;       /* this poll runs the OPcache script: cfg->opcache unless its owner says */
  fcgx_poll_plan_t plan; /* set by its owner before each poll: ASK unless it knows better */
  fcgx_request_t status_req;
  fcgx_request_t ping_req;
  fcgx_request_t opcache_req;
  fcgx_status_format_t format;
  int status_attempts;
  uint64_t deadline_ns;
  struct fcgx_poll_round *round; /* the poll under way */
  bool in_flight;
  bool cut_short; /* it waited for room: its deadline is the read's end, sooner than Timeout */
  fcgx_pool_result_t result;
} fcgx_pool_poll_t;

/* Zeroes poll for cfg, which must outlive it. */
void fcgx_pool_poll_init(fcgx_pool_poll_t *poll, const fcgx_pool_config_t *cfg);
/* Looks a pool's host names up now (a unix socket needs none): 0, or -1 with err. */
int fcgx_pool_poll_resolve(fcgx_pool_poll_t *poll, char *err, size_t err_size);
/* The most connections fcgx keeps open at once, every read together (MaxConnections); fewer when
 * RLIMIT_NOFILE is low: at most half of it, the rest is collectd's. */
void fcgx_pools_max_connections(size_t cap);

/* Starts a poll of pools: clears their results and reads the kernel's queue of each listening
 * socket (before any request of ours joins it). Then the owner chooses each poll's plan. */
void fcgx_pools_prepare(fcgx_pool_poll_t *const *polls, size_t n);
/* Polls the pools whose plan is ASK, in their order, as many at once as the connection limit
 * allows, each under its own Timeout from when its first request starts. One that had to wait
 * for room ends by end_ns at the latest (0: no end): if that cut its Timeout short and it timed
 * out, or it found no file descriptor, it is SKIPPED rather than reported down. Fills each
 * poll's result. */
void fcgx_pools_poll_each(fcgx_pool_poll_t *const *polls, size_t n, uint64_t end_ns);
/* prepare, then poll_each with every pool asked and no end: an array of them */
void fcgx_pools_poll(fcgx_pool_poll_t *polls, size_t n);
/* Releases sockets and buffers of a finished poll (its result stays valid). */
void fcgx_pool_poll_release(fcgx_pool_poll_t *poll);

/* How many figures of the poll were left out for being outside their range (status and script
 * together), and in *first the first of them ("" when none). */
size_t fcgx_pool_result_left_out(const fcgx_pool_result_t *res, const char **first);

/* Why the script answered without OPcache figures, and what to change; "" when it has them. */
void fcgx_opcache_unavailable(const fcgx_pool_config_t *cfg, const opcache_report_t *oc, char *buf,
                              size_t size);

#endif
