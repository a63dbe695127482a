/*
 * auth_tokens.h - issuing access tokens (HS256 JWTs via libjwt, checked
 * later by common/token.c in the API and the broker) and refresh tokens
 * (256 random bits as base64url, stored only as their SHA-256).
 */
#ifndef PARLEY_API_AUTH_TOKENS_H
#define PARLEY_API_AUTH_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "encoding.h"

#define REFRESH_TOKEN_BYTES 32
#define REFRESH_TOKEN_LEN BASE64URL_LEN(REFRESH_TOKEN_BYTES) /* 43 */
/* "\x" and 64 hex digits: the bytea text form of the SHA-256 */
#define REFRESH_HASH_TEXT_LEN (2 + 64)

typedef struct access_token_claims {
    const char *issuer;
    const char *audience;
    const char *sub;  /* lower-case user uuid */
    const char *role; /* "user", "admin" or "device" */
    time_t now;
    long ttl;    /* seconds */
    int64_t iat; /* access_token_iat(now, ...) */
} access_token_claims;

/* Signs a JWT with header {"alg":"HS256","typ":"JWT"} and claims iss, aud,
 * sub, role, iat, exp = now + ttl and a random jti.  Returns a new string
 * (free()), or NULL. */
char *access_token_issue(const access_token_claims *c,
                         const unsigned char *secret, size_t secret_len);

/* True if an access token issued at iat was revoked by a logout
 * everywhere: users.tokens_valid_after, in whole seconds (0 for never), is
 * at or after it.  The broker applies the same rule. */
bool access_token_revoked(int64_t iat, int64_t valid_after_s);

/* The iat of a token issued at now for a user whose tokens_valid_after is
 * valid_after_s: now, or the second after valid_after_s when a logout
 * everywhere happened within this very second (a token issued right after
 * it must not count as revoked). */
int64_t access_token_iat(int64_t now, int64_t valid_after_s);

/* Writes a new random refresh token and a NUL into out.  Returns 0, or -1
 * if the random generator failed. */
int refresh_token_new(char out[REFRESH_TOKEN_LEN + 1]);

/* True if s[0..len) has the shape of a refresh token (43 base64url
 * characters).  Anything else cannot be one of ours. */
bool refresh_token_well_formed(const char *s, size_t len);

/* Writes the bytea text form ("\x" + hex) of SHA-256(token) and a NUL. */
void refresh_token_hash_text(const char *token, size_t len,
                             char out[REFRESH_HASH_TEXT_LEN + 1]);

#endif
