/* libFuzzer target: the FastCGI reply decoder, fed the input in pieces whose sizes come from the
 * input itself, so every split (inside a header, content or padding) is explored. */
#include "fcgi_record.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  /* first byte: the split stride; second: a small reply cap now and then */
  size_t stride = (size_t)data[0] + 1;
  size_t max_reply = data[1] & 1 ? 64 : FCGI_DEFAULT_MAX_REPLY;
  data += 2;
  size -= 2;

  fcgi_decoder_t dec;
  fcgi_decoder_init(&dec, 1, max_reply);
  fcgi_decode_result_t result = FCGI_DECODE_MORE;
  for (size_t off = 0; off < size && result == FCGI_DECODE_MORE; off += stride) {
    size_t n = size - off < stride ? size - off : stride;
    result = fcgi_decoder_feed(&dec, data + off, n);
  }
  /* what the decoder promises, checked on every input */
  if (dec.out.len + dec.err.len > max_reply)
    __builtin_trap();
  if (result == FCGI_DECODE_ERROR && dec.error[0] == '\0')
    __builtin_trap();
  if (dec.out.data != NULL && dec.out.data[dec.out.len] != '\0')
    __builtin_trap();
  fcgi_decoder_free(&dec);
  return 0;
}
