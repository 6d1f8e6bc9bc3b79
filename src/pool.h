/* One pool's poll: which requests (status, ping, the OPcache script) go to which address, and
 * their replies parsed into one result. Shared by the collectd glue and any command-line tool. */
#ifndef FCGX_POOL_H
#define FCGX_POOL_H

#include "fpm_status.h"
#include "opcache.h"
#include "transport.h"

#include <stdbool.h>

#define FCGX_DEFAULT_TIMEOUT_MS 1000

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
  int timeout_ms;
  size_t max_reply;
  int max_children; /* pm.max_children, 0 unknown: utilisation needs it */
} fcgx_pool_config_t;

void fcgx_pool_config_defaults(fcgx_pool_config_t *cfg);
/* Whether a name can be a collectd plugin instance: it becomes file names, Graphite paths and
 * Prometheus labels, so no '/', quotes, backslashes, spaces or control characters. */
bool fcgx_instance_char_ok(char c);
bool fcgx_instance_valid(const char *name);

typedef struct {
  bool status_ok;
  fpm_status_t status;
  double status_seconds; /* round trip of the status request that answered */
  bool status_full;      /* per-process figures are in status */
  char status_error[400];
  char fallback_reason[400]; /* set when `full` was unreadable and plain json was used */

  bool ping_enabled;
  bool ping_ok;
  double ping_seconds;
  char ping_error[400];

  bool opcache_enabled;
  bool opcache_ok; /* the script answered; see opcache.availability */
  opcache_report_t opcache;
  double opcache_seconds;
  char opcache_error[600]; /* why the script did not answer, and what to change */

  bool kernel_queue_ok; /* the pool's listening socket was found on this host */
  double kernel_queue, kernel_backlog;
  char kernel_queue_error[200]; /* netlink failed (not: the socket is elsewhere) */

  bool up; /* ping answered as expected; status answered when ping is off */
} fcgx_pool_result_t;

typedef enum { FCGX_STATUS_FULL, FCGX_STATUS_PLAIN } fcgx_status_format_t;

/* One pool's poll in flight; zero it, set cfg, then pass an array to fcgx_pools_poll. */
typedef struct {
  const fcgx_pool_config_t *cfg;
  fcgx_request_t status_req;
  fcgx_request_t ping_req;
  fcgx_request_t opcache_req;
  fcgx_status_format_t format;
  int status_attempts;
  uint64_t deadline_ns;
  fcgx_pool_result_t result;
} fcgx_pool_poll_t;

/* Polls every pool at once, each under its own Timeout; fills each poll's result. */
void fcgx_pools_poll(fcgx_pool_poll_t *polls, size_t n);
/* Releases sockets and buffers of a finished poll (its result stays valid). */
void fcgx_pool_poll_release(fcgx_pool_poll_t *poll);

#endif
