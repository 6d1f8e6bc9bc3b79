/* Helpers shared by the cmocka unit tests: reading the fixtures in FIXTURES_DIR.
 * Header-only (static functions) so each test binary stays one source file. */
#ifndef FCGX_UNIT_HELPERS_H
#define FCGX_UNIT_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

/* Returns the whole file dir/name, NUL-terminated (the caller frees it), or NULL when it does
 * not exist. */
static char *read_file_opt(const char *dir, const char *name, size_t *len) {
  char path[1024];
  *len = 0;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 4096, n = 0;
  char *data = malloc(cap);
  assert_non_null(data);
  for (;;) {
    n += fread(data + n, 1, cap - n - 1, f);
    if (n < cap - 1)
      break;
    cap *= 2;
    char *grown = realloc(data, cap);
    assert_non_null(grown);
    data = grown;
  }
  assert_int_equal(ferror(f), 0);
  fclose(f);
  data[n] = '\0';
  *len = n;
  return data;
}

/* The whole file FIXTURES_DIR/name, or NULL when it does not exist. */
static inline char *read_fixture_opt(const char *name, size_t *len) {
  return read_file_opt(FIXTURES_DIR, name, len);
}

/* Like read_fixture_opt, but a missing fixture fails the test. */
static inline char *read_fixture(const char *name, size_t *len) {
  char *data = read_fixture_opt(name, len);
  if (data == NULL)
    fail_msg("fixture %s/%s is missing (run tests/capture-fixtures)", FIXTURES_DIR, name);
  return data;
}

#endif
