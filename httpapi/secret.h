/*
 * secret.h - the HS256 signing secret of parley-api: a file created on first
 * start (O_CREAT|O_EXCL, mode 0600, 64 random hex characters) and read on
 * every start, trailing whitespace stripped, exactly as common/token.c's
 * token_verifier_add_key_file reads it for the broker.
 */
#ifndef PARLEY_API_SECRET_H
#define PARLEY_API_SECRET_H

#include <stddef.h>

/* Creates path if it does not exist, then reads it.  On success returns 0
 * and a new buffer in *out (*len bytes, NUL-terminated, release with
 * secret_free).  Returns -1 with a reason in err when the file cannot be
 * created or read, or holds fewer than 32 bytes. */
int secret_load_or_create(const char *path, unsigned char **out, size_t *len,
                          char *err, size_t errlen);

/* Wipes and frees a secret from secret_load_or_create.  Accepts NULL. */
void secret_free(unsigned char *secret, size_t len);

#endif
