/* The kernel's view of listening sockets on this host (netlink sock_diag I/O): how many
 * connections wait in each pool's accept queue, even when php-fpm cannot answer at all. */
#ifndef FCGX_LISTEN_QUEUE_H
#define FCGX_LISTEN_QUEUE_H

#include "sock_diag.h"
#include "transport.h"

typedef struct {
  listen_socket_t *items;
  size_t n, cap;
} listen_table_t;

/* Replaces the table's contents with every listening socket of the families asked for, in the
 * network namespace of addr (a container's, entered on a thread of its own; ours when it has
 * none). Returns 0, or -1 with err set (no netlink, a malformed or oversized reply). */
int listen_table_read(listen_table_t *table, bool unix_sockets, bool tcp_sockets,
                      const fcgx_address_t *addr, char *err, size_t err_size);
void listen_table_free(listen_table_t *table);

/* The listener behind a pool's address, or NULL (not on this host). A unix socket is matched by
 * its path, else by its file's inode; TCP by port and address (a wildcard listener matches a
 * loopback address); TCP needs ep resolved. table must be of ep's network namespace. */
const listen_socket_t *listen_table_find(const listen_table_t *table, const fcgx_endpoint_t *ep);

#endif
