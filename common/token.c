/*
 * token.c - access-token (JWT) verification (see token.h).
 *
 * Order of checks: size, shape (three base64url segments), header JSON (no
 * duplicate members, alg and kid typed), key lookup by kid, algorithm pinned
 * to the key, signature (libjwt, which alone would take the algorithm from
 * the token), then the claims, parsed again here with duplicate members
 * refused and every type checked.
 */
#include "token.h"

#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const alg_names[] = {
    [TOKEN_ALG_HS256] = "HS256",
    [TOKEN_ALG_RS256] = "RS256",
    [TOKEN_ALG_ES256] = "ES256",
};

static const char *const role_names[] = {
    [TOKEN_ROLE_USER] = "user",
    [TOKEN_ROLE_ADMIN] = "admin",
    [TOKEN_ROLE_DEVICE] = "device",
};

const char *token_alg_name(token_alg alg)
{
    return alg_names[alg];
}

const char *token_role_name(token_role role)
{
    return role_names[role];
}

int token_alg_parse(const char *name, token_alg *out)
{
    for (size_t i = 0; i < sizeof alg_names / sizeof alg_names[0]; i++) {
        if (name != NULL && strcmp(name, alg_names[i]) == 0) {
            *out = (token_alg)i;
            return 0;
        }
    }
    return -1;
}

const char *token_status_str(token_status st)
{
    switch (st) {
    case TOKEN_OK:
        return "ok";
    case TOKEN_ERR_MALFORMED:
        return "malformed token";
    case TOKEN_ERR_ALG:
        return "algorithm not allowed for this key";
    case TOKEN_ERR_KEY:
        return "unknown key";
    case TOKEN_ERR_SIGNATURE:
        return "bad signature";
    case TOKEN_ERR_EXPIRED:
        return "token expired";
    case TOKEN_ERR_NOT_YET:
        return "token not yet valid";
    case TOKEN_ERR_CLAIMS:
        return "missing or invalid claims";
    case TOKEN_ERR_ISSUER:
        return "wrong issuer";
    case TOKEN_ERR_AUDIENCE:
        return "wrong audience";
    }
    return "unknown error";
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

unsigned char *base64url_decode(const char *in, size_t in_len, size_t *out_len)
{
    unsigned char *out;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (in_len % 4 == 1)
        return NULL;
    out = malloc(in_len * 3 / 4 + 2);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < in_len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits must be zero, or the encoding is not canonical. */
    if (acc != 0) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

int token_verifier_init(token_verifier *v, const char *issuer,
                        const char *audience, long leeway_s)
{
    memset(v, 0, sizeof *v);
    if (issuer == NULL || audience == NULL || issuer[0] == '\0' ||
        audience[0] == '\0' || strlen(issuer) > TOKEN_CLAIM_MAX ||
        strlen(audience) > TOKEN_CLAIM_MAX || leeway_s < 0)
        return -1;
    strcpy(v->issuer, issuer);
    strcpy(v->audience, audience);
    v->leeway_s = leeway_s;
    return 0;
}

static int kid_valid(const char *kid)
{
    size_t n = strlen(kid);

    if (n == 0 || n > TOKEN_KID_MAX || strstr(kid, "..") != NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = kid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static const token_key *find_key(const token_verifier *v, const char *kid)
{
    for (size_t i = 0; i < v->n_keys; i++) {
        if (strcmp(v->keys[i].kid, kid) == 0)
            return &v->keys[i];
    }
    return NULL;
}

/* True if material is a PEM public key of the kind alg needs. */
static bool public_key_fits(token_alg alg, const unsigned char *material,
                            size_t len)
{
    BIO *bio = BIO_new_mem_buf(material, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    bool ok = false;

    if (pkey != NULL) {
        if (alg == TOKEN_ALG_RS256) {
            ok = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA &&
                 EVP_PKEY_get_bits(pkey) >= 2048;
        } else if (alg == TOKEN_ALG_ES256) {
            char group[64];
            size_t glen = 0;
            ok = EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
                 EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) ==
                     1 &&
                 strcmp(group, "prime256v1") == 0;
        }
    }
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return ok;
}

/* A new HMAC-SHA256 context keyed with key, or NULL. */
static EVP_MAC_CTX *hmac_sha256_keyed(const unsigned char *key, size_t len)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };

    EVP_MAC_free(mac); /* the context keeps its own reference */
    if (ctx != NULL && EVP_MAC_init(ctx, key, len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

int token_verifier_add_key(token_verifier *v, const char *kid, token_alg alg,
                           const unsigned char *material, size_t len,
                           const char **why)
{
    token_key *k;

    if (kid == NULL || (kid[0] != '\0' && !kid_valid(kid))) {
        *why = "key id must match [A-Za-z0-9._-]{1,64}";
        return -1;
    }
    if (find_key(v, kid) != NULL) {
        *why = "duplicate key id";
        return -1;
    }
    if (v->n_keys == TOKEN_MAX_KEYS) {
        *why = "too many keys";
        return -1;
    }
    if (alg == TOKEN_ALG_HS256 && len < TOKEN_MIN_SECRET_BYTES) {
        *why = "HS256 secret is shorter than 32 bytes";
        return -1;
    }
    if (len == 0 || len > 64 * 1024) {
        *why = "key material is empty or too large";
        return -1;
    }
    if (alg != TOKEN_ALG_HS256 && !public_key_fits(alg, material, len)) {
        *why = alg == TOKEN_ALG_RS256
                   ? "not a PEM RSA public key of at least 2048 bits"
                   : "not a PEM EC public key on P-256";
        return -1;
    }
    k = &v->keys[v->n_keys];
    k->hmac = NULL;
    if (alg == TOKEN_ALG_HS256 &&
        (k->hmac = hmac_sha256_keyed(material, len)) == NULL) {
        *why = "cannot set up HMAC-SHA256";
        return -1;
    }
    k->material = malloc(len + 1);
    if (k->material == NULL) {
        EVP_MAC_CTX_free(k->hmac);
        k->hmac = NULL;
        *why = "out of memory";
        return -1;
    }
    memcpy(k->material, material, len);
    k->material[len] = '\0';
    k->material_len = len;
    k->alg = alg;
    strcpy(k->kid, kid);
    v->n_keys++;
    return 0;
}

int token_verifier_add_key_file(token_verifier *v, const char *kid,
                                token_alg alg, const char *path,
                                const char **why)
{
    unsigned char buf[64 * 1024 + 1];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        *why = "cannot open key file";
        return -1;
    }
    n = fread(buf, 1, sizeof buf, f);
    if (ferror(f) || n == sizeof buf) {
        fclose(f);
        *why = "cannot read key file, or it is over 64 KiB";
        return -1;
    }
    fclose(f);
    if (alg == TOKEN_ALG_HS256) {
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                         buf[n - 1] == ' ' || buf[n - 1] == '\t'))
            n--;
    }
    int rc = token_verifier_add_key(v, kid, alg, buf, n, why);
    explicit_bzero(buf, sizeof buf);
    return rc;
}

void token_verifier_clear(token_verifier *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n_keys; i++) {
        if (v->keys[i].material != NULL) {
            explicit_bzero(v->keys[i].material, v->keys[i].material_len);
            free(v->keys[i].material);
        }
        v->keys[i].material = NULL;
        EVP_MAC_CTX_free(v->keys[i].hmac);
        v->keys[i].hmac = NULL;
    }
    v->n_keys = 0;
}

/* Decodes one base64url segment as a JSON object, refusing duplicate
 * members.  Returns a new reference, or NULL. */
static json_t *decode_json_segment(const char *seg, size_t len)
{
    size_t n;
    unsigned char *raw = base64url_decode(seg, len, &n);
    json_t *obj;

    if (raw == NULL)
        return NULL;
    obj = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (obj != NULL && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static jwt_alg_t libjwt_alg(token_alg alg)
{
    switch (alg) {
    case TOKEN_ALG_HS256:
        return JWT_ALG_HS256;
    case TOKEN_ALG_RS256:
        return JWT_ALG_RS256;
    case TOKEN_ALG_ES256:
        return JWT_ALG_ES256;
    }
    return JWT_ALG_INVAL;
}

/* An integer claim: absent (returns 0, *present = 0), an integer (1), or
 * anything else (-1). */
static int int_claim(json_t *claims, const char *name, int64_t *out)
{
    json_t *j = json_object_get(claims, name);

    if (j == NULL)
        return 0;
    if (!json_is_integer(j))
        return -1;
    *out = (int64_t)json_integer_value(j);
    return 1;
}

static token_status check_audience(const token_verifier *v, json_t *aud)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), v->audience) == 0
                   ? TOKEN_OK
                   : TOKEN_ERR_AUDIENCE;
    if (json_is_array(aud)) {
        size_t i;
        json_t *item;
        token_status st = TOKEN_ERR_AUDIENCE;
        json_array_foreach(aud, i, item)
        {
            if (!json_is_string(item))
                return TOKEN_ERR_CLAIMS;
            if (strcmp(json_string_value(item), v->audience) == 0)
                st = TOKEN_OK;
        }
        return st;
    }
    return aud == NULL ? TOKEN_ERR_AUDIENCE : TOKEN_ERR_CLAIMS;
}

static token_status check_claims(const token_verifier *v, json_t *claims,
                                 time_t now, token_claims *out)
{
    json_t *j;
    int64_t nbf = 0;
    int has;

    memset(out, 0, sizeof *out);

    j = json_object_get(claims, "iss");
    if (j == NULL)
        return TOKEN_ERR_ISSUER;
    if (!json_is_string(j))
        return TOKEN_ERR_CLAIMS;
    if (strcmp(json_string_value(j), v->issuer) != 0)
        return TOKEN_ERR_ISSUER;

    token_status st = check_audience(v, json_object_get(claims, "aud"));
    if (st != TOKEN_OK)
        return st;

    j = json_object_get(claims, "sub");
    if (!json_is_string(j) || json_string_length(j) != UUID_STR_LEN ||
        !uuid_valid(json_string_value(j)))
        return TOKEN_ERR_CLAIMS;
    strcpy(out->sub, json_string_value(j));

    has = int_claim(claims, "exp", &out->exp);
    if (has != 1)
        return TOKEN_ERR_CLAIMS;
    if (out->exp < (int64_t)now - v->leeway_s) /* exp + leeway may overflow */
        return TOKEN_ERR_EXPIRED;

    has = int_claim(claims, "iat", &out->iat);
    if (has < 0)
        return TOKEN_ERR_CLAIMS;
    if (has == 1 && out->iat > (int64_t)now + v->leeway_s)
        return TOKEN_ERR_NOT_YET;

    has = int_claim(claims, "nbf", &nbf);
    if (has < 0)
        return TOKEN_ERR_CLAIMS;
    if (has == 1 && nbf > (int64_t)now + v->leeway_s)
        return TOKEN_ERR_NOT_YET;

    out->role = TOKEN_ROLE_USER;
    j = json_object_get(claims, "role");
    if (j != NULL) {
        size_t r;
        if (!json_is_string(j))
            return TOKEN_ERR_CLAIMS;
        for (r = 0; r < sizeof role_names / sizeof role_names[0]; r++) {
            if (strcmp(json_string_value(j), role_names[r]) == 0)
                break;
        }
        if (r == sizeof role_names / sizeof role_names[0])
            return TOKEN_ERR_CLAIMS;
        out->role = (token_role)r;
    }

    j = json_object_get(claims, "jti");
    if (j != NULL) {
        if (!json_is_string(j) || json_string_length(j) > TOKEN_CLAIM_MAX)
            return TOKEN_ERR_CLAIMS;
        strcpy(out->jti, json_string_value(j));
    }
    return TOKEN_OK;
}

static token_status verify_hs256(const token_key *key, const char *signed_part,
                                 size_t signed_len, const char *sig_b64,
                                 size_t sig_b64_len)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0, sig_len;
    unsigned char *sig = base64url_decode(sig_b64, sig_b64_len, &sig_len);
    EVP_MAC_CTX *ctx;
    token_status st = TOKEN_ERR_SIGNATURE;

    if (sig == NULL)
        return TOKEN_ERR_MALFORMED;
    ctx = EVP_MAC_CTX_dup(key->hmac);
    if (ctx != NULL &&
        EVP_MAC_update(ctx, (const unsigned char *)signed_part, signed_len) ==
            1 &&
        EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) == 1 &&
        sig_len == mac_len && CRYPTO_memcmp(sig, mac, mac_len) == 0)
        st = TOKEN_OK;
    EVP_MAC_CTX_free(ctx);
    free(sig);
    return st;
}

token_status token_verify(const token_verifier *v, const char *token,
                          size_t len, time_t now, token_claims *out)
{
    const char *dot1, *dot2;
    json_t *header = NULL, *claims = NULL, *j;
    const token_key *key;
    const char *kid = "";
    char *copy = NULL;
    jwt_t *jwt = NULL;
    token_status st;

    if (token == NULL || len == 0 || len > TOKEN_MAX_BYTES ||
        memchr(token, '\0', len) != NULL)
        return TOKEN_ERR_MALFORMED;
    dot1 = memchr(token, '.', len);
    if (dot1 == NULL)
        return TOKEN_ERR_MALFORMED;
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (dot2 == NULL ||
        memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL ||
        dot2 + 1 == token + len || dot1 == token || dot2 == dot1 + 1)
        return TOKEN_ERR_MALFORMED;

    header = decode_json_segment(token, (size_t)(dot1 - token));
    claims = decode_json_segment(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (header == NULL || claims == NULL) {
        st = TOKEN_ERR_MALFORMED;
        goto done;
    }
    /* The signature segment must be base64url too. */
    {
        size_t n;
        unsigned char *sig =
            base64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &n);
        if (sig == NULL) {
            st = TOKEN_ERR_MALFORMED;
            goto done;
        }
        free(sig);
    }

    j = json_object_get(header, "kid");
    if (j != NULL) {
        if (!json_is_string(j) || !kid_valid(json_string_value(j))) {
            st = TOKEN_ERR_KEY;
            goto done;
        }
        kid = json_string_value(j);
    }
    key = find_key(v, kid);
    if (key == NULL) {
        st = TOKEN_ERR_KEY;
        goto done;
    }
    j = json_object_get(header, "alg");
    if (!json_is_string(j) ||
        strcmp(json_string_value(j), alg_names[key->alg]) != 0) {
        st = TOKEN_ERR_ALG;
        goto done;
    }

    if (key->alg == TOKEN_ALG_HS256) {
        /* HMAC through OpenSSL and a constant-time comparison (libjwt 1.10
         * compares HS256 signatures with strcmp). */
        st = verify_hs256(key, token, (size_t)(dot2 - token), dot2 + 1,
                          len - (size_t)(dot2 + 1 - token));
        if (st == TOKEN_OK)
            st = check_claims(v, claims, now, out);
        goto done;
    }

    copy = strndup(token, len);
    if (copy == NULL) {
        st = TOKEN_ERR_MALFORMED;
        goto done;
    }
    if (jwt_decode(&jwt, copy, key->material, (int)key->material_len) != 0 ||
        jwt == NULL) {
        st = TOKEN_ERR_SIGNATURE;
        goto done;
    }
    /* libjwt takes the algorithm from the token; it must be the key's. */
    if (jwt_get_alg(jwt) != libjwt_alg(key->alg)) {
        st = TOKEN_ERR_ALG;
        goto done;
    }
    st = check_claims(v, claims, now, out);

done:
    if (jwt != NULL)
        jwt_free(jwt);
    free(copy);
    json_decref(header);
    json_decref(claims);
    return st;
}
