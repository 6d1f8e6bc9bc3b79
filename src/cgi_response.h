/* CGI response as php-fpm writes it to FCGI_STDOUT: headers, a blank line, the body (pure).
 * The parsed struct points into the caller's buffer; nothing is allocated. */
#ifndef FCGX_CGI_RESPONSE_H
#define FCGX_CGI_RESPONSE_H

#include <stddef.h>

typedef struct {
  int status; /* from "Status: NNN", 200 when absent */
  const char *headers;
  size_t headers_len;
  const char *body;
  size_t body_len;
} cgi_response_t;

/* Returns 0, or -1 with a reason in err (no end of headers, a malformed Status). */
int cgi_response_parse(const char *data, size_t len, cgi_response_t *resp, char *err,
                       size_t err_size);
/* Finds a header by case-insensitive name; returns 1 with its trimmed value, else 0. */
int cgi_response_header(const cgi_response_t *resp, const char *name, const char **value,
                        size_t *value_len);

#endif
