/* CGI response parsing; see cgi_response.h. */
#include "cgi_response.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Finds the end of the next line in [p, end): returns the line length without CR/LF and stores
 * where the following line starts, or returns -1 when no LF is left. */
static long next_line(const char *p, const char *end, const char **next) {
  const char *lf = memchr(p, '\n', (size_t)(end - p));
  if (lf == NULL)
    return -1;
  *next = lf + 1;
  const char *stop = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
  return (long)(stop - p);
}

static void trim(const char **s, size_t *len) {
  while (*len > 0 && (**s == ' ' || **s == '\t')) {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
    (*len)--;
}

int cgi_response_header(const cgi_response_t *resp, const char *name, const char **value,
                        size_t *value_len) {
  size_t name_len = strlen(name);
  const char *p = resp->headers;
  const char *end = resp->headers + resp->headers_len;
  const char *next;
  long len;

  while (p < end && (len = next_line(p, end, &next)) >= 0) {
    const char *colon = memchr(p, ':', (size_t)len);
    if (colon != NULL && (size_t)(colon - p) == name_len && strncasecmp(p, name, name_len) == 0) {
      *value = colon + 1;
      *value_len = (size_t)(p + len - *value);
      trim(value, value_len);
      return 1;
    }
    p = next;
  }
  return 0;
}

int cgi_response_parse(const char *data, size_t len, cgi_response_t *resp, char *err,
                       size_t err_size) {
  const char *p = data;
  const char *end = data + len;
  const char *next;
  long line_len;

  memset(resp, 0, sizeof(*resp));
  resp->headers = data;
  /* Headers end at the first empty line, CRLF or LF. */
  while ((line_len = next_line(p, end, &next)) > 0)
    p = next;
  if (line_len < 0) {
    snprintf(err, err_size, "no end of CGI headers in %zu bytes of reply", len);
    return -1;
  }
  resp->headers_len = (size_t)(p - data);
  resp->body = next;
  resp->body_len = (size_t)(end - next);

  const char *status;
  size_t status_len;
  resp->status = 200;
  if (cgi_response_header(resp, "Status", &status, &status_len)) {
    int code = 0;
    size_t digits = 0;
    while (digits < status_len && digits < 4 && status[digits] >= '0' && status[digits] <= '9')
      code = code * 10 + (status[digits++] - '0');
    if (digits != 3 || (status_len > 3 && status[3] != ' ') || code < 100) {
      snprintf(err, err_size, "malformed CGI Status header \"%.*s\"",
               (int)(status_len > 40 ? 40 : status_len), status);
      return -1;
    }
    resp->status = code;
  }
  return 0;
}
