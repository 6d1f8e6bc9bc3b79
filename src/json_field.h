/* Reading JSON documents with cJSON (pure): whole-document parsing and typed field access, each
 * failure written as one message naming the document and the field. */
#ifndef FCGX_JSON_FIELD_H
#define FCGX_JSON_FIELD_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* Parses exactly [json, json + len) (only white space may follow the value) into an object.
 * doc names it in errors ("status JSON"). Returns NULL with err set; free with cJSON_Delete. */
cJSON *json_parse_object(const char *json, size_t len, const char *doc, char *err, size_t err_size);

/* obj[key] as a number (ints and floats alike). where adds context (" in process 3" or "").
 * Returns 0, or -1 with err: `DOC has no "key"WHERE` or `DOC field "key"WHERE is not a number`. */
int json_number(const cJSON *obj, const char *key, double *out, const char *doc, const char *where,
                char *err, size_t err_size);
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
/* obj[key] as a number that must lie in [0, max]; one outside is set to NaN and counted in oor.
 * Returns 0, or -1 with err as json_number. */
int json_figure(const cJSON *obj, const char *key, double max, double *out, out_of_range_t *oor,
                const char *doc, const char *where, char *err, size_t err_size);

/* obj[key] as a boolean, likewise. */
int json_bool(const cJSON *obj, const char *key, bool *out, const char *doc, const char *where,
              char *err, size_t err_size);

#endif
