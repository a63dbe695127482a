/*
 * encoding.h - byte encodings parley-api writes: unpadded base64url and
 * lower-case hex.  Decoding base64url is common/token.h base64url_decode.
 * Pure functions, no allocation.
 */
#ifndef PARLEY_API_ENCODING_H
#define PARLEY_API_ENCODING_H

#include <stddef.h>

/* Characters base64url_encode writes for n input bytes, without the NUL. */
#define BASE64URL_LEN(n) (((n)*4 + 2) / 3)

/* Writes the unpadded base64url form of in[0..n) and a NUL into out, which
 * must hold BASE64URL_LEN(n) + 1 bytes.  Returns the length written. */
size_t base64url_encode(const unsigned char *in, size_t n, char *out);

/* Writes 2n lower-case hex digits and a NUL into out (2n + 1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);

#endif
