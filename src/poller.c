/* One poll() loop for many requests; see poller.h. */
#include "poller.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls on_done once for every request that has ended; a callback may start its request again,
 * and a restart can end at once, so repeat until nothing new has ended. */
static void report_ended(fcgx_request_t *const *reqs, size_t n) {
  bool again = true;
  while (again) {
    again = false;
    for (size_t i = 0; i < n; i++) {
      fcgx_request_t *req = reqs[i];
      if (req->phase != FCGX_REQ_DONE || req->reported)
        continue;
      req->reported = true;
      if (req->on_done != NULL)
        req->on_done(req);
      again = true;
    }
  }
}

static void fail_all(fcgx_request_t *const *reqs, size_t n, const char *why) {
  for (size_t i = 0; i < n; i++)
    if (fcgx_request_events(reqs[i]) != 0) {
      fcgx_request_expire(reqs[i]);
      snprintf(reqs[i]->error, sizeof(reqs[i]->error), "%s: %s", reqs[i]->ep->addr->display, why);
      reqs[i]->error_kind = FCGX_ERR_IO;
    }
}

void fcgx_poller_run(fcgx_request_t *const *reqs, size_t n) {
  struct pollfd *fds = calloc(n ? n : 1, sizeof(*fds));
  fcgx_request_t **polled = calloc(n ? n : 1, sizeof(fcgx_request_t *));
  if (fds == NULL || polled == NULL) {
    fail_all(reqs, n, "out of memory");
    report_ended(reqs, n);
    free(fds);
    free(polled);
    return;
  }

  for (;;) {
    report_ended(reqs, n);
    uint64_t now = fcgx_now_ns();
    uint64_t earliest = UINT64_MAX;
    size_t nfds = 0;
    bool expired = false;
    for (size_t i = 0; i < n; i++) {
      fcgx_request_t *req = reqs[i];
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
      fds[nfds] = (struct pollfd){.fd = req->fd, .events = events};
      polled[nfds++] = req;
    }
    if (expired)
      continue;
    if (nfds == 0)
      break;
    /* Round up so a wait never ends just before a deadline and spins. */
    uint64_t wait_ns = earliest - now;
    int timeout_ms = (int)((wait_ns + 999999) / 1000000);
    int rc = poll(fds, nfds, timeout_ms);
    if (rc < 0) {
      if (errno == EINTR)
        continue;
      char buf[128];
      fail_all(reqs, n, strerror_r(errno, buf, sizeof(buf)));
      continue;
    }
    for (size_t j = 0; j < nfds && rc > 0; j++) {
      if (fds[j].revents == 0)
        continue;
      rc--;
      fcgx_request_step(polled[j], fds[j].revents);
    }
  }
  report_ended(reqs, n);
  free(fds);
  free(polled);
}
