/*
 * token.h - access-token (JWT) verification shared by the broker plugin and
 * parley-api.
 *
 * The verifier holds a small key ring.  Each key pins one algorithm: a token
 * is accepted only if its header names exactly that algorithm, its signature
 * verifies with that key (libjwt), and its claims pass the typed checks below.
 * The decision is a pure function of (verifier, token, now), so every rule is
 * unit-tested without a broker.
 */
#ifndef PARLEY_TOKEN_H
#define PARLEY_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "uuid.h"

#define TOKEN_MAX_BYTES 8192
#define TOKEN_MAX_KEYS 16
#define TOKEN_KID_MAX 64
#define TOKEN_CLAIM_MAX 128
#define TOKEN_MIN_SECRET_BYTES 32

typedef enum token_alg {
    TOKEN_ALG_HS256,
    TOKEN_ALG_RS256,
    TOKEN_ALG_ES256,
} token_alg;

typedef enum token_status {
    TOKEN_OK = 0,
    TOKEN_ERR_MALFORMED,  /* size, segments, base64url, JSON, duplicates */
    TOKEN_ERR_ALG,        /* alg missing, none, or not the key's algorithm */
    TOKEN_ERR_KEY,        /* unknown or malformed kid, no default key */
    TOKEN_ERR_SIGNATURE,  /* libjwt refused the signature */
    TOKEN_ERR_EXPIRED,    /* exp (plus leeway) has passed */
    TOKEN_ERR_NOT_YET,    /* nbf or iat in the future (beyond leeway) */
    TOKEN_ERR_CLAIMS,     /* missing or mistyped claim, bad sub or role */
    TOKEN_ERR_ISSUER,     /* iss is not ours */
    TOKEN_ERR_AUDIENCE,   /* aud does not name us */
} token_status;

typedef enum token_role {
    TOKEN_ROLE_USER,
    TOKEN_ROLE_ADMIN,
    TOKEN_ROLE_DEVICE,
} token_role;

struct evp_mac_ctx_st; /* OpenSSL's EVP_MAC_CTX */

typedef struct token_key {
    char kid[TOKEN_KID_MAX + 1]; /* "" for the default key */
    token_alg alg;
    unsigned char *material; /* HS256: the secret; others: a PEM public key */
    size_t material_len;
    /* HS256: HMAC-SHA256 keyed once with the secret; each check works on a
     * copy, so checks on several threads never touch it. */
    struct evp_mac_ctx_st *hmac;
} token_key;

typedef struct token_verifier {
    token_key keys[TOKEN_MAX_KEYS];
    size_t n_keys;
    char issuer[TOKEN_CLAIM_MAX + 1];
    char audience[TOKEN_CLAIM_MAX + 1];
    long leeway_s; /* tolerated clock skew for exp, nbf and iat */
} token_verifier;

typedef struct token_claims {
    char sub[UUID_STR_LEN + 1];
    token_role role;
    int64_t exp;
    int64_t iat;                   /* 0 when absent */
    char jti[TOKEN_CLAIM_MAX + 1]; /* "" when absent */
} token_claims;

/* Sets up an empty verifier with the given issuer and audience.
 * Returns 0, or -1 if either is empty or too long. */
int token_verifier_init(token_verifier *v, const char *issuer,
                        const char *audience, long leeway_s);

/* Adds a key.  The material is copied.  kid may be "" (the key used when a
 * token names no kid) or must match [A-Za-z0-9._-]{1,64} without "..".
 * An HS256 secret shorter than TOKEN_MIN_SECRET_BYTES is refused.
 * Returns 0, or -1 with a reason in *why. */
int token_verifier_add_key(token_verifier *v, const char *kid, token_alg alg,
                           const unsigned char *material, size_t len,
                           const char **why);

/* Reads a key file (the whole file; for HS256 trailing whitespace is
 * stripped) and adds it as above.  Returns 0, or -1 with a reason in *why. */
int token_verifier_add_key_file(token_verifier *v, const char *kid,
                                token_alg alg, const char *path,
                                const char **why);

/* Frees the key material held by v.  Accepts NULL. */
void token_verifier_clear(token_verifier *v);

/* Verifies token (len bytes, need not be NUL-terminated) at time now.
 * On TOKEN_OK fills *out; otherwise *out is unspecified. */
token_status token_verify(const token_verifier *v, const char *token,
                          size_t len, time_t now, token_claims *out);

/* Short English description of a status, for logs and error bodies. */
const char *token_status_str(token_status st);

/* Parses "HS256", "RS256" or "ES256". Returns 0, or -1. */
int token_alg_parse(const char *name, token_alg *out);

/* The JOSE name of an algorithm. */
const char *token_alg_name(token_alg alg);

/* The claim value of a role ("user", "admin", "device"). */
const char *token_role_name(token_role role);

/* Decodes unpadded base64url (RFC 4648 section 5) into a new buffer, with a
 * terminating NUL not counted in *out_len.  Refuses padding, other alphabets
 * and impossible lengths.  Returns the buffer (free()), or NULL. */
unsigned char *base64url_decode(const char *in, size_t in_len,
                                size_t *out_len);

#endif
