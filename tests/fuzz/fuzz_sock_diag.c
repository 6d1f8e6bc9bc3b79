/* libFuzzer target: netlink sock_diag replies (the kernel is trusted, but a parser that reads
 * past a message is a bug all the same). */
#include "sock_diag.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(const listen_socket_t *sock, void *arg) {
  if (sock->has_path && strlen(sock->path) >= sizeof(sock->path))
    __builtin_trap();
  (*(size_t *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  size_t n = 0;
  char err[200] = "";
  if (sock_diag_parse(copy, size, count, &n, err, sizeof(err)) == SOCK_DIAG_ERROR && !err[0])
    __builtin_trap();
  free(copy);
  return 0;
}
