/* The metric catalogue: every value list fcgx dispatches, as {type, type instance, kind, owner,
 * where the value comes from}. The collectd glue walks it to dispatch, fcgx-probe to print, and a
 * unit test checks it against types.db.fcgx and the README. No collectd, no printing. */
#ifndef FCGX_METRICS_H
#define FCGX_METRICS_H

#include "pool.h"
#include "workers.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { METRIC_GAUGE, METRIC_DERIVE } metric_kind_t;

/* Whose plugin instance a value goes under: the pool's, or its cache's (OPcache and APCu live in
 * the master's shared memory: the master's name when it is known). */
typedef enum { METRIC_OF_POOL, METRIC_OF_CACHE } metric_owner_t;

/* What one pool's read gives. */
typedef struct {
  const fcgx_pool_result_t *res;
  int max_children;              /* pm.max_children, 0 unknown */
  const worker_usage_t *workers; /* NULL: its master is not known on this host */
  bool script;                   /* the OPcache script's figures are this pool's to report */
} metric_source_t;

typedef struct metric metric_t;
struct metric {
  const char *type;
  const char *type_instance; /* NULL: none */
  metric_kind_t kind;
  metric_owner_t owner;
  bool from_script; /* read by the OPcache script (fcgx-probe's opcache check) */
  /* The value when the source has it; false when it is not there this time. */
  bool (*get)(const metric_t *m, const metric_source_t *src, double *value);
  size_t offset; /* for the getters that read a double field */
};

extern const metric_t fcgx_metrics[];
extern const size_t fcgx_metrics_count;

/* The value of m in src when it is to be dispatched: there, not NaN (a figure left out for
 * being outside its range), and for a DERIVE within a collectd derive_t. */
bool metric_value(const metric_t *m, const metric_source_t *src, double *value);
/* "type-type_instance", or "type" without one. */
void metric_name(const metric_t *m, char *buf, size_t size);

#endif
