/* Netlink sock_diag messages (pure): the dump requests for listening unix and TCP sockets, and
 * their replies parsed into the kernel's view of each listener (queue and backlog). */
#ifndef FCGX_SOCK_DIAG_H
#define FCGX_SOCK_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int family;       /* AF_UNIX, AF_INET or AF_INET6 */
  uint32_t queue;   /* connections waiting to be accepted */
  uint32_t backlog; /* the listen() backlog: the most that can wait */
  /* AF_UNIX */
  bool has_path;
  char path[108]; /* as bound; "" for an abstract or unnamed socket */
  bool has_vfs;
  uint32_t vfs_ino, vfs_dev; /* the socket file's inode and device */
  /* AF_INET, AF_INET6 */
  uint16_t port;
  uint8_t addr[16]; /* network order; 4 bytes used for AF_INET */
} listen_socket_t;

/* Write a dump request of every listening socket of the family into buf; return its size, or 0
 * when buf is too small. */
size_t sock_diag_unix_request(void *buf, size_t size, uint32_t seq);
size_t sock_diag_inet_request(void *buf, size_t size, int family, uint32_t seq);

typedef void (*sock_diag_fn)(const listen_socket_t *sock, void *arg);

typedef enum {
  SOCK_DIAG_MORE = 0,  /* read the next datagram */
  SOCK_DIAG_DONE = 1,  /* NLMSG_DONE: the dump is complete */
  SOCK_DIAG_ERROR = -1 /* err says why */
} sock_diag_result_t;

/* Parses one datagram of a dump reply, calling fn for each listening socket in it. */
sock_diag_result_t sock_diag_parse(const void *buf, size_t len, sock_diag_fn fn, void *arg,
                                   char *err, size_t err_size);

#endif
