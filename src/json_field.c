/* JSON document and field helpers; see json_field.h. */
#include "json_field.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

cJSON *json_parse_object(const char *json, size_t len, const char *doc, char *err,
                         size_t err_size) {
  /* The error position from return_parse_end, not cJSON_GetErrorPtr(): reads run on several
   * threads. cJSON still writes its global error on every parse: one parse at a time, so that
   * those writes never race (a parse takes microseconds; replies are capped). */
  static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;
  const char *at = NULL;
  pthread_mutex_lock(&parse_lock);
  cJSON *root = cJSON_ParseWithLengthOpts(json, len, &at, false);
  pthread_mutex_unlock(&parse_lock);
  if (root == NULL) {
    size_t offset = at != NULL && at >= json && at <= json + len ? (size_t)(at - json) : len;
    snprintf(err, err_size, "%s is not valid JSON (at byte %zu of %zu)", doc, offset, len);
    return NULL;
  }
  /* Only white space may follow the document: "{...}xyz" is not a reply. */
  while (at < json + len && (*at == ' ' || *at == '\t' || *at == '\r' || *at == '\n'))
    at++;
  if (at != json + len) {
    snprintf(err, err_size, "%s has %zu unexpected bytes after its end", doc,
             (size_t)(json + len - at));
  } else if (!cJSON_IsObject(root)) {
    snprintf(err, err_size, "%s is not a JSON object", doc);
  } else {
    return root;
  }
  cJSON_Delete(root);
  return NULL;
}

static const cJSON *field(const cJSON *obj, const char *key, const char *doc, const char *where,
                          char *err, size_t err_size) {
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (item == NULL)
    snprintf(err, err_size, "%s has no \"%s\"%s", doc, key, where);
  return item;
}

int json_number(const cJSON *obj, const char *key, double *out, const char *doc, const char *where,
                char *err, size_t err_size) {
  const cJSON *item = field(obj, key, doc, where, err, err_size);
  if (item == NULL)
    return -1;
  if (!cJSON_IsNumber(item)) {
    snprintf(err, err_size, "%s field \"%s\"%s is not a number", doc, key, where);
    return -1;
  }
  if (!isfinite(item->valuedouble)) { /* "1e999": never dispatch an infinity */
    snprintf(err, err_size, "%s field \"%s\"%s is out of range", doc, key, where);
    return -1;
  }
  *out = item->valuedouble;
  return 0;
}

int json_figure(const cJSON *obj, const char *key, double max, double *out, out_of_range_t *oor,
                const char *doc, const char *where, char *err, size_t err_size) {
  if (json_number(obj, key, out, doc, where, err, err_size) != 0)
    return -1;
  if (!figure_in_range(*out, max)) {
    figure_left_out(oor, "%s%s %.17g", key, where, *out);
    *out = NAN;
  }
  return 0;
}

int json_bool(const cJSON *obj, const char *key, bool *out, const char *doc, const char *where,
              char *err, size_t err_size) {
  const cJSON *item = field(obj, key, doc, where, err, err_size);
  if (item == NULL)
    return -1;
  if (!cJSON_IsBool(item)) {
    snprintf(err, err_size, "%s field \"%s\"%s is not a boolean", doc, key, where);
    return -1;
  }
  *out = cJSON_IsTrue(item);
  return 0;
}
