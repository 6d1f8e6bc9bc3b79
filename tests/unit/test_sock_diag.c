/* Unit tests: netlink sock_diag requests and replies, on replies captured from this kernel by
 * tests/capture-sock-diag-fixtures (a unix listener with 3 waiting of 7, a TCP one with 2 of 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sock_diag.h"
#include "unit_helpers.h"

#include <arpa/inet.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct {
  listen_socket_t seen[8];
  size_t n;
} collected_t;

static void collect(const listen_socket_t *sock, void *arg) {
  collected_t *c = arg;
  if (c->n < sizeof(c->seen) / sizeof(c->seen[0]))
    c->seen[c->n] = *sock;
  c->n++;
}

typedef struct {
  char path[108];
  unsigned unix_queue, unix_backlog, port, inet_queue, inet_backlog;
} expected_t;

static expected_t expected(void) {
  expected_t e;
  size_t len;
  char *text = read_fixture("sock_diag_fixtures.txt", &len);
  assert_int_equal(sscanf(text, "unix %107s %u %u\ninet %u %u %u", e.path, &e.unix_queue,
                          &e.unix_backlog, &e.port, &e.inet_queue, &e.inet_backlog),
                   6);
  free(text);
  return e;
}

static void test_unix_reply(void **state) {
  (void)state;
  expected_t e = expected();
  size_t len;
  char *bin = read_fixture("sock_diag_unix.bin", &len);
  collected_t c = {.n = 0};
  char err[200] = "";
  assert_int_equal(sock_diag_parse(bin, len, collect, &c, err, sizeof(err)), SOCK_DIAG_DONE);
  assert_int_equal(c.n, 1);
  assert_int_equal(c.seen[0].family, AF_UNIX);
  assert_true(c.seen[0].has_path);
  assert_string_equal(c.seen[0].path, e.path);
  assert_int_equal(c.seen[0].queue, e.unix_queue);
  assert_int_equal(c.seen[0].backlog, e.unix_backlog);
  assert_true(c.seen[0].has_vfs);
  assert_int_not_equal(c.seen[0].vfs_ino, 0);
  free(bin);
}

static void test_inet_reply(void **state) {
  (void)state;
  expected_t e = expected();
  size_t len;
  char *bin = read_fixture("sock_diag_inet.bin", &len);
  collected_t c = {.n = 0};
  char err[200] = "";
  assert_int_equal(sock_diag_parse(bin, len, collect, &c, err, sizeof(err)), SOCK_DIAG_DONE);
  assert_int_equal(c.n, 1);
  assert_int_equal(c.seen[0].family, AF_INET);
  assert_int_equal(c.seen[0].port, e.port);
  assert_int_equal(c.seen[0].queue, e.inet_queue);
  assert_int_equal(c.seen[0].backlog, e.inet_backlog);
  const uint8_t loopback[4] = {127, 0, 0, 1};
  assert_memory_equal(c.seen[0].addr, loopback, 4);
  free(bin);
}

/* Every prefix of a reply: never a crash or a read past it; a message cut short is an error,
 * and without NLMSG_DONE the dump is not complete. */
static void test_every_prefix(void **state) {
  (void)state;
  const char *names[] = {"sock_diag_unix.bin", "sock_diag_inet.bin"};
  for (size_t f = 0; f < 2; f++) {
    size_t len;
    char *bin = read_fixture(names[f], &len);
    for (size_t cut = 0; cut < len; cut++) {
      char *copy = malloc(cut ? cut : 1);
      assert_non_null(copy);
      memcpy(copy, bin, cut);
      collected_t c = {.n = 0};
      char err[200] = "";
      sock_diag_result_t rc = sock_diag_parse(copy, cut, collect, &c, err, sizeof(err));
      if (rc == SOCK_DIAG_DONE)
        fail_msg("%s cut at %zu: DONE without NLMSG_DONE", names[f], cut);
      if (rc == SOCK_DIAG_ERROR && err[0] == '\0')
        fail_msg("%s cut at %zu: an error without a message", names[f], cut);
      free(copy);
    }
    free(bin);
  }
}

static void test_error_reply(void **state) {
  (void)state;
  struct {
    struct nlmsghdr nlh;
    struct nlmsgerr err;
  } msg = {.nlh = {.nlmsg_len = sizeof(msg), .nlmsg_type = NLMSG_ERROR}, .err = {.error = -1}};
  collected_t c = {.n = 0};
  char err[200] = "";
  assert_int_equal(sock_diag_parse(&msg, sizeof(msg), collect, &c, err, sizeof(err)),
                   SOCK_DIAG_ERROR);
  assert_non_null(strstr(err, "Operation not permitted"));
  assert_int_equal(c.n, 0);
}

/* Found by fuzzing: an error code of INT_MIN has no positive (negating it overflowed). */
static void test_error_int_min(void **state) {
  (void)state;
  struct {
    struct nlmsghdr nlh;
    struct nlmsgerr err;
  } msg = {.nlh = {.nlmsg_len = sizeof(msg), .nlmsg_type = NLMSG_ERROR}, .err = {.error = INT_MIN}};
  collected_t c = {.n = 0};
  char err[200] = "";
  assert_int_equal(sock_diag_parse(&msg, sizeof(msg), collect, &c, err, sizeof(err)),
                   SOCK_DIAG_ERROR);
  assert_non_null(strstr(err, "sock_diag: "));
}

static void test_length_beyond_reply(void **state) {
  (void)state;
  struct nlmsghdr nlh = {.nlmsg_len = 4096, .nlmsg_type = SOCK_DIAG_BY_FAMILY};
  collected_t c = {.n = 0};
  char err[200] = "";
  assert_int_equal(sock_diag_parse(&nlh, sizeof(nlh), collect, &c, err, sizeof(err)),
                   SOCK_DIAG_ERROR);
  assert_non_null(strstr(err, "4096"));
}

/* A unix listener whose name attribute claims more than the message holds: the socket is still
 * reported, without a path, and nothing is read past the message. */
static void test_bad_attribute(void **state) {
  (void)state;
  struct {
    struct nlmsghdr nlh;
    struct unix_diag_msg msg;
    struct nlattr attr;
    char name[8]; // cppcheck-suppress unusedStructMember ; the attribute's payload, read as bytes
  } m = {.nlh = {.nlmsg_len = sizeof(m), .nlmsg_type = SOCK_DIAG_BY_FAMILY},
         .msg = {.udiag_family = AF_UNIX, .udiag_state = 10},
         .attr = {.nla_len = 200, .nla_type = UNIX_DIAG_NAME},
         .name = "/x.sock"};
  collected_t c = {.n = 0};
  char err[200] = "";
  assert_int_equal(sock_diag_parse(&m, sizeof(m), collect, &c, err, sizeof(err)), SOCK_DIAG_MORE);
  assert_int_equal(c.n, 1);
  assert_false(c.seen[0].has_path);
}

static void test_requests(void **state) {
  (void)state;
  uint8_t buf[128];
  size_t n = sock_diag_unix_request(buf, sizeof(buf), 7);
  struct nlmsghdr nlh;
  struct unix_diag_req ureq;
  assert_int_equal(n, NLMSG_SPACE(sizeof(ureq)));
  memcpy(&nlh, buf, sizeof(nlh));
  memcpy(&ureq, buf + NLMSG_HDRLEN, sizeof(ureq));
  assert_int_equal(nlh.nlmsg_len, NLMSG_LENGTH(sizeof(ureq)));
  assert_int_equal(nlh.nlmsg_type, SOCK_DIAG_BY_FAMILY);
  assert_int_equal(nlh.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
  assert_int_equal(nlh.nlmsg_seq, 7);
  assert_int_equal(ureq.sdiag_family, AF_UNIX);
  assert_int_equal(ureq.udiag_states, 1u << 10);
  assert_int_equal(ureq.udiag_show, UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_RQLEN);
  assert_int_equal(sock_diag_unix_request(buf, 8, 1), 0); /* too small: nothing written */
  n = sock_diag_inet_request(buf, sizeof(buf), AF_INET6, 2);
  assert_int_not_equal(n, 0);
  assert_int_equal(buf[NLMSG_HDRLEN], AF_INET6);
  assert_int_equal(buf[NLMSG_HDRLEN + 1], 6 /* IPPROTO_TCP */);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unix_reply),    cmocka_unit_test(test_inet_reply),
      cmocka_unit_test(test_every_prefix),  cmocka_unit_test(test_error_reply),
      cmocka_unit_test(test_error_int_min), cmocka_unit_test(test_length_beyond_reply),
      cmocka_unit_test(test_bad_attribute), cmocka_unit_test(test_requests),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
