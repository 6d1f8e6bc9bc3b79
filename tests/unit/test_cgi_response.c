/* Unit tests for cgi_response: splitting php-fpm's CGI output into headers, Status and body. */
#include "unit_helpers.h"

#include <string.h>

#include "cgi_response.h"

typedef struct {
  const char *what;
  const char *input;
  int status;         /* 0: parsing must fail */
  const char *body;   /* expected body; for failures, a word the error must contain */
  size_t headers_len; /* expected, up to and including the last header's line end */
} parse_case_t;

static const parse_case_t parse_cases[] = {
    {"CRLF", "Content-Type: text/plain\r\nX-A: b\r\n\r\nbody", 200, "body", 34},
    {"LF", "Content-Type: text/plain\nX-A: b\n\nbody", 200, "body", 32},
    {"CRLF and LF mixed", "A: b\r\nC: d\n\nbody\r\n", 200, "body\r\n", 11},
    {"404", "Status: 404 Not Found\r\nX-Powered-By: PHP\r\n\r\nFile not found.\n", 404,
     "File not found.\n", 42},
    {"503 without reason", "Status: 503\r\n\r\n", 503, "", 13},
    {"status name in lower case", "X: y\r\nstatus: 500 Internal Server Error\r\n\r\n", 500, "", 41},
    {"STATUS without space, trailing blanks", "STATUS:302 \t\r\n\r\nmoved", 302, "moved", 14},
    {"absent status", "Content-Type: application/json\r\n\r\n{}", 200, "{}", 32},
    {"empty body", "A: b\r\n\r\n", 200, "", 6},
    {"blank lines in body", "A: b\r\n\r\n\r\nx\r\n\r\n", 200, "\r\nx\r\n\r\n", 6},
    {"no headers", "\r\nbody", 200, "body", 0},
    {"no headers, LF", "\nbody", 200, "body", 0},
    {"Status in the body is not a header", "A: b\r\n\r\nStatus: 500\r\n", 200, "Status: 500\r\n",
     6},
    {"Status-Foo is not Status", "Status-Foo: 500\r\n\r\n", 200, "", 17},
    /* failures */
    {"no blank line", "Content-Type: text/plain\r\nX: y\r\n", 0, "headers", 0},
    {"no line end", "Content-Type: text/plain", 0, "headers", 0},
    {"empty reply", "", 0, "headers", 0},
    {"status not a number", "Status: abc\r\n\r\n", 0, "Status", 0},
    {"status of 2 digits", "Status: 40\r\n\r\n", 0, "Status", 0},
    {"status of 4 digits", "Status: 4040\r\n\r\n", 0, "Status", 0},
    {"status glued to text", "Status: 404x\r\n\r\n", 0, "Status", 0},
    {"status below 100", "Status: 099 Odd\r\n\r\n", 0, "Status", 0},
    {"empty status", "Status:\r\n\r\n", 0, "Status", 0},
    {"negative status", "Status: -404\r\n\r\n", 0, "Status", 0},
};

static void test_parse_cases(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
    const parse_case_t *t = &parse_cases[i];
    size_t len = strlen(t->input);
    cgi_response_t resp;
    char err[128] = "";
    int rc = cgi_response_parse(t->input, len, &resp, err, sizeof(err));
    if (t->status == 0) {
      if (rc != -1)
        fail_msg("%s: parsed, expected a failure", t->what);
      if (strstr(err, t->body) == NULL)
        fail_msg("%s: error \"%s\" does not contain \"%s\"", t->what, err, t->body);
      continue;
    }
    if (rc != 0)
      fail_msg("%s: failed: %s", t->what, err);
    if (resp.status != t->status)
      fail_msg("%s: status %d, expected %d", t->what, resp.status, t->status);
    assert_ptr_equal(resp.headers, t->input);
    if (resp.headers_len != t->headers_len)
      fail_msg("%s: headers_len %zu, expected %zu", t->what, resp.headers_len, t->headers_len);
    assert_int_equal(resp.body_len, strlen(t->body));
    assert_ptr_equal(resp.body, t->input + len - resp.body_len); /* points into the input */
    assert_memory_equal(resp.body, t->body, resp.body_len);
  }
}

/* The reply need not be NUL-terminated: parse a prefix of a longer buffer. */
static void test_parse_respects_len(void **state) {
  (void)state;
  static const char data[] = "A: b\r\n\r\nbodyStatus: 500\r\n";
  cgi_response_t resp;
  char err[128];
  assert_int_equal(cgi_response_parse(data, 12, &resp, err, sizeof(err)), 0);
  assert_int_equal(resp.status, 200);
  assert_int_equal(resp.body_len, 4);
  assert_memory_equal(resp.body, "body", 4);

  assert_int_equal(cgi_response_parse(data, 7, &resp, err, sizeof(err)), -1); /* "A: b\r\n\r" */
}

typedef struct {
  const char *name;
  int found;
  const char *value;
} lookup_t;

static void test_header_lookup(void **state) {
  (void)state;
  static const char reply[] = "Content-Type:   application/json \t\r\n"
                              "x-powered-by: PHP/8.2.36\n"
                              "X-Empty:\r\n"
                              "X-Blank:   \r\n"
                              "not a header line\r\n"
                              "X-Colons: a: b\r\n"
                              "\r\n"
                              "X-Body: in the body\r\n";
  static const lookup_t lookups[] = {
      {"Content-Type", 1, "application/json"},
      {"content-type", 1, "application/json"},
      {"CONTENT-TYPE", 1, "application/json"},
      {"X-Powered-By", 1, "PHP/8.2.36"},
      {"X-Empty", 1, ""},
      {"X-Blank", 1, ""},
      {"X-Colons", 1, "a: b"},
      {"Content", 0, NULL},        /* a prefix of a name is not the name */
      {"Content-Type-X", 0, NULL}, /* nor is a longer one */
      {"X-Body", 0, NULL},         /* the body holds no headers */
      {"not a header line", 0, NULL},
      {"Status", 0, NULL},
  };
  cgi_response_t resp;
  char err[128];
  assert_int_equal(cgi_response_parse(reply, sizeof(reply) - 1, &resp, err, sizeof(err)), 0);
  for (size_t i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
    const char *value = NULL;
    size_t value_len = 12345;
    int found = cgi_response_header(&resp, lookups[i].name, &value, &value_len);
    if (found != lookups[i].found)
      fail_msg("%s: found %d, expected %d", lookups[i].name, found, lookups[i].found);
    if (found) {
      if (value_len != strlen(lookups[i].value) || memcmp(value, lookups[i].value, value_len) != 0)
        fail_msg("%s: value \"%.*s\", expected \"%s\"", lookups[i].name, (int)value_len, value,
                 lookups[i].value);
    }
  }
}

/* Replies captured from php-fpm 8.2 by tests/capture-fixtures. */
static void test_captured_replies(void **state) {
  (void)state;
  static const struct {
    const char *fixture;
    int status;
    const char *header, *value;
    const char *body_start;
    size_t body_len;
  } cases[] = {
      {"not_found.stdout", 404, "content-type", "text/html; charset=UTF-8", "File not found.\n",
       16},
      {"ping.stdout", 200, "Content-Type", "text/plain;charset=UTF-8", "pong", 4},
      {"status_full_idle.stdout", 200, "content-type", "application/json", "{\"pool\":\"www\",",
       1149},
      {"status_plain.stdout", 200, "Cache-Control",
       "no-cache, no-store, must-revalidate, max-age=0", "{\"pool\":\"www\",", 286},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t len;
    char *data = read_fixture(cases[i].fixture, &len);
    cgi_response_t resp;
    char err[128];
    if (cgi_response_parse(data, len, &resp, err, sizeof(err)) != 0)
      fail_msg("%s: %s", cases[i].fixture, err);
    assert_int_equal(resp.status, cases[i].status);
    const char *value;
    size_t value_len;
    assert_int_equal(cgi_response_header(&resp, cases[i].header, &value, &value_len), 1);
    assert_int_equal(value_len, strlen(cases[i].value));
    assert_memory_equal(value, cases[i].value, value_len);
    assert_int_equal(resp.body_len, cases[i].body_len);
    assert_memory_equal(resp.body, cases[i].body_start, strlen(cases[i].body_start));
    assert_int_equal(resp.headers_len + 2 + resp.body_len, len); /* "\r\n" between them */
    free(data);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_cases),
      cmocka_unit_test(test_parse_respects_len),
      cmocka_unit_test(test_header_lookup),
      cmocka_unit_test(test_captured_replies),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
