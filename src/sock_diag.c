/* Netlink sock_diag requests and replies; see sock_diag.h. */
#include "sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define TCP_LISTEN_STATE 10 /* TCP_LISTEN in the kernel's state numbering */

static size_t write_request(void *buf, size_t size, uint32_t seq, const void *body,
                            size_t body_len) {
  struct nlmsghdr nlh = {
      .nlmsg_len = (uint32_t)NLMSG_LENGTH(body_len),
      .nlmsg_type = SOCK_DIAG_BY_FAMILY,
      .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
      .nlmsg_seq = seq,
  };
  if (size < NLMSG_SPACE(body_len))
    return 0;
  memset(buf, 0, NLMSG_SPACE(body_len));
  memcpy(buf, &nlh, sizeof(nlh));
  memcpy((char *)buf + NLMSG_HDRLEN, body, body_len);
  return NLMSG_SPACE(body_len);
}

size_t sock_diag_unix_request(void *buf, size_t size, uint32_t seq) {
  struct unix_diag_req req = {
      .sdiag_family = AF_UNIX,
      .udiag_states = 1u << TCP_LISTEN_STATE,
      .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_RQLEN,
  };
  return write_request(buf, size, seq, &req, sizeof(req));
}

size_t sock_diag_inet_request(void *buf, size_t size, int family, uint32_t seq) {
  struct inet_diag_req_v2 req = {
      .sdiag_family = (uint8_t)family,
      .sdiag_protocol = IPPROTO_TCP,
      .idiag_states = 1u << TCP_LISTEN_STATE,
  };
  return write_request(buf, size, seq, &req, sizeof(req));
}

/* Reads the attributes that follow a unix_diag_msg. */
static void unix_attributes(const uint8_t *p, size_t len, listen_socket_t *sock) {
  while (len >= sizeof(struct nlattr)) {
    struct nlattr attr;
    memcpy(&attr, p, sizeof(attr));
    if (attr.nla_len < sizeof(attr) || attr.nla_len > len)
      return; /* malformed: keep what was read */
    const uint8_t *data = p + NLA_HDRLEN;
    size_t data_len = attr.nla_len - NLA_HDRLEN;
    switch (attr.nla_type & NLA_TYPE_MASK) {
    case UNIX_DIAG_NAME:
      /* An abstract name starts with NUL: never a php-fpm socket path. */
      if (data_len > 0 && data_len < sizeof(sock->path) && data[0] != '\0') {
        memcpy(sock->path, data, data_len);
        sock->path[data_len] = '\0';
        sock->has_path = true;
      }
      break;
    case UNIX_DIAG_VFS:
      if (data_len >= sizeof(struct unix_diag_vfs)) {
        struct unix_diag_vfs vfs;
        memcpy(&vfs, data, sizeof(vfs));
        sock->vfs_ino = vfs.udiag_vfs_ino;
        sock->vfs_dev = vfs.udiag_vfs_dev;
        sock->has_vfs = true;
      }
      break;
    case UNIX_DIAG_RQLEN:
      if (data_len >= sizeof(struct unix_diag_rqlen)) {
        struct unix_diag_rqlen rq;
        memcpy(&rq, data, sizeof(rq));
        sock->queue = rq.udiag_rqueue;
        sock->backlog = rq.udiag_wqueue;
      }
      break;
    default:
      break;
    }
    size_t step = NLA_ALIGN(attr.nla_len);
    if (step >= len)
      return;
    p += step;
    len -= step;
  }
}

static int parse_message(const struct nlmsghdr *nlh, const uint8_t *payload, size_t len,
                         sock_diag_fn fn, void *arg, char *err, size_t err_size) {
  listen_socket_t sock;
  memset(&sock, 0, sizeof(sock));
  if (len < 1) {
    snprintf(err, err_size, "sock_diag message %u is empty", nlh->nlmsg_seq);
    return -1;
  }
  sock.family = payload[0];
  if (sock.family == AF_UNIX) {
    struct unix_diag_msg msg;
    if (len < sizeof(msg)) {
      snprintf(err, err_size, "unix_diag message of %zu bytes is too short", len);
      return -1;
    }
    memcpy(&msg, payload, sizeof(msg));
    if (msg.udiag_state != TCP_LISTEN_STATE)
      return 0;
    unix_attributes(payload + NLMSG_ALIGN(sizeof(msg)),
                    len > NLMSG_ALIGN(sizeof(msg)) ? len - NLMSG_ALIGN(sizeof(msg)) : 0, &sock);
  } else if (sock.family == AF_INET || sock.family == AF_INET6) {
    struct inet_diag_msg msg;
    if (len < sizeof(msg)) {
      snprintf(err, err_size, "inet_diag message of %zu bytes is too short", len);
      return -1;
    }
    memcpy(&msg, payload, sizeof(msg));
    if (msg.idiag_state != TCP_LISTEN_STATE)
      return 0;
    sock.queue = msg.idiag_rqueue; /* for a listener: its accept queue */
    sock.backlog = msg.idiag_wqueue;
    sock.port = ntohs(msg.id.idiag_sport);
    memcpy(sock.addr, msg.id.idiag_src, sock.family == AF_INET ? 4 : 16);
  } else {
    return 0; /* another family: not asked for */
  }
  fn(&sock, arg);
  return 0;
}

sock_diag_result_t sock_diag_parse(const void *buf, size_t len, sock_diag_fn fn, void *arg,
                                   char *err, size_t err_size) {
  const uint8_t *p = buf;
  while (len >= NLMSG_HDRLEN) {
    struct nlmsghdr nlh;
    memcpy(&nlh, p, sizeof(nlh));
    if (nlh.nlmsg_len < NLMSG_HDRLEN || nlh.nlmsg_len > len) {
      snprintf(err, err_size, "netlink message of %u bytes in a %zu byte reply", nlh.nlmsg_len,
               len);
      return SOCK_DIAG_ERROR;
    }
    const uint8_t *payload = p + NLMSG_HDRLEN;
    size_t payload_len = nlh.nlmsg_len - NLMSG_HDRLEN;
    if (nlh.nlmsg_type == NLMSG_DONE)
      return SOCK_DIAG_DONE;
    if (nlh.nlmsg_type == NLMSG_ERROR) {
      struct nlmsgerr e = {0};
      memcpy(&e, payload, payload_len < sizeof(e) ? payload_len : sizeof(e));
      /* the kernel sends -errno; INT_MIN (a corrupt reply) has no positive */
      int code = e.error < 0 && e.error != INT_MIN ? -e.error : e.error;
      snprintf(err, err_size, "sock_diag: %s", strerror_r(code, (char[128]){0}, 128));
      return SOCK_DIAG_ERROR;
    }
    if (nlh.nlmsg_type == SOCK_DIAG_BY_FAMILY &&
        parse_message(&nlh, payload, payload_len, fn, arg, err, err_size) != 0)
      return SOCK_DIAG_ERROR;
    size_t step = NLMSG_ALIGN(nlh.nlmsg_len);
    if (step >= len)
      break;
    p += step;
    len -= step;
  }
  return SOCK_DIAG_MORE;
}
