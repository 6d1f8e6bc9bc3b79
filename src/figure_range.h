/* The range each kind of figure from the wire can take, and the count of figures left out for
 * being outside theirs (pure, no JSON). */
#ifndef FCGX_FIGURE_RANGE_H
#define FCGX_FIGURE_RANGE_H

#include <stdbool.h>
#include <stddef.h>

/* The largest value each kind of figure can take in what php-fpm and PHP print: beyond it, the
 * figure is a negative number printed unsigned (php bug 62382), or not what the field means. */
#define FIGURE_MAX_INT 2147483647.0           /* a C int: process counts, queue figures */
#define FIGURE_MAX_UINT 4294967295.0          /* an unsigned int */
#define FIGURE_MAX_COUNTER 9.2e18             /* a counter, within a collectd DERIVE (int64) */
#define FIGURE_MAX_SECONDS 4294967296.0       /* epoch seconds and ages: 136 years */
#define FIGURE_MAX_BYTES 144115188075855872.0 /* 2^57: the largest 64-bit address space */
#define FIGURE_MAX_PERCENT 100.0

/* Figures left out of a document for being outside their range: how many, and the first one
 * (named in the log). */
typedef struct {
  size_t count;
  char first[160];
} out_of_range_t;

/* Whether 0 <= value <= max (false for NaN). */
bool figure_in_range(double value, double max);
/* Counts one figure left out; the first is described by format. */
__attribute__((format(printf, 2, 3))) void figure_left_out(out_of_range_t *oor, const char *format,
                                                           ...);

#endif
