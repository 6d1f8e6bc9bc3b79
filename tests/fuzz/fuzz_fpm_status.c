/* libFuzzer target: php-fpm status JSON and its per-process aggregates. */
#include "fpm_status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  fpm_status_t st;
  char err[300];
  if (fpm_status_parse(copy, size, "/status?json&full", &st, err, sizeof(err)) == 0) {
    for (int i = 0; i < FPM_STATE_COUNT; i++)
      if (st.state_count[i] < 0)
        __builtin_trap();
  } else if (err[0] == '\0') {
    __builtin_trap();
  }
  free(copy);
  return 0;
}
