/* libFuzzer target: the in-pool script's JSON (OPcache, APCu, realpath cache). */
#include "opcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  opcache_report_t rep;
  char err[300];
  if (opcache_report_parse(copy, size, &rep, err, sizeof(err)) != 0 && err[0] == '\0')
    __builtin_trap();
  free(copy);
  return 0;
}
