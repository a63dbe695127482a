/*
 * uuid.h - canonical UUID strings: validation, binary form, generation.
 *
 * Parley names users and conversations by UUIDs in their canonical lower-case
 * text form (8-4-4-4-12 hex digits).  Anything else in a topic or an id is
 * refused, so these checks are the gate for every id that arrives from a
 * client.
 */
#ifndef PARLEY_UUID_H
#define PARLEY_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 36

typedef struct uuid_bin {
    uint8_t b[16];
} uuid_bin;

/* True if s is exactly a canonical lower-case UUID (36 chars, NUL ends it). */
bool uuid_valid(const char *s);

/* Same check on the first n bytes of s, which need not be NUL-terminated. */
bool uuid_valid_n(const char *s, size_t n);

/* Parses the 36 characters at s into out.  Returns 0, or -1 if invalid. */
int uuid_parse_n(const char *s, size_t n, uuid_bin *out);

/* Writes the canonical form of u and a NUL into out (37 bytes). */
void uuid_format(const uuid_bin *u, char out[UUID_STR_LEN + 1]);

/* Writes a new random (version 4) UUID into out (37 bytes) using the
 * OpenSSL CSPRNG.  Returns 0, or -1 if the generator failed. */
int uuid_generate(char out[UUID_STR_LEN + 1]);

#endif
