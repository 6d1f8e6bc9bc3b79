/* sock_diag dumps over netlink; see listen_queue.h. */
#include "listen_queue.h"

#include "namespace.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DUMP_TIMEOUT_MS 200        /* the kernel answers at once; this only bounds a surprise */
#define DUMP_MAX_BYTES (16u << 20) /* a host with very many sockets: stop rather than grow */

static void add_socket(const listen_socket_t *sock, void *arg) {
  listen_table_t *table = arg;
  if (table->n == table->cap) {
    size_t cap = table->cap ? table->cap * 2 : 64;
    listen_socket_t *items = realloc(table->items, cap * sizeof(*items));
    if (items == NULL)
      return; /* the table stays as complete as memory allows */
    table->items = items;
    table->cap = cap;
  }
  table->items[table->n++] = *sock;
}

static int dump(int fd, const void *request, size_t request_len, listen_table_t *table, char *err,
                size_t err_size) {
  char reply[16384];
  size_t total = 0;
  if (send(fd, request, request_len, 0) < 0) {
    snprintf(err, err_size, "sock_diag request: %s", strerror_r(errno, (char[128]){0}, 128));
    return -1;
  }
  for (;;) {
    ssize_t n = recv(fd, reply, sizeof(reply), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      snprintf(err, err_size, "sock_diag reply: %s", strerror_r(errno, (char[128]){0}, 128));
      return -1;
    }
    total += (size_t)n;
    if (n == 0 || total > DUMP_MAX_BYTES) {
      snprintf(err, err_size, "sock_diag reply ended early or exceeded %u bytes", DUMP_MAX_BYTES);
      return -1;
    }
    sock_diag_result_t rc = sock_diag_parse(reply, (size_t)n, add_socket, table, err, err_size);
    if (rc != SOCK_DIAG_MORE)
      return rc == SOCK_DIAG_DONE ? 0 : -1;
  }
}

static void make_netlink_socket(void *arg) {
  int *fd = arg;
  *fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
}

int listen_table_read(listen_table_t *table, bool unix_sockets, bool tcp_sockets,
                      const fcgx_address_t *addr, char *err, size_t err_size) {
  uint8_t request[128];
  int rc = 0, fd = -1;
  table->n = 0;
  /* A netlink socket answers for the network namespace it was made in. */
  if (addr->netns_path[0] == '\0')
    make_netlink_socket(&fd);
  else if ((rc = namespace_run(addr->netns_path, addr->netns_id, CLONE_NEWNET, make_netlink_socket,
                               &fd)) != 0)
    errno = rc;
  if (fd < 0) {
    snprintf(err, err_size, "netlink sock_diag socket%s%s: %s", addr->netns_path[0] ? " in " : "",
             addr->netns_id, strerror_r(errno, (char[128]){0}, 128));
    return -1;
  }
  struct timeval tv = {.tv_sec = 0, .tv_usec = (suseconds_t)DUMP_TIMEOUT_MS * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  uint32_t seq = 1;
  if (unix_sockets)
    rc = dump(fd, request, sock_diag_unix_request(request, sizeof(request), seq++), table, err,
              err_size);
  for (int i = 0; rc == 0 && tcp_sockets && i < 2; i++) {
    int family = i == 0 ? AF_INET : AF_INET6;
    rc = dump(fd, request, sock_diag_inet_request(request, sizeof(request), family, seq++), table,
              err, err_size);
  }
  close(fd);
  return rc;
}

void listen_table_free(listen_table_t *table) {
  free(table->items);
  memset(table, 0, sizeof(*table));
}

static bool is_loopback(const struct sockaddr_storage *sa) {
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
  return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
}

static bool tcp_matches(const listen_socket_t *sock, const struct sockaddr_storage *sa) {
  static const uint8_t any[16];
  uint16_t port;
  const void *addr;
  size_t addr_len;
  if (sock->family != sa->ss_family)
    return false;
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    port = ntohs(in->sin_port);
    addr = &in->sin_addr;
    addr_len = 4;
  } else {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    port = ntohs(in6->sin6_port);
    addr = &in6->sin6_addr;
    addr_len = 16;
  }
  if (sock->port != port)
    return false;
  if (memcmp(sock->addr, addr, addr_len) == 0)
    return true;
  /* php-fpm's `listen = 9000` binds every address: local only if the pool's is loopback. */
  return memcmp(sock->addr, any, addr_len) == 0 && is_loopback(sa);
}

/* A unix socket's file: its inode and the kernel's encoding of its device. In a container, its
 * file is found inside the master's root. */
static int socket_file(const fcgx_address_t *addr, uint32_t *ino, uint32_t *dev) {
  struct stat st;
  char name[32];
  int file = addr->root[0] != '\0' ? fcgx_address_open_socket(addr, name, sizeof(name)) : -1;
  int rc = addr->root[0] != '\0' ? (file >= 0 ? fstat(file, &st) : -1) : stat(addr->path, &st);
  if (file >= 0)
    close(file);
  if (rc != 0 || !S_ISSOCK(st.st_mode))
    return -1;
  *ino = (uint32_t)st.st_ino;
  /* The kernel encodes the device as major << 20 | minor (its own dev_t), not as glibc does. */
  *dev = (uint32_t)(major(st.st_dev) << 20 | (minor(st.st_dev) & 0xfffff));
  return 0;
}

const listen_socket_t *listen_table_find(const listen_table_t *table, const fcgx_endpoint_t *ep) {
  const fcgx_address_t *addr = ep->addr;
  if (addr->is_unix) {
    /* By its file first: another mount namespace may bind a socket at the same path. */
    uint32_t ino, dev;
    bool have_file = socket_file(addr, &ino, &dev) == 0;
    for (size_t i = 0; i < table->n && have_file; i++)
      if (table->items[i].family == AF_UNIX && table->items[i].has_vfs &&
          table->items[i].vfs_ino == ino && table->items[i].vfs_dev == dev)
        return &table->items[i];
    /* By its path when its file cannot be seen (not in a container's root: the same path). */
    for (size_t i = 0; i < table->n && !have_file && addr->root[0] == '\0'; i++)
      if (table->items[i].family == AF_UNIX && table->items[i].has_path &&
          strcmp(table->items[i].path, addr->path) == 0)
        return &table->items[i];
    return NULL;
  }
  if (!ep->resolved)
    return NULL;
  for (size_t i = 0; i < table->n; i++)
    if (tcp_matches(&table->items[i], &ep->sa[ep->preferred]))
      return &table->items[i];
  return NULL;
}
