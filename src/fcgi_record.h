/* FastCGI records (pure: no I/O): encode one RESPONDER request, decode its reply incrementally.
 * The caller owns every buffer; fcgi_decoder_free / fcgi_buf_free release what these allocate. */
#ifndef FCGX_FCGI_RECORD_H
#define FCGX_FCGI_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define FCGI_VERSION_1 1
#define FCGI_HEADER_LEN 8
#define FCGI_MAX_CONTENT 65535
#define FCGI_DEFAULT_MAX_REPLY ((size_t)1024 * 1024)

enum fcgi_record_type {
  FCGI_BEGIN_REQUEST = 1,
  FCGI_ABORT_REQUEST = 2,
  FCGI_END_REQUEST = 3,
  FCGI_PARAMS = 4,
  FCGI_STDIN = 5,
  FCGI_STDOUT = 6,
  FCGI_STDERR = 7,
  FCGI_DATA = 8,
  FCGI_GET_VALUES = 9,
  FCGI_GET_VALUES_RESULT = 10,
  FCGI_UNKNOWN_TYPE = 11,
};

enum fcgi_protocol_status {
  FCGI_REQUEST_COMPLETE = 0,
  FCGI_CANT_MPX_CONN = 1,
  FCGI_OVERLOADED = 2,
  FCGI_UNKNOWN_ROLE = 3,
};

/* A growable byte buffer; always NUL-terminated after data[len] once allocated. */
typedef struct {
  char *data;
  size_t len;
  size_t cap;
} fcgi_buf_t;

int fcgi_buf_append(fcgi_buf_t *buf, const void *bytes, size_t len);
void fcgi_buf_free(fcgi_buf_t *buf);

typedef struct {
  const char *name;
  const char *value;
} fcgi_param_t;

/* Appends one name-value pair (1-byte lengths below 128, else 4 bytes with the top bit set).
 * Returns 0, or -1 when a length exceeds 2^31-1 or memory runs out. */
int fcgi_encode_nv(fcgi_buf_t *out, const char *name, size_t name_len, const char *value,
                   size_t value_len);

/* Appends a whole request: BEGIN_REQUEST (RESPONDER, flags 0: never KEEP_CONN), the PARAMS
 * stream split into records of at most 65535 bytes, the empty PARAMS, the empty STDIN. */
int fcgi_encode_request(fcgi_buf_t *out, uint16_t request_id, const fcgi_param_t *params,
                        size_t n_params);

typedef enum {
  FCGI_DECODE_MORE = 0,  /* feed more bytes */
  FCGI_DECODE_DONE = 1,  /* END_REQUEST received; stdout/stderr are complete */
  FCGI_DECODE_ERROR = -1 /* see decoder->error; the decoder accepts nothing more */
} fcgi_decode_result_t;

typedef enum {
  FCGI_DEC_HEADER,
  FCGI_DEC_CONTENT,
  FCGI_DEC_PADDING,
  FCGI_DEC_DONE,
  FCGI_DEC_FAILED,
} fcgi_decoder_state_t;

typedef struct {
  /* settings */
  uint16_t request_id;
  size_t max_reply; /* cap on stdout + stderr bytes */
  /* parse state */
  fcgi_decoder_state_t state;
  uint8_t header[FCGI_HEADER_LEN];
  size_t header_len;
  uint8_t type;
  size_t content_left;
  size_t padding_left;
  uint8_t end_body[8];
  size_t end_body_len;
  /* results */
  fcgi_buf_t out; /* FCGI_STDOUT stream */
  fcgi_buf_t err; /* FCGI_STDERR stream */
  uint32_t app_status;
  uint8_t protocol_status;
  char error[160];
} fcgi_decoder_t;

void fcgi_decoder_init(fcgi_decoder_t *dec, uint16_t request_id, size_t max_reply);
/* Consumes bytes split anywhere; bytes after END_REQUEST are ignored. */
fcgi_decode_result_t fcgi_decoder_feed(fcgi_decoder_t *dec, const void *bytes, size_t len);
void fcgi_decoder_free(fcgi_decoder_t *dec);

#endif
