/*
 * password.c - scrypt password hashes in a self-describing string
 * (see password.h).
 */
#include "password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "token.h"

#define PREFIX "$scrypt$ln="

/* Parses a decimal number of at most 3 digits without leading zeros at *s,
 * advancing *s.  Returns 0, or -1. */
static int parse_small_uint(const char **s, unsigned *out)
{
    const char *p = *s;
    unsigned v = 0;
    size_t n = 0;

    if (*p == '0')
        return -1;
    while (p[n] >= '0' && p[n] <= '9') {
        if (n == 3)
            return -1;
        v = v * 10 + (unsigned)(p[n] - '0');
        n++;
    }
    if (n == 0)
        return -1;
    *s = p + n;
    *out = v;
    return 0;
}

static int params_in_range(unsigned ln, unsigned r, unsigned p)
{
    return ln >= 1 && ln <= PASSWORD_LN_MAX && r >= 1 && r <= PASSWORD_R_MAX &&
           p >= 1 && p <= PASSWORD_P_MAX;
}

/* Decodes the base64url field s[0..n) into out (at most max bytes).
 * Returns the decoded length, or 0 on any error. */
static size_t decode_field(const char *s, size_t n, unsigned char *out,
                           size_t max)
{
    size_t len = 0;
    unsigned char *raw;

    if (n == 0 || n > BASE64URL_LEN(max))
        return 0;
    raw = base64url_decode(s, n, &len);
    if (raw == NULL)
        return 0;
    if (len > max) {
        free(raw);
        return 0;
    }
    memcpy(out, raw, len);
    free(raw);
    return len;
}

int password_parse(const char *stored, password_params *out)
{
    const char *s = stored, *dollar;

    memset(out, 0, sizeof *out);
    if (s == NULL || strncmp(s, PREFIX, strlen(PREFIX)) != 0)
        return -1;
    s += strlen(PREFIX);
    if (parse_small_uint(&s, &out->ln) != 0 || strncmp(s, ",r=", 3) != 0)
        return -1;
    s += 3;
    if (parse_small_uint(&s, &out->r) != 0 || strncmp(s, ",p=", 3) != 0)
        return -1;
    s += 3;
    if (parse_small_uint(&s, &out->p) != 0 || *s != '$')
        return -1;
    s++;
    if (!params_in_range(out->ln, out->r, out->p))
        return -1;
    dollar = strchr(s, '$');
    if (dollar == NULL)
        return -1;
    out->salt_len =
        decode_field(s, (size_t)(dollar - s), out->salt, PASSWORD_BYTES_MAX);
    if (out->salt_len < 8)
        return -1;
    s = dollar + 1;
    if (strchr(s, '$') != NULL)
        return -1;
    out->key_len = decode_field(s, strlen(s), out->key, PASSWORD_BYTES_MAX);
    if (out->key_len < 16)
        return -1;
    return 0;
}

int password_format(const password_params *p, char *out, size_t outlen)
{
    char salt[BASE64URL_LEN(PASSWORD_BYTES_MAX) + 1];
    char key[BASE64URL_LEN(PASSWORD_BYTES_MAX) + 1];
    int n;

    if (!params_in_range(p->ln, p->r, p->p) || p->salt_len == 0 ||
        p->salt_len > PASSWORD_BYTES_MAX || p->key_len == 0 ||
        p->key_len > PASSWORD_BYTES_MAX)
        return -1;
    base64url_encode(p->salt, p->salt_len, salt);
    base64url_encode(p->key, p->key_len, key);
    n = snprintf(out, outlen, "$scrypt$ln=%u,r=%u,p=%u$%s$%s", p->ln, p->r,
                 p->p, salt, key);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Runs scrypt with a memory limit just large enough for the parameters
 * (OpenSSL's default of 32 MiB is too small for N = 2^15, r = 8). */
static int derive(const char *pw, size_t len, unsigned ln, unsigned r,
                  unsigned p, const unsigned char *salt, size_t salt_len,
                  unsigned char *key, size_t key_len)
{
    uint64_t n = (uint64_t)1 << ln;
    uint64_t maxmem = 128 * (uint64_t)r * (n + 2 + p) + 1024 * 1024;

    return EVP_PBE_scrypt(pw, len, salt, salt_len, n, r, p, maxmem, key,
                          key_len) == 1
               ? 0
               : -1;
}

int password_hash_params(const char *pw, size_t len, unsigned ln, unsigned r,
                         unsigned p, const unsigned char *salt, size_t salt_len,
                         char *out, size_t outlen)
{
    password_params pp;
    int rc;

    if (!params_in_range(ln, r, p) || salt_len == 0 ||
        salt_len > PASSWORD_BYTES_MAX)
        return -1;
    memset(&pp, 0, sizeof pp);
    pp.ln = ln;
    pp.r = r;
    pp.p = p;
    memcpy(pp.salt, salt, salt_len);
    pp.salt_len = salt_len;
    pp.key_len = PASSWORD_KEY_BYTES;
    if (derive(pw, len, ln, r, p, salt, salt_len, pp.key, pp.key_len) != 0)
        return -1;
    rc = password_format(&pp, out, outlen);
    OPENSSL_cleanse(&pp, sizeof pp);
    return rc;
}

int password_hash(const char *pw, size_t len, char out[PASSWORD_HASH_STR_MAX])
{
    unsigned char salt[PASSWORD_SALT_BYTES];

    if (RAND_bytes(salt, sizeof salt) != 1)
        return -1;
    return password_hash_params(pw, len, PASSWORD_LN, PASSWORD_R, PASSWORD_P,
                                salt, sizeof salt, out, PASSWORD_HASH_STR_MAX);
}

int password_verify(const char *pw, size_t len, const char *stored)
{
    password_params pp;
    unsigned char key[PASSWORD_BYTES_MAX];
    int rc;

    if (password_parse(stored, &pp) != 0)
        return -1;
    if (derive(pw, len, pp.ln, pp.r, pp.p, pp.salt, pp.salt_len, key,
               pp.key_len) != 0)
        return -1;
    rc = CRYPTO_memcmp(key, pp.key, pp.key_len) == 0 ? 1 : 0;
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

void password_verify_dummy(const char *pw, size_t len)
{
    static const unsigned char salt[PASSWORD_SALT_BYTES] = {0};
    unsigned char key[PASSWORD_KEY_BYTES];

    if (derive(pw, len, PASSWORD_LN, PASSWORD_R, PASSWORD_P, salt, sizeof salt,
               key, sizeof key) == 0)
        OPENSSL_cleanse(key, sizeof key);
}
