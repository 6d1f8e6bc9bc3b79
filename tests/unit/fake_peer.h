/* A scripted FastCGI peer for the unit tests of the I/O layer (transport, poller, pool).
 * Header-only (static functions) so each test binary stays one source file.
 *
 * It listens on unix sockets (in a mkdtemp folder) and on TCP 127.0.0.1 with an ephemeral port;
 * one thread accepts, one thread per connection reads the request (BEGIN_REQUEST, PARAMS until the
 * empty record, the empty STDIN) and answers by the first rule of the script that matches its
 * SCRIPT_NAME / QUERY_STRING: records wrapping given STDOUT / STDERR bytes, raw bytes, or a
 * misbehaviour (a delay, never answering, a cut reply, a slow drip). Each connection is logged
 * (listener, params, BEGIN_REQUEST fields, when it was accepted and when the reply began) for the
 * tests to assert on after peer_stop. One thread serves every connection in one poll() loop (a
 * thread per connection is slow under valgrind, which runs one thread at a time). Every
 * connection is closed after PEER_IO_LIMIT_MS at most, and peer_stop ends and joins the thread. */
#ifndef FCGX_FAKE_PEER_H
#define FCGX_FAKE_PEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PEER_MAX_LISTEN 64
#define PEER_MAX_RULES 16
#define PEER_MAX_CONNS 512
#define PEER_PARAMS_SIZE 4096
#define PEER_IO_LIMIT_MS 5000 /* the peer closes any connection this long after accepting it */
#define PEER_RECORD_CHUNK 8000

typedef enum {
  PEER_REPLY, /* out / err wrapped into STDOUT / STDERR records, then END_REQUEST */
  PEER_RAW,   /* out sent as is (records crafted by the test, a captured .wire, garbage) */
  PEER_HANG,  /* read the request, never answer; wait until the client closes */
} peer_action_t;

typedef struct {
  const char *script_name; /* NULL: any */
  const char *query;       /* NULL: any */
  int listener;            /* -1 (peer_rule's default): any */
  int times;               /* the rule serves this many connections; 0: any number */
  peer_action_t action;
  const char *out;
  size_t out_len;
  const char *err;
  size_t err_len;
  int delay_ms;  /* before the reply begins */
  size_t cut_at; /* nonzero: send only the first cut_at bytes of the reply, then close */
  int drip_ms;   /* nonzero: send the reply drip_bytes (default 1) at a time, this far apart */
  size_t drip_bytes;
  bool hold_open;       /* after the reply, keep the connection until the client closes it */
  bool unlink_listener; /* before the reply, remove the listener's socket file (php-fpm gone) */
  /* internal */
  int used;
} peer_rule_t;

typedef struct {
  char *data;
  size_t len, cap;
} peer_buf_t;

typedef enum { PEER_C_READ, PEER_C_DELAY, PEER_C_SEND, PEER_C_HOLD, PEER_C_DONE } peer_state_t;

typedef struct {
  int listener;
  /* a sequence shared by every event of the peer, and the monotonic times */
  unsigned accept_seq, reply_seq; /* 0: not happened */
  uint64_t accept_ns, reply_ns;
  /* the request as read */
  bool request_ok;
  char request_error[160];
  int version, role, flags, request_id;
  bool saw_other_record;         /* a record type other than BEGIN_REQUEST, PARAMS, STDIN */
  char params[PEER_PARAMS_SIZE]; /* name\0value\0 ... */
  size_t params_len;
  int rule; /* -1: none matched */
  /* the connection's progress */
  int fd;
  peer_state_t state;
  peer_buf_t in, reply;
  size_t reply_len, sent;
  uint64_t wake_ns; /* PEER_C_DELAY: when the reply begins; PEER_C_SEND: when to send more */
} peer_conn_t;

typedef struct {
  char dir[64];
  int n_listen;
  int listen_fd[PEER_MAX_LISTEN];
  char listen_path[PEER_MAX_LISTEN][108]; /* "" for TCP */
  int listen_port[PEER_MAX_LISTEN];
  int stop_pipe[2];
  pthread_t thread;
  bool running, stopped;

  unsigned seq;
  peer_rule_t rules[PEER_MAX_RULES]; /* set before peer_start */
  int n_rules;
  peer_conn_t conns[PEER_MAX_CONNS];
  int n_conns;
  int unmatched; /* requests no rule answered */
} peer_t;

static uint64_t peer_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- set-up ----------------------------------------------------------------------------- */

/* Allocates a peer with its folder for unix sockets; returns NULL on failure. */
static peer_t *peer_new(void) {
  peer_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  snprintf(p->dir, sizeof(p->dir), "/tmp/fcgx-peer-XXXXXX");
  if (mkdtemp(p->dir) == NULL || pipe(p->stop_pipe) != 0) {
    free(p);
    return NULL;
  }
  return p;
}

/* Listens on DIR/name; returns the listener's index, or -1. The path is peer_path(p, index). */
static int peer_listen_unix(peer_t *p, const char *name) {
  if (p->n_listen >= PEER_MAX_LISTEN)
    return -1;
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  int i = p->n_listen;
  snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", p->dir, name);
  memcpy(p->listen_path[i], sun.sun_path, sizeof(p->listen_path[i]));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 128) != 0) {
    close(fd);
    return -1;
  }
  p->listen_fd[i] = fd;
  p->n_listen++;
  return i;
}

/* Listens on 127.0.0.1 with an ephemeral port (peer_port(p, index)); returns the index, or -1. */
static int peer_listen_tcp(peer_t *p) {
  if (p->n_listen >= PEER_MAX_LISTEN)
    return -1;
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sin);
  int i = p->n_listen;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 128) != 0 ||
      getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
    close(fd);
    return -1;
  }
  p->listen_fd[i] = fd;
  p->listen_path[i][0] = '\0';
  p->listen_port[i] = ntohs(sin.sin_port);
  p->n_listen++;
  return i;
}

static const char *peer_path(const peer_t *p, int listener) {
  return p->listen_path[listener];
}

static int peer_port(const peer_t *p, int listener) {
  return p->listen_port[listener];
}

/* Adds a rule (before peer_start); returns it to adjust. */
static peer_rule_t *peer_rule(peer_t *p, const char *script_name, const char *query,
                              peer_action_t action, const char *out, size_t out_len) {
  peer_rule_t *r = NULL;
  if (p->n_rules < PEER_MAX_RULES) {
    r = &p->rules[p->n_rules++];
    memset(r, 0, sizeof(*r));
    r->script_name = script_name;
    r->listener = -1;
    r->query = query;
    r->action = action;
    r->out = out;
    r->out_len = out_len;
  }
  return r;
}

/* ---- byte helpers ------------------------------------------------------------------------- */

static void peer_buf_add(peer_buf_t *b, const void *bytes, size_t len) {
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + len)
      cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL)
      abort();
    b->data = grown;
    b->cap = cap;
  }
  if (len > 0)
    memcpy(b->data + b->len, bytes, len);
  b->len += len;
}

/* Appends one record padded to 8 bytes, with any version, type and request id. */
static void peer_record(peer_buf_t *b, uint8_t version, uint8_t type, uint16_t id,
                        const void *content, size_t len) {
  static const char zeros[8] = {0};
  size_t padding = (8 - len % 8) % 8;
  uint8_t h[8] = {
      version,          type, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(len >> 8), (uint8_t)len,
      (uint8_t)padding, 0};
  peer_buf_add(b, h, sizeof(h));
  peer_buf_add(b, content, len);
  peer_buf_add(b, zeros, padding);
}

/* Appends a stream as records of at most PEER_RECORD_CHUNK bytes (no empty closing record, as
 * php-fpm does). */
static void peer_stream(peer_buf_t *b, uint8_t type, uint16_t id, const char *data, size_t len) {
  for (size_t off = 0; off < len; off += PEER_RECORD_CHUNK) {
    size_t n = len - off < PEER_RECORD_CHUNK ? len - off : PEER_RECORD_CHUNK;
    peer_record(b, 1, type, id, data + off, n);
  }
}

static void peer_end_request(peer_buf_t *b, uint16_t id, uint32_t app_status,
                             uint8_t protocol_status) {
  uint8_t body[8] = {(uint8_t)(app_status >> 24), (uint8_t)(app_status >> 16),
                     (uint8_t)(app_status >> 8), (uint8_t)app_status, protocol_status};
  peer_record(b, 1, 3 /* END_REQUEST */, id, body, sizeof(body));
}

/* A whole reply: STDOUT, STDERR, END_REQUEST(0, REQUEST_COMPLETE). */
static void peer_wrap(peer_buf_t *b, uint16_t id, const char *out, size_t out_len, const char *err,
                      size_t err_len) {
  peer_stream(b, 6 /* STDOUT */, id, out, out_len);
  peer_stream(b, 7 /* STDERR */, id, err, err_len);
  peer_end_request(b, id, 0, 0);
}

/* ---- the connections ------------------------------------------------------------------------ */

static void peer_add_params(peer_conn_t *c, const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    size_t lens[2];
    for (int k = 0; k < 2; k++) {
      if (i >= len)
        return;
      if (s[i] & 0x80) {
        if (i + 4 > len)
          return;
        lens[k] = ((size_t)(s[i] & 0x7f) << 24) | ((size_t)s[i + 1] << 16) |
                  ((size_t)s[i + 2] << 8) | s[i + 3];
        i += 4;
      } else {
        lens[k] = s[i++];
      }
    }
    if (i + lens[0] + lens[1] > len || c->params_len + lens[0] + lens[1] + 2 > PEER_PARAMS_SIZE)
      return;
    memcpy(c->params + c->params_len, s + i, lens[0]);
    c->params_len += lens[0];
    c->params[c->params_len++] = '\0';
    memcpy(c->params + c->params_len, s + i + lens[0], lens[1]);
    c->params_len += lens[1];
    c->params[c->params_len++] = '\0';
    i += lens[0] + lens[1];
  }
}

/* A param of a logged connection, or NULL. */
static const char *peer_param(const peer_conn_t *c, const char *name) {
  size_t i = 0;
  while (i < c->params_len) {
    const char *n = c->params + i;
    const char *v = n + strlen(n) + 1;
    if (strcmp(n, name) == 0)
      return v;
    i = (size_t)(v + strlen(v) + 1 - c->params);
  }
  return NULL;
}

/* Parses the request bytes read so far; returns true once the empty STDIN has arrived (the
 * request is then in c: request_ok, the BEGIN_REQUEST fields, the params). */
static bool peer_parse_request(peer_conn_t *c) {
  const uint8_t *d = (const uint8_t *)c->in.data;
  size_t at = 0;
  bool began = false, params_done = false;
  peer_buf_t params = {0};
  bool complete = false;
  while (at + 8 <= c->in.len) {
    const uint8_t *h = d + at;
    size_t len = (size_t)h[4] << 8 | h[5];
    if (at + 8 + len + h[6] > c->in.len)
      break;
    const uint8_t *content = h + 8;
    at += 8 + len + h[6];
    c->version = h[0];
    c->request_id = h[2] << 8 | h[3];
    if (h[1] == 1 /* BEGIN_REQUEST */ && len == 8) {
      began = true;
      c->role = content[0] << 8 | content[1];
      c->flags = content[2];
    } else if (h[1] == 4 /* PARAMS */) {
      if (len == 0)
        params_done = true;
      else
        peer_buf_add(&params, content, len);
    } else if (h[1] == 5 /* STDIN */ && len == 0) {
      c->request_ok = began && params_done;
      if (!c->request_ok)
        snprintf(c->request_error, sizeof(c->request_error), "STDIN before %s",
                 began ? "the end of PARAMS" : "BEGIN_REQUEST");
      complete = true;
      break;
    } else if (h[1] != 5) {
      c->saw_other_record = true;
    }
  }
  if (complete && params.len > 0)
    peer_add_params(c, (const uint8_t *)params.data, params.len);
  free(params.data);
  return complete;
}

static bool peer_matches(const char *want, const char *got) {
  return want == NULL || (got != NULL && strcmp(want, got) == 0);
}

static void peer_close(peer_conn_t *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->state = PEER_C_DONE;
  free(c->in.data);
  free(c->reply.data);
  memset(&c->in, 0, sizeof(c->in));
  memset(&c->reply, 0, sizeof(c->reply));
}

static const peer_rule_t *peer_conn_rule(const peer_t *p, const peer_conn_t *c) {
  return c->rule >= 0 ? &p->rules[c->rule] : NULL;
}

/* The request is complete: pick the rule, then wait for its delay or begin the reply. */
static void peer_request_read(peer_t *p, peer_conn_t *c, uint64_t now) {
  const char *name = peer_param(c, "SCRIPT_NAME");
  const char *query = peer_param(c, "QUERY_STRING");
  c->rule = -1;
  for (int i = 0; c->request_ok && i < p->n_rules; i++) {
    peer_rule_t *r = &p->rules[i];
    if ((r->times == 0 || r->used < r->times) && (r->listener < 0 || r->listener == c->listener) &&
        peer_matches(r->script_name, name) && peer_matches(r->query, query)) {
      r->used++;
      c->rule = i;
      break;
    }
  }
  if (c->rule < 0) {
    p->unmatched++;
    peer_close(c);
    return;
  }
  c->state = PEER_C_DELAY;
  c->wake_ns = now + (uint64_t)p->rules[c->rule].delay_ms * 1000000u;
}

static void peer_begin_reply(peer_t *p, peer_conn_t *c, uint64_t now) {
  const peer_rule_t *rule = peer_conn_rule(p, c);
  if (rule->unlink_listener && p->listen_path[c->listener][0])
    unlink(p->listen_path[c->listener]);
  if (rule->action == PEER_HANG) {
    c->state = PEER_C_HOLD;
    return;
  }
  if (rule->action == PEER_REPLY)
    peer_wrap(&c->reply, (uint16_t)c->request_id, rule->out, rule->out_len, rule->err,
              rule->err_len);
  else
    peer_buf_add(&c->reply, rule->out, rule->out_len);
  c->reply_len = rule->cut_at && rule->cut_at < c->reply.len ? rule->cut_at : c->reply.len;
  c->reply_seq = ++p->seq;
  c->reply_ns = now;
  c->state = PEER_C_SEND;
  c->wake_ns = now;
}

/* Sends what is due (a drip's next piece, or all it can); closes when done or the client is
 * gone. */
static void peer_send_some(const peer_t *p, peer_conn_t *c, uint64_t now) {
  const peer_rule_t *rule = peer_conn_rule(p, c);
  while (c->sent < c->reply_len) {
    size_t n = c->reply_len - c->sent;
    if (rule->drip_ms > 0) {
      size_t step = rule->drip_bytes ? rule->drip_bytes : 1;
      n = n < step ? n : step;
    }
    ssize_t rc = send(c->fd, c->reply.data + c->sent, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (rc < 0 && (errno == EAGAIN || errno == EINTR))
      return; /* POLLOUT */
    if (rc <= 0) {
      peer_close(c); /* the client is gone */
      return;
    }
    c->sent += (size_t)rc;
    if (rule->drip_ms > 0 && c->sent < c->reply_len) {
      c->wake_ns = now + (uint64_t)rule->drip_ms * 1000000u;
      return;
    }
  }
  if (rule->hold_open)
    c->state = PEER_C_HOLD;
  else
    peer_close(c);
}

/* Reads what the client sent; in PEER_C_HOLD, only waits for its EOF. */
static void peer_receive(peer_t *p, peer_conn_t *c, uint64_t now) {
  char chunk[4096];
  ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    if (c->state == PEER_C_READ)
      snprintf(c->request_error, sizeof(c->request_error), "request cut short");
    peer_close(c);
    return;
  }
  if (c->state != PEER_C_READ)
    return;
  peer_buf_add(&c->in, chunk, (size_t)n);
  if (peer_parse_request(c))
    peer_request_read(p, c, now);
}

static void peer_accept(peer_t *p, int listener, uint64_t now) {
  int fd = accept4(p->listen_fd[listener], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0)
    return;
  if (p->n_conns >= PEER_MAX_CONNS) {
    close(fd);
    return;
  }
  peer_conn_t *c = &p->conns[p->n_conns++];
  memset(c, 0, sizeof(*c));
  c->listener = listener;
  c->fd = fd;
  c->rule = -1;
  c->state = PEER_C_READ;
  c->accept_seq = ++p->seq;
  c->accept_ns = now;
}

/* Waiting for a time rather than for the socket: a delay, or the pause of a drip. */
static bool peer_timed(const peer_conn_t *c, uint64_t now) {
  return c->state == PEER_C_DELAY || (c->state == PEER_C_SEND && c->wake_ns > now);
}

static void *peer_main(void *arg) {
  peer_t *p = arg;
  static struct pollfd pfd[PEER_MAX_LISTEN + 1 + PEER_MAX_CONNS];
  static int pfd_conn[PEER_MAX_LISTEN + 1 + PEER_MAX_CONNS];
  for (;;) {
    uint64_t now = peer_now_ns();
    uint64_t wake = now + 1000000000u;
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = p->stop_pipe[0], .events = POLLIN};
    for (int i = 0; i < p->n_listen; i++) {
      pfd_conn[n] = -1 - i;
      pfd[n++] = (struct pollfd){.fd = p->listen_fd[i], .events = POLLIN};
    }
    for (int i = 0; i < p->n_conns; i++) {
      peer_conn_t *c = &p->conns[i];
      if (c->state == PEER_C_DONE)
        continue;
      if (now >= c->accept_ns + (uint64_t)PEER_IO_LIMIT_MS * 1000000u) {
        peer_close(c);
        continue;
      }
      if (c->state == PEER_C_DELAY && now >= c->wake_ns)
        peer_begin_reply(p, c, now);
      if (c->state == PEER_C_SEND && now >= c->wake_ns)
        peer_send_some(p, c, now);
      if (c->state == PEER_C_DONE)
        continue;
      short events = 0;
      if (peer_timed(c, now)) {
        if (c->wake_ns < wake)
          wake = c->wake_ns;
      } else {
        events = c->state == PEER_C_SEND ? POLLOUT : POLLIN;
      }
      if (events != 0) {
        pfd_conn[n] = i;
        pfd[n++] = (struct pollfd){.fd = c->fd, .events = events};
      }
    }
    int timeout = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
    int rc = poll(pfd, n, timeout);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc < 0 || pfd[0].revents != 0)
      break;
    now = peer_now_ns();
    for (nfds_t j = 1; j < n; j++) {
      if (pfd[j].revents == 0)
        continue;
      if (pfd_conn[j] < 0) {
        peer_accept(p, -1 - pfd_conn[j], now);
        continue;
      }
      peer_conn_t *c = &p->conns[pfd_conn[j]];
      if (c->state == PEER_C_SEND)
        peer_send_some(p, c, now);
      else
        peer_receive(p, c, now);
    }
  }
  for (int i = 0; i < p->n_conns; i++)
    peer_close(&p->conns[i]);
  return NULL;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

static bool peer_start(peer_t *p) {
  p->running = pthread_create(&p->thread, NULL, peer_main, p) == 0;
  return p->running;
}

/* Stops the thread (a hung or dripping connection ends at once), closes every socket and
 * removes the folder. The log stays readable until peer_free. Once only: later calls do nothing. */
static void peer_stop(peer_t *p) {
  if (p->stopped)
    return;
  p->stopped = true;
  if (write(p->stop_pipe[1], "x", 1) != 1)
    abort();
  if (p->running)
    pthread_join(p->thread, NULL);
  p->running = false;
  for (int i = 0; i < p->n_listen; i++) {
    if (p->listen_fd[i] >= 0)
      close(p->listen_fd[i]);
    p->listen_fd[i] = -1;
    if (p->listen_path[i][0])
      unlink(p->listen_path[i]);
  }
  rmdir(p->dir);
}

/* Stops the peer if still running, and frees it. */
static void peer_free(peer_t *p) {
  peer_stop(p);
  close(p->stop_pipe[0]);
  close(p->stop_pipe[1]);
  free(p);
}

/* The nth (from 0) logged connection whose SCRIPT_NAME is name (NULL: any), or NULL. Read the log
 * after peer_stop, when no thread writes it any more. */
static const peer_conn_t *peer_find(const peer_t *p, const char *name, int nth) {
  for (int i = 0; i < p->n_conns; i++) {
    const peer_conn_t *c = &p->conns[i];
    if (name == NULL ||
        (peer_param(c, "SCRIPT_NAME") != NULL && strcmp(peer_param(c, "SCRIPT_NAME"), name) == 0)) {
      if (nth-- == 0)
        return c;
    }
  }
  return NULL;
}

static int peer_count_name(const peer_t *p, const char *name) {
  int n = 0;
  while (peer_find(p, name, n) != NULL)
    n++;
  return n;
}

#endif
