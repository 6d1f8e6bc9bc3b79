/* Runs many FastCGI requests at once in one poll() loop, each under its own deadline, taking in
 * new ones as earlier ones end (a bounded number in flight). */
#ifndef FCGX_POLLER_H
#define FCGX_POLLER_H

#include "transport.h"

typedef struct fcgx_poller fcgx_poller_t;

/* Called at the start and whenever requests have ended: it may add more (fcgx_poller_add). */
typedef void (*fcgx_poller_refill_fn)(fcgx_poller_t *poller, void *ctx);

/* Drives the requests refill adds until none is active and refill adds no more. capacity: the
 * most requests active at once. Each request's on_done is called once per end; a callback that
 * starts its request again (a retry) keeps it in the loop. Returns 0, or -1 when out of memory
 * (refill was not called). */
int fcgx_poller_run(size_t capacity, fcgx_poller_refill_fn refill, void *ctx);

/* Drives a started request (one not already in the loop). Returns 0, or -1 when capacity
 * requests are active: the request is ended as failed, and its on_done is still called. */
int fcgx_poller_add(fcgx_poller_t *poller, fcgx_request_t *req);

#endif
