/* FastCGI record encoding and incremental decoding; see fcgi_record.h. */
#include "fcgi_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FCGI_ROLE_RESPONDER 1
#define FCGI_NV_MAX_LEN 0x7fffffffu

int fcgi_buf_append(fcgi_buf_t *buf, const void *bytes, size_t len) {
  if (len > SIZE_MAX - buf->len - 1)
    return -1;
  size_t need = buf->len + len + 1; /* room for the NUL terminator */
  if (need > buf->cap) {
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
      cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *data = realloc(buf->data, cap);
    if (data == NULL)
      return -1;
    buf->data = data;
    buf->cap = cap;
  }
  if (len > 0)
    memcpy(buf->data + buf->len, bytes, len);
  buf->len += len;
  buf->data[buf->len] = '\0';
  return 0;
}

void fcgi_buf_free(fcgi_buf_t *buf) {
  free(buf->data);
  buf->data = NULL;
  buf->len = buf->cap = 0;
}

static int append_record(fcgi_buf_t *out, uint8_t type, uint16_t request_id, const void *content,
                         size_t len) {
  static const uint8_t zeros[8];
  size_t padding = (8 - len % 8) % 8;
  uint8_t header[FCGI_HEADER_LEN] = {
      FCGI_VERSION_1,      type,         (uint8_t)(request_id >> 8), (uint8_t)request_id,
      (uint8_t)(len >> 8), (uint8_t)len, (uint8_t)padding,           0};
  if (len > FCGI_MAX_CONTENT)
    return -1;
  if (fcgi_buf_append(out, header, sizeof(header)) != 0 ||
      fcgi_buf_append(out, content, len) != 0 || fcgi_buf_append(out, zeros, padding) != 0)
    return -1;
  return 0;
}

static int append_nv_length(fcgi_buf_t *out, size_t len) {
  if (len < 128) {
    uint8_t b = (uint8_t)len;
    return fcgi_buf_append(out, &b, 1);
  }
  if (len > FCGI_NV_MAX_LEN)
    return -1;
  uint8_t b[4] = {(uint8_t)((len >> 24) | 0x80), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                  (uint8_t)len};
  return fcgi_buf_append(out, b, sizeof(b));
}

int fcgi_encode_nv(fcgi_buf_t *out, const char *name, size_t name_len, const char *value,
                   size_t value_len) {
  size_t before = out->len;
  if (append_nv_length(out, name_len) != 0 || append_nv_length(out, value_len) != 0 ||
      fcgi_buf_append(out, name, name_len) != 0 || fcgi_buf_append(out, value, value_len) != 0) {
    out->len = before; /* nothing half-written */
    if (out->data != NULL)
      out->data[before] = '\0';
    return -1;
  }
  return 0;
}

int fcgi_encode_request(fcgi_buf_t *out, uint16_t request_id, const fcgi_param_t *params,
                        size_t n_params) {
  /* role RESPONDER, flags 0: FCGI_KEEP_CONN would pin a php-fpm worker to this connection */
  const uint8_t begin[8] = {0, FCGI_ROLE_RESPONDER, 0, 0, 0, 0, 0, 0};
  fcgi_buf_t stream = {0};
  int status = -1;

  for (size_t i = 0; i < n_params; i++)
    if (fcgi_encode_nv(&stream, params[i].name, strlen(params[i].name), params[i].value,
                       strlen(params[i].value)) != 0)
      goto out;
  if (append_record(out, FCGI_BEGIN_REQUEST, request_id, begin, sizeof(begin)) != 0)
    goto out;
  for (size_t off = 0; off < stream.len; off += FCGI_MAX_CONTENT) {
    size_t chunk = stream.len - off < FCGI_MAX_CONTENT ? stream.len - off : FCGI_MAX_CONTENT;
    if (append_record(out, FCGI_PARAMS, request_id, stream.data + off, chunk) != 0)
      goto out;
  }
  if (append_record(out, FCGI_PARAMS, request_id, NULL, 0) != 0 ||
      append_record(out, FCGI_STDIN, request_id, NULL, 0) != 0)
    goto out;
  status = 0;
out:
  fcgi_buf_free(&stream);
  return status;
}

void fcgi_decoder_init(fcgi_decoder_t *dec, uint16_t request_id, size_t max_reply) {
  memset(dec, 0, sizeof(*dec));
  dec->request_id = request_id;
  dec->max_reply = max_reply ? max_reply : FCGI_DEFAULT_MAX_REPLY;
  dec->state = FCGI_DEC_HEADER;
}

void fcgi_decoder_free(fcgi_decoder_t *dec) {
  fcgi_buf_free(&dec->out);
  fcgi_buf_free(&dec->err);
}

/* The decoder accepts nothing more after an error; dec->error says what it was. */
static fcgi_decode_result_t failed(fcgi_decoder_t *dec) {
  dec->state = FCGI_DEC_FAILED;
  return FCGI_DECODE_ERROR;
}

static const char *protocol_status_text(uint8_t status) {
  switch (status) {
  case FCGI_CANT_MPX_CONN:
    return "CANT_MPX_CONN";
  case FCGI_OVERLOADED:
    return "OVERLOADED";
  case FCGI_UNKNOWN_ROLE:
    return "UNKNOWN_ROLE";
  default:
    return "unknown";
  }
}

/* Checks a complete record header and moves to its content. */
static fcgi_decode_result_t begin_record(fcgi_decoder_t *dec) {
  const uint8_t *h = dec->header;
  unsigned request_id = (unsigned)h[2] << 8 | h[3];
  dec->type = h[1];
  dec->content_left = (size_t)h[4] << 8 | h[5];
  dec->padding_left = h[6];
  dec->header_len = 0;

  if (h[0] != FCGI_VERSION_1) {
    snprintf(dec->error, sizeof(dec->error),
             "FastCGI protocol version %u in a record header (expected 1)", h[0]);
    return failed(dec);
  }
  switch (dec->type) {
  case FCGI_STDOUT:
  case FCGI_STDERR:
    break;
  case FCGI_END_REQUEST:
    if (dec->content_left != 8) {
      snprintf(dec->error, sizeof(dec->error),
               "FastCGI END_REQUEST with %zu content bytes (expected 8)", dec->content_left);
      return failed(dec);
    }
    dec->end_body_len = 0;
    break;
  case FCGI_UNKNOWN_TYPE:
    snprintf(dec->error, sizeof(dec->error),
             "FastCGI peer answered UNKNOWN_TYPE: it did not understand our request");
    return failed(dec);
  default:
    snprintf(dec->error, sizeof(dec->error), "unexpected FastCGI record type %u (request id %u)",
             dec->type, request_id);
    return failed(dec);
  }
  if (request_id != dec->request_id) {
    snprintf(dec->error, sizeof(dec->error), "FastCGI record for request id %u (expected %u)",
             request_id, dec->request_id);
    return failed(dec);
  }
  dec->state = dec->content_left > 0   ? FCGI_DEC_CONTENT
               : dec->padding_left > 0 ? FCGI_DEC_PADDING
                                       : FCGI_DEC_HEADER;
  return FCGI_DECODE_MORE;
}

static fcgi_decode_result_t end_request(fcgi_decoder_t *dec) {
  const uint8_t *b = dec->end_body;
  dec->app_status = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  dec->protocol_status = b[4];
  if (dec->protocol_status != FCGI_REQUEST_COMPLETE) {
    snprintf(dec->error, sizeof(dec->error), "FastCGI request refused: protocolStatus %u (%s)",
             dec->protocol_status, protocol_status_text(dec->protocol_status));
    return failed(dec);
  }
  /* Its padding is not awaited: php-fpm may close right after the record. */
  dec->state = FCGI_DEC_DONE;
  return FCGI_DECODE_DONE;
}

fcgi_decode_result_t fcgi_decoder_feed(fcgi_decoder_t *dec, const void *bytes, size_t len) {
  const uint8_t *p = bytes;
  const uint8_t *end = p + len;

  for (;;) {
    if (dec->state == FCGI_DEC_DONE)
      return FCGI_DECODE_DONE;
    if (dec->state == FCGI_DEC_FAILED)
      return FCGI_DECODE_ERROR;
    if (p == end)
      return FCGI_DECODE_MORE;

    switch (dec->state) {
    case FCGI_DEC_HEADER: {
      size_t take = FCGI_HEADER_LEN - dec->header_len;
      if (take > (size_t)(end - p))
        take = (size_t)(end - p);
      memcpy(dec->header + dec->header_len, p, take);
      dec->header_len += take;
      p += take;
      if (dec->header_len == FCGI_HEADER_LEN && begin_record(dec) == FCGI_DECODE_ERROR)
        return FCGI_DECODE_ERROR;
      break;
    }
    case FCGI_DEC_CONTENT: {
      size_t take = dec->content_left < (size_t)(end - p) ? dec->content_left : (size_t)(end - p);
      if (dec->type == FCGI_END_REQUEST) {
        memcpy(dec->end_body + dec->end_body_len, p, take);
        dec->end_body_len += take;
      } else {
        fcgi_buf_t *stream = dec->type == FCGI_STDOUT ? &dec->out : &dec->err;
        if (dec->out.len + dec->err.len + take > dec->max_reply) {
          snprintf(dec->error, sizeof(dec->error),
                   "reply larger than %zu bytes (the cap on a reply)", dec->max_reply);
          return failed(dec);
        }
        if (fcgi_buf_append(stream, p, take) != 0) {
          snprintf(dec->error, sizeof(dec->error), "out of memory after %zu reply bytes",
                   dec->out.len + dec->err.len);
          return failed(dec);
        }
      }
      p += take;
      dec->content_left -= take;
      if (dec->content_left == 0) {
        if (dec->type == FCGI_END_REQUEST) {
          if (end_request(dec) == FCGI_DECODE_ERROR)
            return FCGI_DECODE_ERROR;
        } else {
          dec->state = dec->padding_left > 0 ? FCGI_DEC_PADDING : FCGI_DEC_HEADER;
        }
      }
      break;
    }
    case FCGI_DEC_PADDING: {
      size_t take = dec->padding_left < (size_t)(end - p) ? dec->padding_left : (size_t)(end - p);
      p += take;
      dec->padding_left -= take;
      if (dec->padding_left == 0)
        dec->state = FCGI_DEC_HEADER;
      break;
    }
    default:
      return FCGI_DECODE_ERROR;
    }
  }
}
