/* The only socket code: pool addresses, and one FastCGI exchange as a non-blocking state machine
 * (connect, send, receive) under a deadline. poller.c drives many of them at once. */
#ifndef FCGX_TRANSPORT_H
#define FCGX_TRANSPORT_H

#include "fcgi_record.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define FCGX_MAX_ADDRESSES 4 /* of a host name: "localhost" may be ::1 and 127.0.0.1 */

/* Where a pool listens, as configured: never changed once set. */
typedef struct {
  bool is_unix;
  /* A unix socket in a container: path is as the master sees it, inside root ("/proc/PID/root";
   * "" for ours), and every link in it is resolved inside that root (see rooted.h). */
  char root[64];
  char path[108]; /* sizeof(sockaddr_un.sun_path) */
  /* In a container's own network namespace: a TCP address's sockets are made in there (a unix
   * socket is reached by its path), and its kernel queue is read there. netns_path is
   * "/proc/PID/ns/net" of its master, netns_id that link's text ("net:[4026532001]"), checked
   * at each use (a pid reused by another process is not that namespace); both "" for ours. */
  char netns_path[48];
  char netns_id[32];
  char host[256];
  char port[32];
  char display[300]; /* how errors name it: "/run/php/www.sock", "127.0.0.1:9000", "[::1]:9000" */
} fcgx_address_t;

/* Return 0, or -1 with the reason in err (path too long for AF_UNIX, bad port, ...). */
int fcgx_address_unix(fcgx_address_t *addr, const char *path, char *err, size_t err_size);
/* A unix socket at path inside root (a master's /proc/PID/root): reached through its file
 * opened inside that root, so that no link in its path leaves the root, and the path may be
 * longer than sun_path allows. */
int fcgx_address_unix_in(fcgx_address_t *addr, const char *root, const char *path, char *err,
                         size_t err_size);
/* For a unix socket in a root: the socket file opened inside the root (O_PATH, every link in
 * its path resolved there, the last one too), and in name the path that reaches it for
 * connect(2) ("/proc/self/fd/N"). Returns the fd to close after, or -1 with errno (EXDEV: a
 * link leads out of the root). */
int fcgx_address_open_socket(const fcgx_address_t *addr, char *name, size_t name_size);
int fcgx_address_tcp(fcgx_address_t *addr, const char *host, const char *port, char *err,
                     size_t err_size);

/* Makes addr one inside the network namespace at ns_path ("/proc/PID/ns/net", whose link reads
 * ns_id): 0, or -1 with err. */
int fcgx_address_in_netns(fcgx_address_t *addr, const char *ns_path, const char *ns_id, char *err,
                          size_t err_size);

/* From a configuration: a unix socket path, or host and port, exactly one of the two ("" for
 * unset); what prefixes the option names in err ("" or "Status"). */
int fcgx_address_set(fcgx_address_t *addr, const char *what, const char *socket_path,
                     const char *host, const char *port, char *err, size_t err_size);

/* What connecting to an address has learnt, kept across polls by its one owner: the resolved
 * socket addresses and the one that answered last (tried first). */
typedef struct {
  const fcgx_address_t *addr;
  bool resolved; /* TCP: resolved on first use and again after a failed connect */
  struct sockaddr_storage sa[FCGX_MAX_ADDRESSES];
  socklen_t sa_len[FCGX_MAX_ADDRESSES];
  int n_sa;
  int preferred;
  /* A host name's lookup blocks (it is not under any deadline): done at start, and again at
   * most once a RESOLVE_EVERY after a failure, whose error is kept meanwhile. */
  uint64_t resolve_ns;
  char resolve_error[200];
} fcgx_endpoint_t;

/* Points ep at addr (which must outlive it); a unix address is usable at once. */
void fcgx_endpoint_init(fcgx_endpoint_t *ep, const fcgx_address_t *addr);
/* Resolves a TCP address now if it is not yet (a unix one always is); 0, or -1 with err. */
int fcgx_endpoint_resolve(fcgx_endpoint_t *ep, char *err, size_t err_size);

/* Why a request failed, for callers that act on the kind rather than the words. */
typedef enum {
  FCGX_ERR_NONE,
  FCGX_ERR_RESOLVE,     /* the host name could not be looked up */
  FCGX_ERR_REFUSED,     /* nothing listens there (ECONNREFUSED, ENOENT), or its queue is full */
  FCGX_ERR_PERMISSION,  /* EACCES, EPERM */
  FCGX_ERR_TIMEOUT,     /* the deadline passed */
  FCGX_ERR_IO,          /* another socket error, or the peer closed or reset the connection */
  FCGX_ERR_PROTOCOL,    /* not FastCGI as php-fpm speaks it, or larger than allowed */
  FCGX_ERR_HTTP_STATUS, /* the reply's Status: was not 200 */
  FCGX_ERR_PARSE,       /* the body is not what was asked for */
  FCGX_ERR_LOCAL,       /* fcgx's own lack: file descriptors (EMFILE, ENFILE), memory */
} fcgx_error_kind_t;

const char *fcgx_error_kind_name(fcgx_error_kind_t kind); /* "timeout", "refused", ... */

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
  fcgx_endpoint_t *ep;
  fcgx_request_done_fn on_done;
  void *owner;

  fcgx_request_phase_t phase;
  int fd;
  fcgi_buf_t wire; /* the encoded request */
  size_t sent;
  size_t received;
  int connect_attempts; /* addresses tried for this request */
  int cursor;           /* the address being tried: this request's own, from ep->preferred */
  int timeout_ms;       /* for messages only; the deadline is what counts */
  uint64_t start_ns, deadline_ns, end_ns;
  fcgi_decoder_t dec;

  bool reported; /* on_done has been called for this end */
  bool ok;       /* END_REQUEST received with protocolStatus REQUEST_COMPLETE */
  fcgx_error_kind_t error_kind;
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
