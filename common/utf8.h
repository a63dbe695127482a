/*
 * utf8.h - strict UTF-8 validation.
 */
#ifndef PARLEY_UTF8_H
#define PARLEY_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True if the n bytes at s are well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) and hold no NUL. */
bool utf8_valid(const void *s, size_t n);

/* Number of code points in a valid UTF-8 string of n bytes. */
size_t utf8_length(const char *s, size_t n);

#endif
