/* libFuzzer target: CGI header/body split and header lookup. */
#include "cgi_response.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* an exact-size copy, so reading one byte past the reply is caught */
  char *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  cgi_response_t resp;
  char err[200];
  if (cgi_response_parse(copy, size, &resp, err, sizeof(err)) == 0) {
    const char *value;
    size_t len;
    if (resp.body + resp.body_len != copy + size || resp.status < 100 || resp.status > 999)
      __builtin_trap();
    if (cgi_response_header(&resp, "Content-Type", &value, &len) &&
        (value < copy || value + len > copy + size))
      __builtin_trap();
  }
  free(copy);
  return 0;
}
