/* Reading JSON documents with cJSON (pure): whole-document parsing and typed field access, each
 * failure written as one message naming the document and the field. */
#ifndef FCGX_JSON_FIELD_H
#define FCGX_JSON_FIELD_H

#include "figure_range.h"

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
/* obj[key] as a number that must lie in [0, max]; one outside is set to NaN and counted in oor.
 * Returns 0, or -1 with err as json_number. */
int json_figure(const cJSON *obj, const char *key, double max, double *out, out_of_range_t *oor,
                const char *doc, const char *where, char *err, size_t err_size);

/* obj[key] as a boolean, likewise. */
int json_bool(const cJSON *obj, const char *key, bool *out, const char *doc, const char *where,
              char *err, size_t err_size);

#endif
