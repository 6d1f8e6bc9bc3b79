/* Runs many FastCGI requests at once in one poll() loop, each under its own deadline. */
#ifndef FCGX_POLLER_H
#define FCGX_POLLER_H

#include "transport.h"

/* Drives every started request in reqs until each is done (on_done called once per end; a
 * callback that starts its request again keeps it in the loop). Returns when none is active. */
void fcgx_poller_run(fcgx_request_t *const *reqs, size_t n);

#endif
