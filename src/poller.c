/* One poll() loop for many requests; see poller.h. */
#include "poller.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fcgx_poller {
  fcgx_request_t **active; /* started and not yet reported ended */
  size_t n, capacity;
  struct pollfd *fds;
  fcgx_request_t **polled; /* the request of each fds entry */
};

static void fail(fcgx_request_t *req, const char *why) {
  fcgx_request_expire(req);
  snprintf(req->error, sizeof(req->error), "%s: %s", req->ep->addr->display, why);
  req->error_kind = FCGX_ERR_LOCAL;
}

int fcgx_poller_add(fcgx_poller_t *poller, fcgx_request_t *req) {
  if (poller->n == poller->capacity) {
    if (fcgx_request_events(req) != 0)
      fail(req, "more requests at once than fcgx allows (a bug)");
    /* ended already: its on_done is called here, as the loop would */
    if (!req->reported) {
      req->reported = true;
      if (req->on_done != NULL)
        req->on_done(req);
    }
    return -1;
  }
  poller->active[poller->n++] = req;
  return 0;
}

/* Calls on_done once for every request that has ended and drops it from the loop, unless the
 * callback started it again. Returns whether any had ended. */
static bool report_ended(fcgx_poller_t *poller) {
  bool any = false;
  for (size_t i = 0; i < poller->n;) {
    fcgx_request_t *req = poller->active[i];
    if (req->phase == FCGX_REQ_DONE && !req->reported) {
      req->reported = true;
      any = true;
      if (req->on_done != NULL)
        req->on_done(req); /* may add requests, or start this one again */
      continue;            /* look at it again: a restart can end at once */
    }
    if (req->phase == FCGX_REQ_DONE || req->phase == FCGX_REQ_IDLE)
      poller->active[i] = poller->active[--poller->n];
    else
      i++;
  }
  return any;
}

static void fail_all(fcgx_poller_t *poller, const char *why) {
  for (size_t i = 0; i < poller->n; i++)
    if (fcgx_request_events(poller->active[i]) != 0)
      fail(poller->active[i], why);
}

int fcgx_poller_run(size_t capacity, fcgx_poller_refill_fn refill, void *ctx) {
  fcgx_poller_t poller = {.capacity = capacity ? capacity : 1};
  poller.active = calloc(poller.capacity, sizeof(fcgx_request_t *));
  poller.fds = calloc(poller.capacity, sizeof(struct pollfd));
  poller.polled = calloc(poller.capacity, sizeof(fcgx_request_t *));
  if (poller.active == NULL || poller.fds == NULL || poller.polled == NULL) {
    free(poller.active);
    free(poller.fds);
    free(poller.polled);
    return -1;
  }

  for (;;) {
    /* Ended requests free room, refilled ones may end at once (a refused connect). */
    do
      refill(&poller, ctx);
    while (report_ended(&poller));
    uint64_t now = fcgx_now_ns();
    uint64_t earliest = UINT64_MAX;
    size_t nfds = 0;
    bool expired = false;
    for (size_t i = 0; i < poller.n; i++) {
      fcgx_request_t *req = poller.active[i];
      short events = fcgx_request_events(req);
      if (events == 0)
        continue;
      if (now >= req->deadline_ns) {
        fcgx_request_expire(req);
        expired = true;
        continue;
      }
      if (req->deadline_ns < earliest)
        earliest = req->deadline_ns;
      poller.fds[nfds] = (struct pollfd){.fd = req->fd, .events = events};
      poller.polled[nfds++] = req;
    }
    if (expired)
      continue;
    if (nfds == 0)
      break;
    /* Round up so a wait never ends just before a deadline and spins. */
    uint64_t wait_ns = earliest - now;
    int timeout_ms = (int)((wait_ns + 999999) / 1000000);
    int rc = poll(poller.fds, nfds, timeout_ms);
    if (rc < 0) {
      if (errno == EINTR)
        continue;
      char buf[128];
      fail_all(&poller, strerror_r(errno, buf, sizeof(buf)));
      continue;
    }
    for (size_t j = 0; j < nfds && rc > 0; j++) {
      if (poller.fds[j].revents == 0)
        continue;
      rc--;
      fcgx_request_step(poller.polled[j], poller.fds[j].revents);
    }
  }
  free(poller.active);
  free(poller.fds);
  free(poller.polled);
  return 0;
}
