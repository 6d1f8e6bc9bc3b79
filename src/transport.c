/* Addresses and the non-blocking FastCGI exchange; see transport.h. */
#include "transport.h"

#include "namespace.h"
#include "rooted.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define FCGX_REQUEST_ID 1
#define RECV_CHUNK 32768
#define RESOLVE_EVERY_NS (60ull * 1000000000ull)

uint64_t fcgx_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int fcgx_address_unix(fcgx_address_t *addr, const char *path, char *err, size_t err_size) {
  memset(addr, 0, sizeof(*addr));
  if (path[0] == '\0') {
    snprintf(err, err_size, "empty socket path");
    return -1;
  }
  if (strlen(path) >= sizeof(addr->path)) {
    snprintf(err, err_size, "socket path is %zu bytes, longer than AF_UNIX allows (%zu): %s",
             strlen(path), sizeof(addr->path) - 1, path);
    return -1;
  }
  addr->is_unix = true;
  snprintf(addr->path, sizeof(addr->path), "%s", path);
  snprintf(addr->display, sizeof(addr->display), "%s", path);
  return 0;
}

int fcgx_address_unix_in(fcgx_address_t *addr, const char *root, const char *path, char *err,
                         size_t err_size) {
  const char *base = strrchr(path, '/');
  char display[sizeof(addr->display)];
  memset(addr, 0, sizeof(*addr));
  snprintf(display, sizeof(display), "%s%s", root, path);
  if (root[0] == '\0')
    return fcgx_address_unix(addr, path, err, err_size);
  if (path[0] != '/' || base == NULL || base[1] == '\0' || strlen(path) >= sizeof(addr->path) ||
      strlen(root) >= sizeof(addr->root)) {
    snprintf(err, err_size, "unusable socket path %s", display);
    return -1;
  }
  addr->is_unix = true;
  snprintf(addr->root, sizeof(addr->root), "%s", root);
  snprintf(addr->path, sizeof(addr->path), "%s", path);
  snprintf(addr->display, sizeof(addr->display), "%s", display);
  return 0;
}

int fcgx_address_open_socket(const fcgx_address_t *addr, char *name, size_t name_size) {
  int fd = rooted_open(addr->root, addr->path, O_PATH);
  if (fd >= 0)
    snprintf(name, name_size, "/proc/self/fd/%d", fd);
  return fd;
}

int fcgx_address_tcp(fcgx_address_t *addr, const char *host, const char *port, char *err,
                     size_t err_size) {
  char *end = NULL;
  memset(addr, 0, sizeof(*addr));
  if (host[0] == '\0' || strlen(host) >= sizeof(addr->host)) {
    snprintf(err, err_size, "bad host \"%.300s\"", host);
    return -1;
  }
  errno = 0;
  long number = strtol(port, &end, 10);
  if (port[0] == '\0' || *end != '\0' || errno != 0 || number < 1 || number > 65535) {
    snprintf(err, err_size, "bad port \"%.40s\" (a number from 1 to 65535)", port);
    return -1;
  }
  snprintf(addr->host, sizeof(addr->host), "%s", host);
  snprintf(addr->port, sizeof(addr->port), "%ld", number);
  snprintf(addr->display, sizeof(addr->display), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host,
           addr->port);
  return 0;
}

int fcgx_address_set(fcgx_address_t *addr, const char *what, const char *socket_path,
                     const char *host, const char *port, char *err, size_t err_size) {
  char why[400];
  int rc;
  if (socket_path[0] && (host[0] || port[0])) {
    snprintf(err, err_size, "set either %sSocket or %sHost and %sPort, not both", what, what, what);
    return -1;
  }
  if (socket_path[0])
    rc = fcgx_address_unix(addr, socket_path, why, sizeof(why));
  else if (host[0] && port[0])
    rc = fcgx_address_tcp(addr, host, port, why, sizeof(why));
  else {
    snprintf(err, err_size, "%s: set %sSocket, or %sHost and %sPort",
             host[0]   ? "Host without Port"
             : port[0] ? "Port without Host"
                       : "no address",
             what, what, what);
    return -1;
  }
  if (rc != 0)
    snprintf(err, err_size, "%s%s: %s", what, socket_path[0] ? "Socket" : "Port", why);
  return rc;
}

int fcgx_address_in_netns(fcgx_address_t *addr, const char *ns_path, const char *ns_id, char *err,
                          size_t err_size) {
  if (strlen(ns_path) >= sizeof(addr->netns_path) || strlen(ns_id) >= sizeof(addr->netns_id) ||
      strncmp(ns_id, "net:[", 5) != 0) {
    snprintf(err, err_size, "%s: unusable network namespace %s", addr->display, ns_id);
    return -1;
  }
  snprintf(addr->netns_path, sizeof(addr->netns_path), "%s", ns_path);
  snprintf(addr->netns_id, sizeof(addr->netns_id), "%s", ns_id);
  if (addr->is_unix)
    return 0; /* reached by its path whatever the namespace: named so */
  char display[sizeof(addr->display)];
  snprintf(display, sizeof(display), "%s in %s", addr->display, ns_id);
  snprintf(addr->display, sizeof(addr->display), "%s", display);
  return 0;
}

typedef struct {
  int family;
  int fd, error;
} socket_job_t;

static void make_socket_here(void *arg) {
  socket_job_t *job = arg;
  job->fd = socket(job->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  job->error = job->fd < 0 ? errno : 0;
}

/* A non-blocking socket for addr: made in its network namespace when it has one (a socket
 * stays in the namespace it was made in). -1 with errno. */
static int make_socket(const fcgx_address_t *addr, int family) {
  socket_job_t job = {family, -1, 0};
  if (addr->netns_path[0] == '\0' || addr->is_unix) { /* a unix socket connects by its path */
    make_socket_here(&job);
  } else {
    int rc = namespace_run(addr->netns_path, addr->netns_id, CLONE_NEWNET, make_socket_here, &job);
    if (rc != 0)
      job.error = rc;
  }
  errno = job.error;
  return job.fd;
}

const char *fcgx_error_kind_name(fcgx_error_kind_t kind) {
  static const char *const names[] = {"none", "resolve",  "refused",     "permission", "timeout",
                                      "i/o",  "protocol", "http status", "parse",      "local"};
  return (size_t)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

void fcgx_endpoint_init(fcgx_endpoint_t *ep, const fcgx_address_t *addr) {
  memset(ep, 0, sizeof(*ep));
  ep->addr = addr;
  if (addr->is_unix) { /* in a root: the path is given at each connect (open_connection) */
    struct sockaddr_un *sun = (struct sockaddr_un *)&ep->sa[0];
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, addr->path, strlen(addr->path) + 1); /* checked by fcgx_address_unix */
    ep->sa_len[0] = (socklen_t)sizeof(*sun);
    ep->n_sa = 1;
    ep->resolved = true;
  }
}

/* Resolves a TCP address (up to FCGX_MAX_ADDRESSES results); done on first use, and again after
 * every address failed to connect, so a moved host is followed. */
static int resolve(fcgx_endpoint_t *ep, char *err, size_t err_size) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  const fcgx_address_t *addr = ep->addr;
  uint64_t now = fcgx_now_ns();
  if (ep->resolve_ns != 0 && now - ep->resolve_ns < RESOLVE_EVERY_NS && ep->resolve_error[0]) {
    snprintf(err, err_size, "%s", ep->resolve_error); /* not again so soon: it may block */
    return -1;
  }
  ep->resolve_ns = now;
  ep->resolve_error[0] = '\0';
  int rc = getaddrinfo(addr->host, addr->port, &hints, &res);
  if (rc != 0 || res == NULL) {
    char buf[128];
    snprintf(ep->resolve_error, sizeof(ep->resolve_error),
             "resolve %s: %s (tried again in a minute)", addr->display,
             rc == EAI_SYSTEM ? strerror_r(errno, buf, sizeof(buf)) : gai_strerror(rc));
    snprintf(err, err_size, "%s", ep->resolve_error);
    return -1;
  }
  ep->n_sa = 0;
  ep->preferred = 0;
  for (struct addrinfo *ai = res; ai != NULL && ep->n_sa < FCGX_MAX_ADDRESSES; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(ep->sa[0]))
      continue;
    memcpy(&ep->sa[ep->n_sa], ai->ai_addr, ai->ai_addrlen);
    ep->sa_len[ep->n_sa++] = ai->ai_addrlen;
  }
  freeaddrinfo(res);
  if (ep->n_sa == 0) {
    snprintf(err, err_size, "resolve %s: no usable address", addr->display);
    return -1;
  }
  ep->resolved = true;
  return 0;
}

int fcgx_endpoint_resolve(fcgx_endpoint_t *ep, char *err, size_t err_size) {
  return ep->resolved ? 0 : resolve(ep, err, err_size);
}

static void finish(fcgx_request_t *req, fcgx_error_kind_t kind) {
  if (req->fd >= 0) /* finish is only called in flight */
    close(req->fd);
  req->fd = -1;
  req->ok = kind == FCGX_ERR_NONE;
  req->error_kind = kind;
  req->end_ns = fcgx_now_ns();
  req->phase = FCGX_REQ_DONE;
}

static fcgx_error_kind_t errno_kind(int error) {
  switch (error) {
  case ECONNREFUSED:
  case ENOENT:
  case EAGAIN:
    return FCGX_ERR_REFUSED;
  case EACCES:
  case EPERM:
    return FCGX_ERR_PERMISSION;
  case ETIMEDOUT:
    return FCGX_ERR_TIMEOUT;
  case EMFILE:
  case ENFILE:
  case ENOMEM:
  case ENOBUFS:
    return FCGX_ERR_LOCAL;
  default:
    return FCGX_ERR_IO;
  }
}

static void fail_errno(fcgx_request_t *req, const char *what, int error) {
  char buf[128];
  snprintf(req->error, sizeof(req->error), "%s %s: %s", what, req->ep->addr->display,
           strerror_r(error, buf, sizeof(buf)));
  finish(req, errno_kind(error));
}

static void open_connection(fcgx_request_t *req);
static void do_send(fcgx_request_t *req);

/* A host name may have several addresses (::1 and 127.0.0.1): try the next before failing. The
 * cursor is this request's own: the pool's other requests on the same address keep theirs. */
static void connect_failed(fcgx_request_t *req, int error) {
  fcgx_endpoint_t *ep = req->ep;
  if (++req->connect_attempts < ep->n_sa) {
    close(req->fd);
    req->fd = -1;
    req->cursor = (req->cursor + 1) % ep->n_sa;
    open_connection(req);
    return;
  }
  /* Every address refused: the host may have moved; look it up again, but not every read. */
  if (!ep->addr->is_unix && fcgx_now_ns() - ep->resolve_ns >= RESOLVE_EVERY_NS)
    ep->resolved = false;
  fail_errno(req, "connect to", error);
}

static void connected(fcgx_request_t *req) {
  req->ep->preferred = req->cursor; /* tried first next time */
  req->phase = FCGX_REQ_SENDING;
  do_send(req);
}

/* Opens a non-blocking connection to the request's current sockaddr. */
static void open_connection(fcgx_request_t *req) {
  const fcgx_endpoint_t *ep = req->ep;
  const struct sockaddr_storage *sa = &ep->sa[req->cursor];
  req->fd = make_socket(ep->addr, sa->ss_family);
  if (req->fd < 0 && ep->addr->netns_path[0] != '\0') {
    int error = errno;
    char buf[128];
    snprintf(req->error, sizeof(req->error), "%s: %s", ep->addr->display,
             error == ESRCH   ? "its network namespace is gone (its master stopped)"
             : error == EPERM ? "cannot enter its network namespace: collectd needs "
                                "CAP_SYS_ADMIN (and CAP_SYS_PTRACE to see /proc/PID/ns)"
                              : strerror_r(error, buf, sizeof(buf)));
    finish(req, error == EPERM || error == EACCES ? FCGX_ERR_PERMISSION
                : error == ESRCH                  ? FCGX_ERR_REFUSED
                                                  : errno_kind(error));
    return;
  }
  if (req->fd < 0) {
    fail_errno(req, "socket for", errno);
    return;
  }
  const struct sockaddr *target = (const struct sockaddr *)sa;
  socklen_t target_len = ep->sa_len[req->cursor];
  struct sockaddr_un in_root = {.sun_family = AF_UNIX};
  int dir = -1;
  if (ep->addr->root[0] != '\0') {
    /* through its file opened inside the master's root, never a link out of it */
    dir = fcgx_address_open_socket(ep->addr, in_root.sun_path, sizeof(in_root.sun_path));
    if (dir < 0 && errno == EXDEV) {
      snprintf(req->error, sizeof(req->error),
               "connect to %s: a link in its path leads out of the master's root, refused",
               ep->addr->display);
      finish(req, FCGX_ERR_PERMISSION);
      return;
    }
    if (dir < 0) {
      fail_errno(req, "connect to", errno);
      return;
    }
    target = (const struct sockaddr *)&in_root;
    target_len = (socklen_t)sizeof(in_root);
  }
  int rc = connect(req->fd, target, target_len);
  int error = errno;
  if (dir >= 0)
    close(dir);
  errno = error;
  if (rc == 0) {
    connected(req); /* a unix socket connects at once: send now rather than after a poll round */
  } else if (errno == EAGAIN && ep->addr->is_unix) {
    /* A unix socket whose accept queue is full refuses at once instead of waiting. */
    char buf[128];
    snprintf(req->error, sizeof(req->error), "connect to %s: listen queue full (%s)",
             ep->addr->display, strerror_r(EAGAIN, buf, sizeof(buf)));
    finish(req, FCGX_ERR_REFUSED);
  } else if (errno != EINPROGRESS) {
    connect_failed(req, errno);
  }
}

static bool in_flight(const fcgx_request_t *req) {
  return req->phase == FCGX_REQ_CONNECTING || req->phase == FCGX_REQ_SENDING ||
         req->phase == FCGX_REQ_RECEIVING;
}

void fcgx_request_reset(fcgx_request_t *req) {
  /* A zeroed request has fd 0 but no socket: only an in-flight one owns its fd. */
  if (in_flight(req) && req->fd >= 0)
    close(req->fd);
  req->fd = -1;
  fcgi_buf_free(&req->wire);
  fcgi_decoder_free(&req->dec);
  req->phase = FCGX_REQ_IDLE;
}

void fcgx_request_start(fcgx_request_t *req, const fcgi_param_t *params, size_t n_params,
                        uint64_t deadline_ns, int timeout_ms, size_t max_reply) {
  fcgx_request_reset(req);
  req->sent = req->received = 0;
  req->connect_attempts = 0;
  req->ok = req->reported = false;
  req->error_kind = FCGX_ERR_NONE;
  req->error[0] = '\0';
  req->timeout_ms = timeout_ms;
  req->start_ns = fcgx_now_ns();
  req->deadline_ns = deadline_ns;
  req->end_ns = 0;
  fcgi_decoder_init(&req->dec, FCGX_REQUEST_ID, max_reply);
  req->phase = FCGX_REQ_CONNECTING;

  if (fcgi_encode_request(&req->wire, FCGX_REQUEST_ID, params, n_params) != 0) {
    snprintf(req->error, sizeof(req->error), "%s: cannot encode the request",
             req->ep->addr->display);
    finish(req, FCGX_ERR_PROTOCOL);
    return;
  }
  if (!req->ep->resolved && resolve(req->ep, req->error, sizeof(req->error)) != 0) {
    finish(req, FCGX_ERR_RESOLVE);
    return;
  }
  req->cursor = req->ep->preferred < req->ep->n_sa ? req->ep->preferred : 0;
  open_connection(req);
}

short fcgx_request_events(const fcgx_request_t *req) {
  switch (req->phase) {
  case FCGX_REQ_CONNECTING:
  case FCGX_REQ_SENDING:
    return POLLOUT;
  case FCGX_REQ_RECEIVING:
    return POLLIN;
  default:
    return 0;
  }
}

static void do_send(fcgx_request_t *req) {
  while (req->sent < req->wire.len) {
    ssize_t n = send(req->fd, req->wire.data + req->sent, req->wire.len - req->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR)
        return;
      fail_errno(req, "send to", errno);
      return;
    }
    req->sent += (size_t)n;
  }
  req->phase = FCGX_REQ_RECEIVING;
}

static void do_receive(fcgx_request_t *req) {
  char chunk[RECV_CHUNK];
  for (;;) {
    /* Records without content never reach the reply cap: bound the bytes on the wire too, and
     * give the poll loop back its deadlines under a flood. */
    if (req->received > 2 * req->dec.max_reply + RECV_CHUNK) {
      snprintf(req->error, sizeof(req->error),
               "%s: more than %zu bytes on the wire for a reply of at most %zu",
               req->ep->addr->display, req->received, req->dec.max_reply);
      finish(req, FCGX_ERR_PROTOCOL);
      return;
    }
    if (fcgx_now_ns() >= req->deadline_ns)
      return;
    ssize_t n = recv(req->fd, chunk, sizeof(chunk), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR)
        return;
      int error = errno;
      char buf[128];
      snprintf(req->error, sizeof(req->error), "receive from %s: %s (%zu bytes received)",
               req->ep->addr->display, strerror_r(error, buf, sizeof(buf)), req->received);
      finish(req, FCGX_ERR_IO);
      return;
    }
    if (n == 0) {
      snprintf(req->error, sizeof(req->error),
               "%s: connection closed before the end of the reply (%zu bytes received)",
               req->ep->addr->display, req->received);
      finish(req, FCGX_ERR_IO);
      return;
    }
    req->received += (size_t)n;
    switch (fcgi_decoder_feed(&req->dec, chunk, (size_t)n)) {
    case FCGI_DECODE_DONE:
      finish(req, FCGX_ERR_NONE);
      return;
    case FCGI_DECODE_ERROR:
      snprintf(req->error, sizeof(req->error), "%s: %s", req->ep->addr->display, req->dec.error);
      finish(req, FCGX_ERR_PROTOCOL);
      return;
    case FCGI_DECODE_MORE:
      break;
    }
  }
}

void fcgx_request_step(fcgx_request_t *req, short revents) {
  (void)revents; /* each phase's own call says what happened: SO_ERROR, send, recv */
  switch (req->phase) {
  case FCGX_REQ_CONNECTING: {
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(req->fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
      error = errno;
    if (error != 0) {
      connect_failed(req, error);
      return;
    }
    connected(req); /* writable now */
    break;
  }
  case FCGX_REQ_SENDING:
    do_send(req);
    break;
  case FCGX_REQ_RECEIVING:
    do_receive(req);
    break;
  default:
    break;
  }
}

void fcgx_request_expire(fcgx_request_t *req) {
  switch (req->phase) {
  case FCGX_REQ_CONNECTING:
    snprintf(req->error, sizeof(req->error), "connect to %s: no connection within %d ms",
             req->ep->addr->display, req->timeout_ms);
    break;
  case FCGX_REQ_SENDING:
    snprintf(req->error, sizeof(req->error), "%s: request not sent within %d ms (%zu of %zu bytes)",
             req->ep->addr->display, req->timeout_ms, req->sent, req->wire.len);
    break;
  default:
    snprintf(req->error, sizeof(req->error), "%s: no reply within %d ms (%zu bytes received)",
             req->ep->addr->display, req->timeout_ms, req->received);
    break;
  }
  finish(req, FCGX_ERR_TIMEOUT);
}

double fcgx_request_seconds(const fcgx_request_t *req) {
  uint64_t end = req->end_ns ? req->end_ns : fcgx_now_ns();
  return (double)(end - req->start_ns) / 1e9;
}
