/* The floor: a minimal blocking FastCGI client that sends a monitor's requests to each pool one
 * after another (connect, send, read to EOF, close), as the simplest possible poller would.
 * No retry, no concurrency, no collectd: what any monitoring client must at least spend.
 *
 *   floor [--full] [--opcache SCRIPT] [--timeout MS] --loop INTERVAL_S SECONDS ADDR...
 *       polls every pool each INTERVAL_S for SECONDS; prints "user_s sys_s polls ok" (getrusage)
 *   floor [--full] [--opcache SCRIPT] [--timeout MS] --reads K GAP_MS ADDR...
 *       K reads of all pools, GAP_MS apart; prints each read's wall time (s) and its ok count
 *
 * ADDR is a unix socket path or HOST:PORT (IPv4). Work per pool: status (`json`, or `json&full`
 * with --full), then with --full a ping, then with --opcache the in-pool script. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  struct sockaddr_storage sa;
  socklen_t len;
} addr_t;

static int timeout_ms = 1000;

static size_t put_len(unsigned char *p, size_t len) {
  if (len < 128) {
    p[0] = (unsigned char)len;
    return 1;
  }
  p[0] = (unsigned char)((len >> 24) | 0x80);
  p[1] = (unsigned char)(len >> 16);
  p[2] = (unsigned char)(len >> 8);
  p[3] = (unsigned char)len;
  return 4;
}

static size_t record(unsigned char *out, int type, const unsigned char *content, size_t len) {
  unsigned char *p = out;
  size_t pad = (8 - len % 8) % 8;
  *p++ = 1;
  *p++ = (unsigned char)type;
  *p++ = 0;
  *p++ = 1; /* request id 1 */
  *p++ = (unsigned char)(len >> 8);
  *p++ = (unsigned char)len;
  *p++ = (unsigned char)pad;
  *p++ = 0;
  if (len)
    memcpy(p, content, len);
  p += len;
  memset(p, 0, pad);
  return (size_t)(p - out) + pad;
}

/* BEGIN_REQUEST, PARAMS, empty PARAMS, empty STDIN: what a web server sends for a GET. */
static size_t encode(unsigned char *out, const char *path, const char *filename,
                     const char *query) {
  char uri[600];
  snprintf(uri, sizeof(uri), "%s%s%s", path, query[0] ? "?" : "", query);
  const char *params[][2] = {
      {"GATEWAY_INTERFACE", "FastCGI/1.0"},
      {"SERVER_SOFTWARE", "floor"},
      {"SERVER_PROTOCOL", "HTTP/1.1"},
      {"REQUEST_METHOD", "GET"},
      {"SCRIPT_NAME", path},
      {"SCRIPT_FILENAME", filename},
      {"DOCUMENT_URI", path},
      {"QUERY_STRING", query},
      {"REQUEST_URI", uri},
      {"FCGX_STATUS_REQUEST", "1"},
  };
  unsigned char body[4096];
  size_t n = 0;
  for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
    size_t kl = strlen(params[i][0]), vl = strlen(params[i][1]);
    n += put_len(body + n, kl);
    n += put_len(body + n, vl);
    memcpy(body + n, params[i][0], kl);
    n += kl;
    memcpy(body + n, params[i][1], vl);
    n += vl;
  }
  const unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0}; /* RESPONDER, no KEEP_CONN */
  size_t o = record(out, 1, begin, 8);
  o += record(out + o, 4, body, n);
  o += record(out + o, 4, NULL, 0);
  o += record(out + o, 5, NULL, 0);
  return o;
}

/* One request on a new connection; returns the reply's STDOUT length (>0) or -1. */
static long exchange(const addr_t *a, const unsigned char *req, size_t req_len, char *reply,
                     size_t cap) {
  int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  long out = -1;
  if (connect(fd, (const struct sockaddr *)&a->sa, a->len) != 0)
    goto done;
  if (send(fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len)
    goto done;
  /* Read to EOF (php-fpm closes: no KEEP_CONN), then walk the records. */
  static unsigned char buf[1 << 20];
  size_t got = 0;
  for (;;) {
    ssize_t r = recv(fd, buf + got, sizeof(buf) - got, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      goto done;
    if (r == 0)
      break;
    got += (size_t)r;
    if (got == sizeof(buf))
      goto done;
  }
  size_t pos = 0, o = 0;
  int ended = 0;
  while (pos + 8 <= got) {
    size_t clen = ((size_t)buf[pos + 4] << 8) | buf[pos + 5], plen = buf[pos + 6];
    int type = buf[pos + 1];
    if (pos + 8 + clen + plen > got)
      break;
    if (type == 6 && o + clen < cap) {
      memcpy(reply + o, buf + pos + 8, clen);
      o += clen;
    } else if (type == 3) {
      ended = 1;
    }
    pos += 8 + clen + plen;
  }
  reply[o] = '\0';
  if (ended && o > 0)
    out = (long)o;
done:
  close(fd);
  return out;
}

static const char *KEYS[] = {"\"accepted conn\":", "\"slow requests\":", "\"listen queue\":",
                             "\"active processes\":", "\"total processes\":"};

static unsigned char status_req[4096], ping_req[4096], script_req[4096];
static size_t status_len, ping_len, script_len;
static int full;
static const char *script;

/* One pool's poll; returns 1 when every request answered as expected. */
static int poll_pool(const addr_t *a) {
  static char reply[1 << 20];
  volatile double sum = 0; /* read the five figures, as the simplest client would */
  if (exchange(a, status_req, status_len, reply, sizeof(reply)) <= 0)
    return 0;
  for (size_t k = 0; k < sizeof(KEYS) / sizeof(KEYS[0]); k++) {
    const char *p = strstr(reply, KEYS[k]);
    if (p == NULL)
      return 0;
    sum += strtod(p + strlen(KEYS[k]), NULL);
  }
  if (full) {
    long n = exchange(a, ping_req, ping_len, reply, sizeof(reply));
    if (n <= 0 || strstr(reply, "pong") == NULL)
      return 0;
  }
  if (script && exchange(a, script_req, script_len, reply, sizeof(reply)) <= 0)
    return 0;
  return 1;
}

static int parse_addr(const char *s, addr_t *a) {
  memset(a, 0, sizeof(*a));
  if (s[0] == '/') {
    struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
    un->sun_family = AF_UNIX;
    if (strlen(s) >= sizeof(un->sun_path))
      return -1;
    strcpy(un->sun_path, s);
    a->len = sizeof(*un);
    return 0;
  }
  const char *colon = strrchr(s, ':');
  if (colon == NULL)
    return -1;
  char host[64];
  snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
  struct sockaddr_in *in = (struct sockaddr_in *)&a->sa;
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
    return -1;
  a->len = sizeof(*in);
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
  struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

int main(int argc, char **argv) {
  double interval = 0, seconds = 0;
  int reads = 0, gap_ms = 0, i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
    if (strcmp(argv[i], "--full") == 0)
      full = 1;
    else if (strcmp(argv[i], "--opcache") == 0 && i + 1 < argc)
      script = argv[++i];
    else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
      timeout_ms = atoi(argv[++i]);
    else if (strcmp(argv[i], "--loop") == 0 && i + 2 < argc) {
      interval = atof(argv[++i]);
      seconds = atof(argv[++i]);
    } else if (strcmp(argv[i], "--reads") == 0 && i + 2 < argc) {
      reads = atoi(argv[++i]);
      gap_ms = atoi(argv[++i]);
    } else {
      fprintf(stderr, "floor: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  int n = argc - i;
  if (n <= 0 || (interval <= 0 && reads <= 0)) {
    fprintf(stderr, "usage: floor [--full] [--opcache SCRIPT] [--timeout MS] "
                    "(--loop INTERVAL SECONDS | --reads K GAP_MS) ADDR...\n");
    return 2;
  }
  addr_t *addrs = calloc((size_t)n, sizeof(*addrs));
  for (int k = 0; k < n; k++)
    if (parse_addr(argv[i + k], &addrs[k]) != 0) {
      fprintf(stderr, "floor: bad address %s\n", argv[i + k]);
      return 2;
    }
  status_len = encode(status_req, "/status", "/status", full ? "json&full" : "json");
  ping_len = encode(ping_req, "/ping", "/ping", "");
  if (script) {
    const char *base = strrchr(script, '/');
    script_len = encode(script_req, base ? base : script, script, "");
  }

  if (reads > 0) {
    for (int r = 0; r < reads; r++) {
      int ok = 0;
      double t0 = now_s();
      for (int k = 0; k < n; k++)
        ok += poll_pool(&addrs[k]);
      printf("%.6f %d\n", now_s() - t0, ok);
      fflush(stdout);
      if (gap_ms > 0)
        usleep((useconds_t)gap_ms * 1000);
    }
    return 0;
  }
  double start = now_s(), next = start;
  long polls = 0, ok = 0;
  while (next < start + seconds) {
    sleep_until(next);
    for (int k = 0; k < n; k++) {
      ok += poll_pool(&addrs[k]);
      polls++;
    }
    next += interval;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("%.6f %.6f %ld %ld\n", (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, polls, ok);
  return 0;
}
