/* Unit tests for fcgi_record: exact request bytes, and decoding of replies captured from a real
 * php-fpm (tests/capture-fixtures) fed whole, byte by byte and split anywhere. */
#include "unit_helpers.h"

#include <string.h>

#include "fcgi_record.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Appends one record with explicit fields, so tests can build any stream, broken ones too. */
static void put_record(fcgi_buf_t *b, uint8_t version, uint8_t type, uint16_t id,
                       const void *content, size_t len, uint8_t padding, uint8_t pad_byte) {
  uint8_t h[8] = {version, type, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(len >> 8), (uint8_t)len,
                  padding, 0};
  uint8_t pad[255];
  memset(pad, pad_byte, sizeof(pad));
  assert_int_equal(fcgi_buf_append(b, h, sizeof(h)), 0);
  assert_int_equal(fcgi_buf_append(b, content, len), 0);
  assert_int_equal(fcgi_buf_append(b, pad, padding), 0);
}

static void put(fcgi_buf_t *b, uint8_t type, const char *content) {
  put_record(b, FCGI_VERSION_1, type, 1, content, strlen(content), 0, 0);
}

static void put_end(fcgi_buf_t *b, uint16_t id, uint32_t app_status, uint8_t protocol_status) {
  uint8_t body[8] = {(uint8_t)(app_status >> 24),
                     (uint8_t)(app_status >> 16),
                     (uint8_t)(app_status >> 8),
                     (uint8_t)app_status,
                     protocol_status,
                     0,
                     0,
                     0};
  put_record(b, FCGI_VERSION_1, FCGI_END_REQUEST, id, body, sizeof(body), 0, 0);
}

/* A record as found in an encoded request. */
typedef struct {
  uint8_t type;
  uint16_t id;
  size_t offset; /* of the content */
  size_t len;
} record_t;

/* Splits an encoded stream into records, checking the framing: version 1, the reserved byte and
 * the padding are zero, and every record is padded to a multiple of 8. */
static size_t split_records(const fcgi_buf_t *b, record_t *recs, size_t max) {
  const uint8_t *p = (const uint8_t *)b->data;
  size_t pos = 0, n = 0;
  while (pos < b->len) {
    assert_true(pos + 8 <= b->len);
    assert_true(n < max);
    assert_int_equal(p[pos], FCGI_VERSION_1);
    assert_int_equal(p[pos + 7], 0);
    record_t *r = &recs[n++];
    r->type = p[pos + 1];
    r->id = (uint16_t)(p[pos + 2] << 8 | p[pos + 3]);
    r->len = (size_t)p[pos + 4] << 8 | p[pos + 5];
    r->offset = pos + 8;
    size_t padding = p[pos + 6];
    assert_int_equal((r->len + padding) % 8, 0);
    assert_true(padding < 8);
    pos = r->offset + r->len + padding;
    assert_true(pos <= b->len);
    for (size_t i = r->offset + r->len; i < pos; i++)
      assert_int_equal(p[i], 0);
  }
  return n;
}

typedef struct {
  const char *name;
  size_t n_stdout_records; /* as php-fpm sent them, to prove the fixture is what we think */
} fixture_t;

/* Replies captured from php-fpm 8.2 by tests/capture-fixtures. */
static const fixture_t fixtures[] = {
    {"status_full_idle", 1},
    {"status_full_busy", 1},
    {"status_plain", 1},
    {"status_tcp_full", 1},
    {"ping", 1},
    {"not_found", 1},
    {"mixed", 4}, /* 4 STDOUT records, 2 STDERR records interleaved, padding 4, 6, 3 */
};

typedef struct {
  char *wire, *out, *err;
  size_t wire_len, out_len, err_len;
} loaded_t;

static void load(const fixture_t *f, loaded_t *l) {
  char name[128];
  snprintf(name, sizeof(name), "%s.wire", f->name);
  l->wire = read_fixture(name, &l->wire_len);
  snprintf(name, sizeof(name), "%s.stdout", f->name);
  l->out = read_fixture(name, &l->out_len);
  snprintf(name, sizeof(name), "%s.stderr", f->name);
  l->err = read_fixture_opt(name, &l->err_len);
  if (l->err == NULL) {
    l->err = calloc(1, 1);
    l->err_len = 0;
  }
}

static void unload(loaded_t *l) {
  free(l->wire);
  free(l->out);
  free(l->err);
}

static void assert_decoded(const fcgi_decoder_t *dec, const loaded_t *l, const char *name) {
  if (dec->out.len != l->out_len || memcmp(dec->out.data, l->out, l->out_len) != 0)
    fail_msg("%s: stdout differs (%zu bytes decoded, %zu expected)", name, dec->out.len,
             l->out_len);
  assert_int_equal(dec->err.len, l->err_len);
  if (l->err_len > 0)
    assert_memory_equal(dec->err.data, l->err, l->err_len);
  assert_int_equal(dec->app_status, 0);
  assert_int_equal(dec->protocol_status, FCGI_REQUEST_COMPLETE);
}

/* Feeds wire in the pieces cut at the given sorted offsets; every piece but the last must leave
 * the decoder wanting more, the last must complete it. */
static void decode_in_pieces(const loaded_t *l, const size_t *cuts, size_t n_cuts,
                             const char *name) {
  fcgi_decoder_t dec;
  fcgi_decoder_init(&dec, 1, 0);
  size_t from = 0;
  for (size_t i = 0; i <= n_cuts; i++) {
    size_t to = cuts != NULL && i < n_cuts ? cuts[i] : l->wire_len;
    fcgi_decode_result_t r = fcgi_decoder_feed(&dec, l->wire + from, to - from);
    fcgi_decode_result_t want = i < n_cuts ? FCGI_DECODE_MORE : FCGI_DECODE_DONE;
    if (r != want)
      fail_msg("%s: piece %zu [%zu, %zu) gave %d, expected %d (%s)", name, i, from, to, r, want,
               dec.error);
    from = to;
  }
  assert_decoded(&dec, l, name);
  fcgi_decoder_free(&dec);
}

static fcgi_decode_result_t decode(fcgi_decoder_t *dec, size_t max_reply, const fcgi_buf_t *b) {
  fcgi_decoder_init(dec, 1, max_reply);
  return fcgi_decoder_feed(dec, b->data, b->len);
}

/* ---- encoding --------------------------------------------------------------------------- */

static void test_request_without_params_is_exact(void **state) {
  (void)state;
  static const uint8_t expected[] = {
      1,    FCGI_BEGIN_REQUEST,
      0x12, 0x34,
      0,    8,
      0,    0, /* header, request id 0x1234 */
      0,    1,
      0,    0,
      0,    0,
      0,    0, /* role RESPONDER, flags 0 */
      1,    FCGI_PARAMS,
      0x12, 0x34,
      0,    0,
      0,    0, /* empty PARAMS */
      1,    FCGI_STDIN,
      0x12, 0x34,
      0,    0,
      0,    0, /* empty STDIN */
  };
  fcgi_buf_t out = {0};
  assert_int_equal(fcgi_encode_request(&out, 0x1234, NULL, 0), 0);
  assert_int_equal(out.len, sizeof(expected));
  assert_memory_equal(out.data, expected, sizeof(expected));
  fcgi_buf_free(&out);
}

static void test_request_params_are_padded(void **state) {
  (void)state;
  static const uint8_t expected[] = {
      1,   FCGI_BEGIN_REQUEST,
      0,   1,
      0,   8,
      0,   0,
      0,   1,
      0,   0,
      0,   0,
      0,   0,
      1,   FCGI_PARAMS,
      0,   1,
      0,   9,
      7,   0, /* 9 content bytes, 7 padding */
      3,   4,
      'U', 'R',
      'I', '/',
      'a', 'b',
      'c', 0,
      0,   0,
      0,   0,
      0,   0,
      1,   FCGI_PARAMS,
      0,   1,
      0,   0,
      0,   0,
      1,   FCGI_STDIN,
      0,   1,
      0,   0,
      0,   0,
  };
  const fcgi_param_t params[] = {{"URI", "/abc"}};
  fcgi_buf_t out = {0};
  assert_int_equal(fcgi_encode_request(&out, 1, params, 1), 0);
  assert_int_equal(out.len, sizeof(expected));
  assert_memory_equal(out.data, expected, sizeof(expected));
  fcgi_buf_free(&out);
}

static void test_nv_lengths(void **state) {
  (void)state;
  static const struct {
    size_t name_len, value_len;
    uint8_t prefix[8];
    size_t prefix_len;
  } cases[] = {
      {0, 0, {0, 0}, 2},
      {1, 127, {1, 127}, 2},
      {127, 1, {127, 1}, 2},
      {128, 1, {0x80, 0, 0, 128, 1}, 5},
      {127, 128, {127, 0x80, 0, 0, 128}, 5},
      {300, 70000, {0x80, 0, 0x01, 0x2c, 0x80, 0x01, 0x11, 0x70}, 8},
      {65536, 255, {0x80, 0x01, 0, 0, 0x80, 0, 0, 0xff}, 8},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    size_t nl = cases[i].name_len, vl = cases[i].value_len;
    char *name = malloc(nl + 1), *value = malloc(vl + 1);
    memset(name, 'n', nl);
    memset(value, 'v', vl);
    fcgi_buf_t out = {0};
    assert_int_equal(fcgi_encode_nv(&out, name, nl, value, vl), 0);
    assert_int_equal(out.len, cases[i].prefix_len + nl + vl);
    assert_memory_equal(out.data, cases[i].prefix, cases[i].prefix_len);
    assert_memory_equal(out.data + cases[i].prefix_len, name, nl);
    assert_memory_equal(out.data + cases[i].prefix_len + nl, value, vl);
    fcgi_buf_free(&out);
    free(name);
    free(value);
  }
}

static void test_nv_length_above_2g_is_refused(void **state) {
  (void)state;
  fcgi_buf_t out = {0};
  /* The value is never read: the length is refused first. */
  assert_int_equal(fcgi_encode_nv(&out, "a", 1, "x", (size_t)0x80000000u), -1);
  fcgi_buf_free(&out);
}

/* A PARAMS stream of stream_len bytes must be cut into full 65535-byte records and a rest. */
static void check_params_split(size_t value_len, size_t expected_records) {
  const size_t name_len = 3;
  char *value = malloc(value_len + 1);
  for (size_t i = 0; i < value_len; i++)
    value[i] = (char)('a' + i % 26);
  value[value_len] = '\0';
  const fcgi_param_t params[] = {{"BIG", value}, {"X", "y"}};

  fcgi_buf_t expected_stream = {0}, out = {0}, stream = {0};
  assert_int_equal(fcgi_encode_nv(&expected_stream, "BIG", name_len, value, value_len), 0);
  assert_int_equal(fcgi_encode_nv(&expected_stream, "X", 1, "y", 1), 0);
  assert_int_equal(fcgi_encode_request(&out, 7, params, 2), 0);

  record_t recs[16] = {0};
  size_t n = split_records(&out, recs, 16);
  assert_int_equal(n, 1 + expected_records + 2);
  assert_int_equal(recs[0].type, FCGI_BEGIN_REQUEST);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(recs[i].id, 7);
  for (size_t i = 1; i <= expected_records; i++) {
    assert_int_equal(recs[i].type, FCGI_PARAMS);
    if (i < expected_records)
      assert_int_equal(recs[i].len, FCGI_MAX_CONTENT);
    assert_true(recs[i].len > 0);
    assert_int_equal(fcgi_buf_append(&stream, out.data + recs[i].offset, recs[i].len), 0);
  }
  assert_int_equal(stream.len, expected_stream.len);
  assert_memory_equal(stream.data, expected_stream.data, stream.len);
  assert_int_equal(recs[n - 2].type, FCGI_PARAMS);
  assert_int_equal(recs[n - 2].len, 0);
  assert_int_equal(recs[n - 1].type, FCGI_STDIN);
  assert_int_equal(recs[n - 1].len, 0);

  fcgi_buf_free(&expected_stream);
  fcgi_buf_free(&stream);
  fcgi_buf_free(&out);
  free(value);
}

static void test_params_longer_than_a_record_are_split(void **state) {
  (void)state;
  /* stream = 1 + 4 (lengths) + 3 (name) + value + 4 ("X" = "y") */
  check_params_split(65535 - 12, 1);     /* exactly one full record, no empty extra one */
  check_params_split(65535 - 11, 2);     /* one byte more: 65535 + 1 */
  check_params_split(200000, 4);         /* 200012 = 3 * 65535 + 3407 */
  check_params_split(2 * 65535 - 12, 2); /* exactly two full records */
}

/* ---- decoding captured replies ------------------------------------------------------------ */

static void test_fixtures_whole(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
    loaded_t l;
    load(&fixtures[i], &l);
    decode_in_pieces(&l, NULL, 0, fixtures[i].name);

    /* Count the STDOUT records, to know the fixture exercises what we think it does. */
    size_t n_stdout = 0, pos = 0;
    while (pos + 8 <= l.wire_len) {
      const uint8_t *h = (const uint8_t *)l.wire + pos;
      n_stdout += h[1] == FCGI_STDOUT;
      pos += 8 + ((size_t)h[4] << 8 | h[5]) + h[6];
    }
    assert_int_equal(pos, l.wire_len);
    assert_int_equal(n_stdout, fixtures[i].n_stdout_records);
    unload(&l);
  }
}

static void test_fixtures_byte_by_byte(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
    loaded_t l;
    load(&fixtures[i], &l);
    size_t *cuts = malloc(l.wire_len * sizeof(*cuts));
    for (size_t k = 0; k + 1 < l.wire_len; k++)
      cuts[k] = k + 1;
    decode_in_pieces(&l, cuts, l.wire_len - 1, fixtures[i].name);
    free(cuts);
    unload(&l);
  }
}

static void test_fixtures_split_at_every_point(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
    loaded_t l;
    load(&fixtures[i], &l);
    for (size_t cut = 1; cut < l.wire_len; cut++)
      decode_in_pieces(&l, &cut, 1, fixtures[i].name);
    unload(&l);
  }
}

static void test_fixtures_split_at_two_points(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
    loaded_t l;
    load(&fixtures[i], &l);
    /* Cuts inside the first header, on and around record boundaries, and a spread. */
    size_t points[256], n = 0;
    const size_t fixed[] = {1, 3, 7, 8, 9, 15, 16, 17};
    for (size_t k = 0; k < sizeof(fixed) / sizeof(fixed[0]); k++)
      points[n++] = fixed[k];
    for (size_t pos = 0; pos + 8 <= l.wire_len && n + 3 < 200;) {
      const uint8_t *h = (const uint8_t *)l.wire + pos;
      pos += 8 + ((size_t)h[4] << 8 | h[5]) + h[6];
      points[n++] = pos - 1;
      points[n++] = pos + 1;
      points[n++] = pos + 8; /* between a header and its content */
    }
    for (size_t k = 1; k < 32; k++)
      points[n++] = l.wire_len * k / 32;
    for (size_t a = 0; a < n; a++)
      for (size_t b = 0; b < n; b++)
        if (points[a] > 0 && points[a] < points[b] && points[b] < l.wire_len) {
          size_t cuts[2] = {points[a], points[b]};
          decode_in_pieces(&l, cuts, 2, fixtures[i].name);
        }
    unload(&l);
  }
}

/* ---- decoding synthetic streams ----------------------------------------------------------- */

static void test_stderr_is_accumulated(void **state) {
  (void)state;
  fcgi_buf_t b = {0};
  put(&b, FCGI_STDERR, "PHP message: one");
  put(&b, FCGI_STDOUT, "Status: 500\r\n\r\n");
  put(&b, FCGI_STDERR, "; ");
  put(&b, FCGI_STDERR, ""); /* an empty record ends nothing but its own stream */
  put(&b, FCGI_STDERR, "two");
  put(&b, FCGI_STDOUT, "");
  put_end(&b, 1, 0, FCGI_REQUEST_COMPLETE);

  fcgi_decoder_t dec;
  assert_int_equal(decode(&dec, 0, &b), FCGI_DECODE_DONE);
  assert_string_equal(dec.err.data, "PHP message: one; two");
  assert_int_equal(dec.err.len, strlen("PHP message: one; two"));
  assert_string_equal(dec.out.data, "Status: 500\r\n\r\n");
  fcgi_decoder_free(&dec);
  fcgi_buf_free(&b);
}

static void test_padding_is_skipped_whatever_its_bytes(void **state) {
  (void)state;
  fcgi_buf_t b = {0};
  put_record(&b, 1, FCGI_STDOUT, 1, "ab", 2, 255, 'X'); /* the largest padding, not zeros */
  put_record(&b, 1, FCGI_STDOUT, 1, "", 0, 8, 0xff);    /* padding without content */
  put_record(&b, 1, FCGI_STDOUT, 1, "cdefghij", 8, 0, 0);
  put_record(&b, 1, FCGI_STDERR, 1, "e", 1, 7, 0x01);
  put_record(&b, 1, FCGI_STDOUT, 1, "k", 1, 1, 0x03); /* a header byte's worth of padding */
  put_end(&b, 1, 0, FCGI_REQUEST_COMPLETE);

  fcgi_decoder_t dec;
  assert_int_equal(decode(&dec, 0, &b), FCGI_DECODE_DONE);
  assert_string_equal(dec.out.data, "abcdefghijk");
  assert_int_equal(dec.out.len, 11);
  assert_string_equal(dec.err.data, "e");
  fcgi_decoder_free(&dec);

  /* The same, one byte at a time. */
  fcgi_decoder_init(&dec, 1, 0);
  for (size_t i = 0; i + 1 < b.len; i++)
    assert_int_equal(fcgi_decoder_feed(&dec, b.data + i, 1), FCGI_DECODE_MORE);
  assert_int_equal(fcgi_decoder_feed(&dec, b.data + b.len - 1, 1), FCGI_DECODE_DONE);
  assert_string_equal(dec.out.data, "abcdefghijk");
  fcgi_decoder_free(&dec);
  fcgi_buf_free(&b);
}

static void test_end_request_padding_is_not_awaited(void **state) {
  (void)state;
  static const uint8_t body[8] = {0};
  fcgi_buf_t b = {0};
  put(&b, FCGI_STDOUT, "x");
  put_record(&b, 1, FCGI_END_REQUEST, 1, body, 8, 8, 0);
  fcgi_decoder_t dec;
  fcgi_decoder_init(&dec, 1, 0);
  assert_int_equal(fcgi_decoder_feed(&dec, b.data, b.len - 8), FCGI_DECODE_DONE);
  assert_string_equal(dec.out.data, "x");
  fcgi_decoder_free(&dec);
  fcgi_buf_free(&b);
}

static void test_app_status_is_reported(void **state) {
  (void)state;
  fcgi_buf_t b = {0};
  put(&b, FCGI_STDOUT, "x");
  put_end(&b, 1, 0x01020304, FCGI_REQUEST_COMPLETE);
  fcgi_decoder_t dec;
  assert_int_equal(decode(&dec, 0, &b), FCGI_DECODE_DONE);
  assert_int_equal(dec.app_status, 0x01020304);
  fcgi_decoder_free(&dec);
  fcgi_buf_free(&b);
}

static void test_request_id_is_big_endian(void **state) {
  (void)state;
  fcgi_buf_t b = {0};
  put_record(&b, 1, FCGI_STDOUT, 0x0102, "ok", 2, 6, 0);
  put_end(&b, 0x0102, 0, FCGI_REQUEST_COMPLETE);
  fcgi_decoder_t dec;
  fcgi_decoder_init(&dec, 0x0102, 0);
  assert_int_equal(fcgi_decoder_feed(&dec, b.data, b.len), FCGI_DECODE_DONE);
  assert_string_equal(dec.out.data, "ok");
  fcgi_decoder_free(&dec);

  fcgi_decoder_init(&dec, 0x0201, 0);
  assert_int_equal(fcgi_decoder_feed(&dec, b.data, b.len), FCGI_DECODE_ERROR);
  fcgi_decoder_free(&dec);
  fcgi_buf_free(&b);
}

/* One broken stream: after the prefix (a valid STDOUT record), a bad record. */
typedef struct {
  const char *what;
  uint8_t version, type;
  uint16_t id;
  uint8_t content[16];
  size_t content_len;
  const char *message; /* expected in dec.error */
  int protocol_status; /* expected, or -1 when not an END_REQUEST */
} broken_t;

static const broken_t broken[] = {
    {"version 0", 0, FCGI_STDOUT, 1, "x", 1, "version 0", -1},
    {"version 2", 2, FCGI_STDOUT, 1, "x", 1, "version 2", -1},
    {"other request id", 1, FCGI_STDOUT, 2, "x", 1, "request id 2", -1},
    {"other request id on END_REQUEST", 1, FCGI_END_REQUEST, 0, {0}, 8, "request id 0", -1},
    {"GET_VALUES_RESULT", 1, FCGI_GET_VALUES_RESULT, 1, "", 0, "type 10", -1},
    {"type 42", 1, 42, 1, "x", 1, "type 42", -1},
    {"BEGIN_REQUEST from the server", 1, FCGI_BEGIN_REQUEST, 1, {0, 1}, 8, "type 1", -1},
    {"UNKNOWN_TYPE", 1, FCGI_UNKNOWN_TYPE, 1, {42}, 8, "UNKNOWN_TYPE", -1},
    {"CANT_MPX_CONN", 1, FCGI_END_REQUEST, 1, {0, 0, 0, 0, 1}, 8, "CANT_MPX_CONN", 1},
    {"OVERLOADED", 1, FCGI_END_REQUEST, 1, {0, 0, 0, 0, 2}, 8, "OVERLOADED", 2},
    {"UNKNOWN_ROLE", 1, FCGI_END_REQUEST, 1, {0, 0, 0, 0, 3}, 8, "UNKNOWN_ROLE", 3},
    {"protocolStatus 9", 1, FCGI_END_REQUEST, 1, {0, 0, 0, 0, 9}, 8, "protocolStatus 9", 9},
    {"short END_REQUEST", 1, FCGI_END_REQUEST, 1, {0}, 4, "END_REQUEST with 4", -1},
    {"long END_REQUEST", 1, FCGI_END_REQUEST, 1, {0}, 16, "END_REQUEST with 16", -1},
    {"empty END_REQUEST", 1, FCGI_END_REQUEST, 1, {0}, 0, "END_REQUEST with 0", -1},
};

static void test_broken_streams_fail_with_a_message(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
    const broken_t *t = &broken[i];
    fcgi_buf_t b = {0};
    put(&b, FCGI_STDOUT, "Content-Type: text/plain\r\n\r\nok");
    size_t prefix = b.len;
    put_record(&b, t->version, t->type, t->id, t->content, t->content_len, 0, 0);
    put_end(&b, 1, 0, FCGI_REQUEST_COMPLETE); /* must not rescue the stream */

    for (int bytewise = 0; bytewise <= 1; bytewise++) {
      fcgi_decoder_t dec;
      fcgi_decoder_init(&dec, 1, 0);
      fcgi_decode_result_t r = FCGI_DECODE_MORE;
      if (bytewise) {
        for (size_t k = 0; k < b.len && r == FCGI_DECODE_MORE; k++) {
          r = fcgi_decoder_feed(&dec, b.data + k, 1);
          if (k < prefix)
            assert_int_equal(r, FCGI_DECODE_MORE);
        }
      } else {
        r = fcgi_decoder_feed(&dec, b.data, b.len);
      }
      if (r != FCGI_DECODE_ERROR)
        fail_msg("%s: result %d, expected an error", t->what, r);
      if (strstr(dec.error, t->message) == NULL)
        fail_msg("%s: error \"%s\" does not contain \"%s\"", t->what, dec.error, t->message);
      if (t->protocol_status >= 0)
        assert_int_equal(dec.protocol_status, t->protocol_status);
      /* Once failed, always failed. */
      assert_int_equal(fcgi_decoder_feed(&dec, b.data, b.len), FCGI_DECODE_ERROR);
      fcgi_decoder_free(&dec);
    }
    fcgi_buf_free(&b);
  }
}

static void test_reply_size_limit(void **state) {
  (void)state;
  static const struct {
    const char *out, *err;
    size_t max_reply;
    fcgi_decode_result_t result;
  } cases[] = {
      {"0123456789", "", 10, FCGI_DECODE_DONE}, /* exactly max_reply is fine */
      {"0123456789", "", 9, FCGI_DECODE_ERROR},
      {"01234", "56789", 10, FCGI_DECODE_DONE},
      {"01234", "567890", 10, FCGI_DECODE_ERROR}, /* stderr counts too */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    fcgi_buf_t b = {0};
    /* Several records, so the limit is crossed by a sum, not by one record. */
    for (size_t k = 0, n = strlen(cases[i].out); k < n; k += 2)
      put_record(&b, 1, FCGI_STDOUT, 1, cases[i].out + k, n - k < 2 ? n - k : 2, 0, 0);
    put(&b, FCGI_STDERR, cases[i].err);
    put_end(&b, 1, 0, FCGI_REQUEST_COMPLETE);

    for (int bytewise = 0; bytewise <= 1; bytewise++) {
      fcgi_decoder_t dec;
      fcgi_decoder_init(&dec, 1, cases[i].max_reply);
      fcgi_decode_result_t r = FCGI_DECODE_MORE;
      for (size_t k = 0; k < b.len && r == FCGI_DECODE_MORE; k += bytewise ? 1 : b.len)
        r = fcgi_decoder_feed(&dec, b.data + k, bytewise ? 1 : b.len);
      assert_int_equal(r, cases[i].result);
      if (r == FCGI_DECODE_DONE) {
        assert_string_equal(dec.out.data, cases[i].out);
        assert_string_equal(dec.err.data ? dec.err.data : "", cases[i].err);
      } else {
        assert_true(dec.out.len + dec.err.len <= cases[i].max_reply);
        char limit[32];
        snprintf(limit, sizeof(limit), "%zu", cases[i].max_reply);
        if (strstr(dec.error, limit) == NULL)
          fail_msg("error \"%s\" does not name the limit %s", dec.error, limit);
      }
      fcgi_decoder_free(&dec);
    }
    fcgi_buf_free(&b);
  }
}

static void test_default_reply_limit(void **state) {
  (void)state;
  fcgi_decoder_t dec;
  fcgi_decoder_init(&dec, 1, 0);
  assert_int_equal(dec.max_reply, FCGI_DEFAULT_MAX_REPLY);
  fcgi_decoder_free(&dec);
}

static void test_bytes_after_end_request_are_ignored(void **state) {
  (void)state;
  loaded_t l;
  load(&fixtures[0], &l);
  fcgi_buf_t b = {0};
  assert_int_equal(fcgi_buf_append(&b, l.wire, l.wire_len), 0);
  put_record(&b, 9, 99, 7, "garbage", 7, 1, 0); /* invalid in every way */
  put(&b, FCGI_STDOUT, "more output");

  fcgi_decoder_t dec;
  assert_int_equal(decode(&dec, 0, &b), FCGI_DECODE_DONE);
  assert_decoded(&dec, &l, "with trailing bytes");
  assert_int_equal(fcgi_decoder_feed(&dec, "\xff\xff\xff\xff\xff\xff\xff\xff", 8),
                   FCGI_DECODE_DONE);
  assert_decoded(&dec, &l, "fed after DONE");
  fcgi_decoder_free(&dec);
  fcgi_buf_free(&b);
  unload(&l);
}

static void test_stream_ending_early_wants_more(void **state) {
  (void)state;
  fcgi_decoder_t dec;
  fcgi_decoder_init(&dec, 1, 0);
  assert_int_equal(fcgi_decoder_feed(&dec, "", 0), FCGI_DECODE_MORE);
  fcgi_decoder_free(&dec);

  /* Whole records but no END_REQUEST (php-fpm sends no empty STDOUT: it is not an end). */
  fcgi_buf_t b = {0};
  put(&b, FCGI_STDOUT, "Status: 200\r\n\r\n");
  put(&b, FCGI_STDERR, "e");
  put(&b, FCGI_STDOUT, "");
  put(&b, FCGI_STDERR, "");
  assert_int_equal(decode(&dec, 0, &b), FCGI_DECODE_MORE);
  assert_int_equal(fcgi_decoder_feed(&dec, "", 0), FCGI_DECODE_MORE);
  fcgi_decoder_free(&dec);
  fcgi_buf_free(&b);

  /* Every prefix of a captured reply. */
  loaded_t l;
  load(&fixtures[5], &l);
  for (size_t n = 0; n < l.wire_len; n++) {
    fcgi_decoder_init(&dec, 1, 0);
    assert_int_equal(fcgi_decoder_feed(&dec, l.wire, n), FCGI_DECODE_MORE);
    fcgi_decoder_free(&dec);
  }
  unload(&l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_without_params_is_exact),
      cmocka_unit_test(test_request_params_are_padded),
      cmocka_unit_test(test_nv_lengths),
      cmocka_unit_test(test_nv_length_above_2g_is_refused),
      cmocka_unit_test(test_params_longer_than_a_record_are_split),
      cmocka_unit_test(test_fixtures_whole),
      cmocka_unit_test(test_fixtures_byte_by_byte),
      cmocka_unit_test(test_fixtures_split_at_every_point),
      cmocka_unit_test(test_fixtures_split_at_two_points),
      cmocka_unit_test(test_stderr_is_accumulated),
      cmocka_unit_test(test_padding_is_skipped_whatever_its_bytes),
      cmocka_unit_test(test_end_request_padding_is_not_awaited),
      cmocka_unit_test(test_app_status_is_reported),
      cmocka_unit_test(test_request_id_is_big_endian),
      cmocka_unit_test(test_broken_streams_fail_with_a_message),
      cmocka_unit_test(test_reply_size_limit),
      cmocka_unit_test(test_default_reply_limit),
      cmocka_unit_test(test_bytes_after_end_request_are_ignored),
      cmocka_unit_test(test_stream_ending_early_wants_more),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
