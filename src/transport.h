/* The only socket code: pool addresses, and one FastCGI exchange as a non-blocking state machine
 * (connect, send, receive) under a deadline. poller.c drives many of them at once. */
#ifndef FCGX_TRANSPORT_H
#define FCGX_TRANSPORT_H

#include "fcgi_record.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define FCGX_MAX_ADDRESSES 4 /* of a host name: "localhost" may be ::1 and 127.0.0.1 */

typedef struct {
  bool is_unix;
  char path[108]; /* sizeof(sockaddr_un.sun_path) */
  char host[256];
  char port[32];
  char display[300]; /* how errors name it: "/run/php/www.sock", "127.0.0.1:9000", "[::1]:9000" */
  bool resolved;     /* TCP: resolved on first use and again after a failed connect */
  struct sockaddr_storage sa[FCGX_MAX_ADDRESSES];
  socklen_t sa_len[FCGX_MAX_ADDRESSES];
  int n_sa;
  int current; /* the one that answered last: tried first */
  /* A host name's lookup blocks (it is not under any deadline): done at start, and again at
   * most once a RESOLVE_EVERY after a failure, whose error is kept meanwhile. */
  uint64_t resolve_ns;
  char resolve_error[200];
} fcgx_address_t;

/* Return 0, or -1 with the reason in err (path too long for AF_UNIX, bad port, ...). */
int fcgx_address_unix(fcgx_address_t *addr, const char *path, char *err, size_t err_size);
int fcgx_address_tcp(fcgx_address_t *addr, const char *host, const char *port, char *err,
                     size_t err_size);
/* Resolves a TCP address now if it is not yet (a unix one always is); 0, or -1 with err. */
int fcgx_address_resolve(fcgx_address_t *addr, char *err, size_t err_size);

typedef enum {
  FCGX_REQ_IDLE,
  FCGX_REQ_CONNECTING,
  FCGX_REQ_SENDING,
  FCGX_REQ_RECEIVING,
  FCGX_REQ_DONE,
} fcgx_request_phase_t;

typedef struct fcgx_request fcgx_request_t;
/* Called once when a request ends (ok or not); it may start the request again (a retry). */
typedef void (*fcgx_request_done_fn)(fcgx_request_t *req);

struct fcgx_request {
  fcgx_address_t *addr;
  fcgx_request_done_fn on_done;
  void *owner;

  fcgx_request_phase_t phase;
  int fd;
  fcgi_buf_t wire; /* the encoded request */
  size_t sent;
  size_t received;
  int connect_attempts; /* addresses tried for this request */
  int timeout_ms;       /* for messages only; the deadline is what counts */
  uint64_t start_ns, deadline_ns, end_ns;
  fcgi_decoder_t dec;

  bool reported; /* on_done has been called for this end */
  bool ok;       /* END_REQUEST received with protocolStatus REQUEST_COMPLETE */
  char error[320];
};

uint64_t fcgx_now_ns(void); /* CLOCK_MONOTONIC */

/* Encodes the request and opens a non-blocking connection. A failure that happens at once ends
 * the request (phase DONE, error set) without calling on_done: the poller calls it. */
void fcgx_request_start(fcgx_request_t *req, const fcgi_param_t *params, size_t n_params,
                        uint64_t deadline_ns, int timeout_ms, size_t max_reply);
/* Which poll events the request waits for in its phase (0 when it is done). */
short fcgx_request_events(const fcgx_request_t *req);
/* Advances on poll's revents; ends the request on completion or error. */
void fcgx_request_step(fcgx_request_t *req, short revents);
/* Ends a request whose deadline passed, naming how far it got. */
void fcgx_request_expire(fcgx_request_t *req);
/* Closes the socket and frees buffers; the request can be started again afterwards. */
void fcgx_request_reset(fcgx_request_t *req);
double fcgx_request_seconds(const fcgx_request_t *req);

#endif
