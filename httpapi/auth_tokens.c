/*
 * auth_tokens.c - access and refresh token issuing (see auth_tokens.h).
 */
#include "auth_tokens.h"

#include <jwt.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <string.h>

#include "uuid.h"

char *access_token_issue(const access_token_claims *c,
                         const unsigned char *secret, size_t secret_len)
{
    char jti[UUID_STR_LEN + 1];
    jwt_t *jwt = NULL;
    char *out = NULL;

    if (secret_len > (size_t)INT_MAX || uuid_generate(jti) != 0)
        return NULL;
    if (jwt_new(&jwt) != 0)
        return NULL;
    if (jwt_set_alg(jwt, JWT_ALG_HS256, secret, (int)secret_len) != 0 ||
        jwt_add_header(jwt, "typ", "JWT") != 0 ||
        jwt_add_grant(jwt, "iss", c->issuer) != 0 ||
        jwt_add_grant(jwt, "aud", c->audience) != 0 ||
        jwt_add_grant(jwt, "sub", c->sub) != 0 ||
        jwt_add_grant(jwt, "role", c->role) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)c->iat) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)c->now + c->ttl) != 0 ||
        jwt_add_grant(jwt, "jti", jti) != 0)
        goto done;
    out = jwt_encode_str(jwt);
done:
    jwt_free(jwt);
    return out;
}

bool access_token_revoked(int64_t iat, int64_t valid_after_s)
{
    return valid_after_s != 0 && iat <= valid_after_s;
}

int64_t access_token_iat(int64_t now, int64_t valid_after_s)
{
    return now > valid_after_s ? now : valid_after_s + 1;
}

int refresh_token_new(char out[REFRESH_TOKEN_LEN + 1])
{
    unsigned char raw[REFRESH_TOKEN_BYTES];

    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    base64url_encode(raw, sizeof raw, out);
    OPENSSL_cleanse(raw, sizeof raw);
    return 0;
}

bool refresh_token_well_formed(const char *s, size_t len)
{
    if (s == NULL || len != REFRESH_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

void refresh_token_hash_text(const char *token, size_t len,
                             char out[REFRESH_HASH_TEXT_LEN + 1])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];

    SHA256((const unsigned char *)token, len, digest);
    out[0] = '\\';
    out[1] = 'x';
    hex_encode(digest, sizeof digest, out + 2);
}
