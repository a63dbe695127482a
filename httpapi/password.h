/*
 * password.h - password hashing with scrypt (OpenSSL EVP_PBE_scrypt).
 *
 * A stored hash describes itself:
 *     $scrypt$ln=15,r=8,p=1$<salt>$<hash>
 * where N = 2^ln and salt and hash are unpadded base64url.  New hashes use
 * PASSWORD_LN/R/P, a 16-byte random salt and a 32-byte key; verification
 * honours whatever parameters the string names (within sane limits), so the
 * cost can be raised later without invalidating old hashes.
 */
#ifndef PARLEY_API_PASSWORD_H
#define PARLEY_API_PASSWORD_H

#include <stddef.h>

#define PASSWORD_LN 15
#define PASSWORD_R 8
#define PASSWORD_P 1
#define PASSWORD_SALT_BYTES 16
#define PASSWORD_KEY_BYTES 32
/* Upper bounds accepted when parsing a stored hash. */
#define PASSWORD_LN_MAX 20
#define PASSWORD_R_MAX 32
#define PASSWORD_P_MAX 16
#define PASSWORD_BYTES_MAX 64
/* Room for any string password_format can write, with its NUL. */
#define PASSWORD_HASH_STR_MAX 256

typedef struct password_params {
    unsigned ln, r, p;
    unsigned char salt[PASSWORD_BYTES_MAX];
    size_t salt_len;
    unsigned char key[PASSWORD_BYTES_MAX];
    size_t key_len;
} password_params;

/* Parses a stored hash string.  Strict: exact prefix, decimal numbers
 * without leading zeros, parameters within the limits above, salt of 8..64
 * and key of 16..64 bytes.  Returns 0, or -1. */
int password_parse(const char *stored, password_params *out);

/* Writes the string form of p into out (outlen bytes).  Returns 0, or -1
 * if it does not fit or the parameters are out of range. */
int password_format(const password_params *p, char *out, size_t outlen);

/* Hashes pw[0..len) with the given cost and salt into out.  Returns 0, or
 * -1 if scrypt failed.  For tests and for password_hash. */
int password_hash_params(const char *pw, size_t len, unsigned ln, unsigned r,
                         unsigned p, const unsigned char *salt, size_t salt_len,
                         char *out, size_t outlen);

/* Hashes pw[0..len) with the default cost and a fresh random salt into out
 * (PASSWORD_HASH_STR_MAX bytes).  Returns 0, or -1. */
int password_hash(const char *pw, size_t len, char out[PASSWORD_HASH_STR_MAX]);

/* Returns 1 if pw[0..len) matches stored, 0 if not, -1 if stored is
 * malformed or scrypt failed.  Compares in constant time. */
int password_verify(const char *pw, size_t len, const char *stored);

/* Spends the same time as verifying against a default-cost hash, for
 * logins whose username does not exist.  Always "fails". */
void password_verify_dummy(const char *pw, size_t len);

#endif
