/*
 * test_token.c - unit tests for common/token.c, the access-token verifier.
 *
 * The fixture is a verifier for issuer and audience "parley" with 30 s of
 * leeway and three keys: the default HS256 secret (no kid), an RS256 public
 * key (kid "rsa1") and an ES256 public key (kid "ec1"); the RSA and EC keys
 * are generated in memory at start-up.  Valid tokens are signed with libjwt;
 * invalid ones are crafted by hand (our own base64url and JSON, HMAC-SHA256
 * from OpenSSL when a correct signature over odd content is needed), so each
 * refusal below is the rule under test and not an accident of encoding.
 *
 * Covered: the accepted algorithms and returned claims; alg pinning (none,
 * case, key confusion, kid/alg mismatch); exp/nbf/iat with leeway and types;
 * iss, aud (string and array), sub, role, jti; duplicate JSON members; size,
 * segment and base64url shape; kid lookup; signatures; ignored jku/x5u/jwk
 * headers; the key ring (add_key, add_key_file, clear); base64url_decode;
 * the name tables.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "token.h"

#define NOW ((time_t)1750000000)
#define LEEWAY 30
#define SUB "0f8fad5b-d9cb-469f-a165-70867728950e"
#define SUB2 "7c9e6679-7425-40de-944b-e07fc1f90ae7"
#define HS_SECRET "parley-unit-test-hs256-secret-0123456789"
#define OTHER_SECRET "not-the-parley-secret-but-as-long-as-it"

/* Claim members for hand-made payloads; M_EXP and M_IAT match NOW. */
#define M_ISS "\"iss\":\"parley\""
#define M_AUD "\"aud\":\"parley\""
#define M_SUB "\"sub\":\"" SUB "\""
#define M_EXP "\"exp\":1750000900"
#define M_IAT "\"iat\":1750000000"
#define STD M_ISS "," M_AUD "," M_SUB "," M_EXP "," M_IAT
#define HDR_HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

typedef struct fixture {
    token_verifier v;
    char *rsa_priv, *rsa_pub; /* PEM, kid "rsa1" */
    char *ec_priv, *ec_pub;   /* PEM, kid "ec1" */
    char *evil_priv, *evil_pub; /* an RSA key the verifier does not know */
} fixture;

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *jfmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *jfmt(const char *f, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, f);
    n = vasprintf(&s, f, ap);
    va_end(ap);
    assert_true(n >= 0);
    return s;
}

/* Unpadded base64url of n bytes; free() the result. */
static char *b64url(const void *data, size_t n)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *in = data;
    char *out = malloc(n / 3 * 4 + 5);
    size_t i = 0, o = 0;

    assert_non_null(out);
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = tbl[v >> 6 & 63];
        out[o++] = tbl[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = tbl[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static char *b64url_str(const char *s)
{
    return b64url(s, strlen(s));
}

/* "h.p.<HMAC-SHA256(key, "h.p") in base64url>" from raw segments. */
static char *craft_segments(const char *h, const char *p, const void *key,
                            size_t key_len)
{
    char *signing_input = jfmt("%s.%s", h, p);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char *sig, *tok;

    assert_non_null(HMAC(EVP_sha256(), key, (int)key_len,
                         (const unsigned char *)signing_input,
                         strlen(signing_input), mac, &mac_len));
    sig = b64url(mac, mac_len);
    tok = jfmt("%s.%s", signing_input, sig);
    free(signing_input);
    free(sig);
    return tok;
}

/* A token with the given header and payload JSON, HMAC-signed with key. */
static char *craft(const char *header_json, const char *payload_json,
                   const void *key, size_t key_len)
{
    char *h = b64url_str(header_json), *p = b64url_str(payload_json);
    char *tok = craft_segments(h, p, key, key_len);

    free(h);
    free(p);
    return tok;
}

/* A token with the given header and payload, correctly signed with the
 * default HS256 secret. */
static char *craft_hs(const char *header_json, const char *payload_json)
{
    return craft(header_json, payload_json, HS_SECRET, strlen(HS_SECRET));
}

/* A token "h.p.sig" with a signature segment given verbatim. */
static char *craft_sig(const char *header_json, const char *payload_json,
                       const char *sig)
{
    char *h = b64url_str(header_json), *p = b64url_str(payload_json);
    char *tok = jfmt("%s.%s.%s", h, p, sig);

    free(h);
    free(p);
    return tok;
}

static token_status verify_len(const fixture *f, const char *tok, size_t len,
                               token_claims *out)
{
    token_claims scratch;

    return token_verify(&f->v, tok, len, NOW, out != NULL ? out : &scratch);
}

static token_status verify(const fixture *f, const char *tok, token_claims *out)
{
    return verify_len(f, tok, strlen(tok), out);
}

/* Verifies and frees tok. */
static token_status verify_free(const fixture *f, char *tok, token_claims *out)
{
    token_status st = verify(f, tok, out);

    free(tok);
    return st;
}

/* Crafts an HS256 token over (header, payload) with the default secret and
 * verifies it. */
static token_status check_hs(const fixture *f, const char *header_json,
                             const char *payload_json, token_claims *out)
{
    return verify_free(f, craft_hs(header_json, payload_json), out);
}

/* Verifies the payload under the standard HS256 header. */
static token_status check_payload(const fixture *f, const char *payload_json,
                                  token_claims *out)
{
    return check_hs(f, HDR_HS, payload_json, out);
}

/* Same, freeing a payload built with jfmt. */
static token_status check_payload_free(const fixture *f, char *payload_json,
                                       token_claims *out)
{
    token_status st = check_payload(f, payload_json, out);

    free(payload_json);
    return st;
}

/* A libjwt token holding the standard valid claims. */
static jwt_t *std_jwt(void)
{
    jwt_t *jwt = NULL;

    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grant(jwt, "iss", "parley"), 0);
    assert_int_equal(jwt_add_grant(jwt, "aud", "parley"), 0);
    assert_int_equal(jwt_add_grant(jwt, "sub", SUB), 0);
    assert_int_equal(jwt_add_grant(jwt, "role", "admin"), 0);
    assert_int_equal(jwt_add_grant(jwt, "jti", "jti-1"), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "exp", (long)NOW + 900), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "iat", (long)NOW), 0);
    return jwt;
}

/* Signs jwt with libjwt (kid header when kid != NULL), frees jwt, and
 * returns the token (free()). */
static char *sign_jwt(jwt_t *jwt, jwt_alg_t alg, const char *key,
                      size_t key_len, const char *kid)
{
    char *tok;

    if (kid != NULL)
        assert_int_equal(jwt_add_header(jwt, "kid", kid), 0);
    assert_int_equal(
        jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)key_len), 0);
    tok = jwt_encode_str(jwt);
    assert_non_null(tok);
    jwt_free(jwt);
    return tok;
}

static char *sign_hs(jwt_t *jwt)
{
    return sign_jwt(jwt, JWT_ALG_HS256, HS_SECRET, strlen(HS_SECRET), NULL);
}

static char *sign_rs(const fixture *f, jwt_t *jwt)
{
    return sign_jwt(jwt, JWT_ALG_RS256, f->rsa_priv, strlen(f->rsa_priv),
                    "rsa1");
}

static char *sign_es(const fixture *f, jwt_t *jwt)
{
    return sign_jwt(jwt, JWT_ALG_ES256, f->ec_priv, strlen(f->ec_priv), "ec1");
}

/* Replaces one character in the middle of the signature segment. */
static void flip_signature_char(char *tok)
{
    char *sig = strrchr(tok, '.') + 1;
    size_t i = strlen(sig) / 2;

    sig[i] = sig[i] == 'A' ? 'B' : 'A';
}

static char *bio_to_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s;

    assert_true(n > 0);
    s = strndup(data, (size_t)n);
    assert_non_null(s);
    return s;
}

/* Writes pkey's private and public halves as PEM strings. */
static void pem_pair(EVP_PKEY *pkey, char **priv, char **pub)
{
    BIO *b = BIO_new(BIO_s_mem());

    assert_non_null(b);
    assert_int_equal(
        PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL), 1);
    *priv = bio_to_string(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    assert_non_null(b);
    assert_int_equal(PEM_write_bio_PUBKEY(b, pkey), 1);
    *pub = bio_to_string(b);
    BIO_free(b);
}

static int group_setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    EVP_PKEY *rsa, *ec, *evil;
    const char *why = NULL;

    if (f == NULL)
        return -1;
    rsa = EVP_RSA_gen(2048);
    evil = EVP_RSA_gen(2048);
    ec = EVP_EC_gen("P-256");
    if (rsa == NULL || ec == NULL || evil == NULL)
        return -1;
    pem_pair(rsa, &f->rsa_priv, &f->rsa_pub);
    pem_pair(ec, &f->ec_priv, &f->ec_pub);
    pem_pair(evil, &f->evil_priv, &f->evil_pub);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(evil);

    if (token_verifier_init(&f->v, "parley", "parley", LEEWAY) != 0 ||
        token_verifier_add_key(&f->v, "", TOKEN_ALG_HS256,
                               (const unsigned char *)HS_SECRET,
                               strlen(HS_SECRET), &why) != 0 ||
        token_verifier_add_key(&f->v, "rsa1", TOKEN_ALG_RS256,
                               (const unsigned char *)f->rsa_pub,
                               strlen(f->rsa_pub), &why) != 0 ||
        token_verifier_add_key(&f->v, "ec1", TOKEN_ALG_ES256,
                               (const unsigned char *)f->ec_pub,
                               strlen(f->ec_pub), &why) != 0) {
        fprintf(stderr, "fixture: %s\n", why != NULL ? why : "init failed");
        return -1;
    }
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;

    token_verifier_clear(&f->v);
    free(f->rsa_priv);
    free(f->rsa_pub);
    free(f->ec_priv);
    free(f->ec_pub);
    free(f->evil_priv);
    free(f->evil_pub);
    free(f);
    return 0;
}

/* ------------------------------------------------------------------------
 * Accepted tokens
 * ------------------------------------------------------------------------ */

static void assert_std_claims(const token_claims *c)
{
    assert_string_equal(c->sub, SUB);
    assert_int_equal(c->role, TOKEN_ROLE_ADMIN);
    assert_int_equal(c->exp, (int64_t)NOW + 900);
    assert_int_equal(c->iat, (int64_t)NOW);
    assert_string_equal(c->jti, "jti-1");
}

static void test_hs256_valid_accepted_with_claims(void **state)
{
    const fixture *f = *state;
    token_claims c;

    assert_int_equal(verify_free(f, sign_hs(std_jwt()), &c), TOKEN_OK);
    assert_std_claims(&c);
}

static void test_rs256_valid_accepted_with_claims(void **state)
{
    const fixture *f = *state;
    token_claims c;

    assert_int_equal(verify_free(f, sign_rs(f, std_jwt()), &c), TOKEN_OK);
    assert_std_claims(&c);
}

static void test_es256_valid_accepted_with_claims(void **state)
{
    const fixture *f = *state;
    token_claims c;

    assert_int_equal(verify_free(f, sign_es(f, std_jwt()), &c), TOKEN_OK);
    assert_std_claims(&c);
}

/* Guards the helpers: a hand-made token with good content verifies, so the
 * refusals below come from the content that was changed. */
static void test_crafted_hs256_valid_accepted(void **state)
{
    const fixture *f = *state;
    token_claims c;

    assert_int_equal(check_payload(f, "{" STD "}", &c), TOKEN_OK);
    assert_string_equal(c.sub, SUB);
    assert_int_equal(c.exp, (int64_t)NOW + 900);
    /* No kid and "typ" absent are fine too. */
    assert_int_equal(check_hs(f, "{\"alg\":\"HS256\"}", "{" STD "}", NULL),
                     TOKEN_OK);
}

static void test_optional_claims_absent_defaults(void **state)
{
    const fixture *f = *state;
    token_claims c;

    assert_int_equal(
        check_payload(f, "{" M_ISS "," M_AUD "," M_SUB "," M_EXP "}", &c),
        TOKEN_OK);
    assert_int_equal(c.iat, 0);
    assert_string_equal(c.jti, "");
    assert_int_equal(c.role, TOKEN_ROLE_USER);
}

/* ------------------------------------------------------------------------
 * Algorithm pinning
 * ------------------------------------------------------------------------ */

static void test_alg_none_refused(void **state)
{
    static const char *const names[] = {"none", "NONE", "None", "nOnE"};
    const fixture *f = *state;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *h = jfmt("{\"alg\":\"%s\",\"typ\":\"JWT\"}", names[i]);
        char *hk = jfmt("{\"alg\":\"%s\",\"kid\":\"rsa1\"}", names[i]);

        /* The classic form: empty signature. */
        assert_int_not_equal(verify_free(f, craft_sig(h, "{" STD "}", ""), NULL),
                             TOKEN_OK);
        /* With some signature bytes, it is the algorithm pin that refuses. */
        assert_int_equal(verify_free(f, craft_sig(h, "{" STD "}", "AAAA"), NULL),
                         TOKEN_ERR_ALG);
        assert_int_equal(
            verify_free(f, craft_sig(hk, "{" STD "}", "AAAA"), NULL),
            TOKEN_ERR_ALG);
        /* Or "signed" with the secret anyway. */
        assert_int_equal(check_hs(f, h, "{" STD "}", NULL), TOKEN_ERR_ALG);
        free(h);
        free(hk);
    }
}

/* libjwt reads alg case-insensitively; the pin compares exactly. */
static void test_alg_compared_exactly(void **state)
{
    const fixture *f = *state;

    assert_int_equal(check_hs(f, "{\"alg\":\"hs256\"}", "{" STD "}", NULL),
                     TOKEN_ERR_ALG);
    assert_int_equal(check_hs(f, "{\"alg\":\"Hs256\"}", "{" STD "}", NULL),
                     TOKEN_ERR_ALG);
    assert_int_equal(check_hs(f, "{\"alg\":\"HS256 \"}", "{" STD "}", NULL),
                     TOKEN_ERR_ALG);
    assert_int_equal(check_hs(f, "{\"alg\":\"HS384\"}", "{" STD "}", NULL),
                     TOKEN_ERR_ALG);
}

static void test_alg_missing_or_not_string_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(check_hs(f, "{\"typ\":\"JWT\"}", "{" STD "}", NULL),
                     TOKEN_ERR_ALG);
    assert_int_equal(check_hs(f, "{\"alg\":null}", "{" STD "}", NULL),
                     TOKEN_ERR_ALG);
    assert_int_equal(check_hs(f, "{\"alg\":256}", "{" STD "}", NULL),
                     TOKEN_ERR_ALG);
    assert_int_equal(check_hs(f, "{\"alg\":[\"HS256\"]}", "{" STD "}", NULL),
                     TOKEN_ERR_ALG);
}

/* An HS256 token whose HMAC key is the RS256 public key, naming that key. */
static void test_hs256_signed_with_rsa_public_key_refused(void **state)
{
    const fixture *f = *state;
    char *tok = craft("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"rsa1\"}",
                      "{" STD "}", f->rsa_pub, strlen(f->rsa_pub));

    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_ALG);
    /* The same forgery with libjwt, and against the EC key. */
    tok = sign_jwt(std_jwt(), JWT_ALG_HS256, f->rsa_pub, strlen(f->rsa_pub),
                   "rsa1");
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_ALG);
    tok = sign_jwt(std_jwt(), JWT_ALG_HS256, f->ec_pub, strlen(f->ec_pub),
                   "ec1");
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_ALG);
}

/* A token without kid gets the default (HS256) key, whatever it signs with. */
static void test_rs256_without_kid_refused(void **state)
{
    const fixture *f = *state;
    char *tok = sign_jwt(std_jwt(), JWT_ALG_RS256, f->rsa_priv,
                         strlen(f->rsa_priv), NULL);

    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_ALG);
    tok = sign_jwt(std_jwt(), JWT_ALG_ES256, f->ec_priv, strlen(f->ec_priv),
                   NULL);
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_ALG);
}

static void test_alg_not_the_kid_keys_refused(void **state)
{
    const fixture *f = *state;
    char *tok;

    /* ES256 token naming the RSA key, and the other way round. */
    tok = sign_jwt(std_jwt(), JWT_ALG_ES256, f->ec_priv, strlen(f->ec_priv),
                   "rsa1");
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_ALG);
    tok = sign_jwt(std_jwt(), JWT_ALG_RS256, f->rsa_priv, strlen(f->rsa_priv),
                   "ec1");
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_ALG);
    /* Another RSA digest with the RSA key. */
    tok = sign_jwt(std_jwt(), JWT_ALG_RS512, f->rsa_priv, strlen(f->rsa_priv),
                   "rsa1");
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_ALG);
}

/* ------------------------------------------------------------------------
 * Time claims
 * ------------------------------------------------------------------------ */

static char *payload_exp(int64_t exp)
{
    return jfmt("{" M_ISS "," M_AUD "," M_SUB ",\"exp\":%lld}", (long long)exp);
}

static void test_expired_refused(void **state)
{
    const fixture *f = *state;
    jwt_t *jwt = std_jwt();

    assert_int_equal(
        check_payload_free(f, payload_exp(NOW - LEEWAY - 1), NULL),
        TOKEN_ERR_EXPIRED);
    assert_int_equal(check_payload_free(f, payload_exp(NOW - 3600), NULL),
                     TOKEN_ERR_EXPIRED);
    assert_int_equal(check_payload_free(f, payload_exp(0), NULL),
                     TOKEN_ERR_EXPIRED);
    assert_int_equal(check_payload_free(f, payload_exp(INT64_MIN), NULL),
                     TOKEN_ERR_EXPIRED);
    /* Signed by libjwt too. */
    assert_int_equal(jwt_del_grants(jwt, "exp"), 0);
    assert_int_equal(jwt_add_grant_int(jwt, "exp", (long)NOW - 60), 0);
    assert_int_equal(verify_free(f, sign_hs(jwt), NULL), TOKEN_ERR_EXPIRED);
}

static void test_exp_within_leeway_accepted(void **state)
{
    const fixture *f = *state;

    assert_int_equal(check_payload_free(f, payload_exp(NOW - LEEWAY), NULL),
                     TOKEN_OK);
    assert_int_equal(check_payload_free(f, payload_exp(NOW - 1), NULL),
                     TOKEN_OK);
    assert_int_equal(check_payload_free(f, payload_exp(NOW), NULL), TOKEN_OK);
}

/* exp + leeway must not overflow (signed overflow is undefined behaviour). */
static void test_exp_far_future_accepted(void **state)
{
    const fixture *f = *state;

    assert_int_equal(check_payload_free(f, payload_exp(INT64_MAX), NULL),
                     TOKEN_OK);
    assert_int_equal(
        check_payload_free(f, payload_exp(INT64_MAX - LEEWAY + 1), NULL),
        TOKEN_OK);
}

static void test_future_nbf_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(
        check_payload_free(f, jfmt("{" STD ",\"nbf\":%lld}",
                                   (long long)NOW + LEEWAY + 1), NULL),
        TOKEN_ERR_NOT_YET);
    assert_int_equal(
        check_payload_free(f, jfmt("{" STD ",\"nbf\":%lld}",
                                   (long long)NOW + 3600), NULL),
        TOKEN_ERR_NOT_YET);
    /* Within the leeway, or in the past: fine. */
    assert_int_equal(
        check_payload_free(f, jfmt("{" STD ",\"nbf\":%lld}",
                                   (long long)NOW + LEEWAY), NULL),
        TOKEN_OK);
    assert_int_equal(
        check_payload_free(f, jfmt("{" STD ",\"nbf\":%lld}",
                                   (long long)NOW - 10), NULL),
        TOKEN_OK);
}

static void test_future_iat_refused(void **state)
{
#define IAT_PAYLOAD "{" M_ISS "," M_AUD "," M_SUB "," M_EXP ",\"iat\":%lld}"
    const fixture *f = *state;

    assert_int_equal(check_payload_free(
                         f, jfmt(IAT_PAYLOAD, (long long)NOW + LEEWAY + 1), NULL),
                     TOKEN_ERR_NOT_YET);
    assert_int_equal(check_payload_free(
                         f, jfmt(IAT_PAYLOAD, (long long)NOW + 86400), NULL),
                     TOKEN_ERR_NOT_YET);
    assert_int_equal(check_payload_free(
                         f, jfmt(IAT_PAYLOAD, (long long)NOW + LEEWAY), NULL),
                     TOKEN_OK);
#undef IAT_PAYLOAD
}

static void test_exp_mistyped_or_missing_refused(void **state)
{
    static const char *const exps[] = {
        "\"1750000900\"", /* a string is not a number */
        "1750000900.0",   /* nor is a float, even a whole one */
        "1.7500009e9",
        "1750000900.5",
        "true",
        "null",
        "[1750000900]",
        "{\"v\":1750000900}",
    };
    const fixture *f = *state;

    for (size_t i = 0; i < sizeof exps / sizeof exps[0]; i++) {
        token_status st = check_payload_free(
            f, jfmt("{" M_ISS "," M_AUD "," M_SUB ",\"exp\":%s}", exps[i]),
            NULL);
        if (st != TOKEN_ERR_CLAIMS)
            fail_msg("exp %s: got %s", exps[i], token_status_str(st));
    }
    assert_int_equal(
        check_payload(f, "{" M_ISS "," M_AUD "," M_SUB "," M_IAT "}", NULL),
        TOKEN_ERR_CLAIMS);
}

static void test_iat_nbf_mistyped_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(check_payload(f, "{" STD ",\"nbf\":\"1750000000\"}", NULL),
                     TOKEN_ERR_CLAIMS);
    assert_int_equal(check_payload(f, "{" STD ",\"nbf\":1750000000.0}", NULL),
                     TOKEN_ERR_CLAIMS);
    assert_int_equal(
        check_payload(f,
                      "{" M_ISS "," M_AUD "," M_SUB "," M_EXP
                      ",\"iat\":\"1750000000\"}",
                      NULL),
        TOKEN_ERR_CLAIMS);
    assert_int_equal(
        check_payload(f,
                      "{" M_ISS "," M_AUD "," M_SUB "," M_EXP
                      ",\"iat\":1750000000.0}",
                      NULL),
        TOKEN_ERR_CLAIMS);
}

/* ------------------------------------------------------------------------
 * Issuer and audience
 * ------------------------------------------------------------------------ */

static void test_wrong_issuer_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(
        check_payload(f,
                      "{\"iss\":\"evil\"," M_AUD "," M_SUB "," M_EXP "}", NULL),
        TOKEN_ERR_ISSUER);
    assert_int_equal(
        check_payload(f,
                      "{\"iss\":\"Parley\"," M_AUD "," M_SUB "," M_EXP "}",
                      NULL),
        TOKEN_ERR_ISSUER);
    assert_int_equal(
        check_payload(f,
                      "{\"iss\":\"parley \"," M_AUD "," M_SUB "," M_EXP "}",
                      NULL),
        TOKEN_ERR_ISSUER);
    assert_int_equal(
        check_payload(f, "{\"iss\":\"\"," M_AUD "," M_SUB "," M_EXP "}", NULL),
        TOKEN_ERR_ISSUER);
    /* Not a string at all. */
    assert_int_equal(
        check_payload(f,
                      "{\"iss\":[\"parley\"]," M_AUD "," M_SUB "," M_EXP "}",
                      NULL),
        TOKEN_ERR_CLAIMS);
}

static void test_missing_issuer_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(
        check_payload(f, "{" M_AUD "," M_SUB "," M_EXP "," M_IAT "}", NULL),
        TOKEN_ERR_ISSUER);
}

static char *payload_aud(const char *aud_json)
{
    return jfmt("{" M_ISS ",\"aud\":%s," M_SUB "," M_EXP "}", aud_json);
}

static void test_aud_array_without_ours_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(
        check_payload_free(f, payload_aud("[\"other\",\"parley-api\"]"), NULL),
        TOKEN_ERR_AUDIENCE);
    assert_int_equal(check_payload_free(f, payload_aud("[]"), NULL),
                     TOKEN_ERR_AUDIENCE);
    assert_int_equal(check_payload_free(f, payload_aud("\"other\""), NULL),
                     TOKEN_ERR_AUDIENCE);
}

static void test_aud_array_with_ours_accepted(void **state)
{
    const fixture *f = *state;

    assert_int_equal(
        check_payload_free(f, payload_aud("[\"other\",\"parley\"]"), NULL),
        TOKEN_OK);
    assert_int_equal(check_payload_free(f, payload_aud("[\"parley\"]"), NULL),
                     TOKEN_OK);
}

static void test_aud_array_with_non_string_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(
        check_payload_free(f, payload_aud("[\"parley\",1]"), NULL),
        TOKEN_ERR_CLAIMS);
    assert_int_equal(
        check_payload_free(f, payload_aud("[null,\"parley\"]"), NULL),
        TOKEN_ERR_CLAIMS);
    assert_int_equal(
        check_payload_free(f, payload_aud("[[\"parley\"]]"), NULL),
        TOKEN_ERR_CLAIMS);
    /* A non-string, non-array aud. */
    assert_int_equal(check_payload_free(f, payload_aud("7"), NULL),
                     TOKEN_ERR_CLAIMS);
    assert_int_equal(
        check_payload_free(f, payload_aud("{\"parley\":true}"), NULL),
        TOKEN_ERR_CLAIMS);
}

static void test_aud_missing_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(
        check_payload(f, "{" M_ISS "," M_SUB "," M_EXP "," M_IAT "}", NULL),
        TOKEN_ERR_AUDIENCE);
}

/* ------------------------------------------------------------------------
 * Subject, role, jti
 * ------------------------------------------------------------------------ */

static char *payload_sub(const char *sub_json)
{
    return jfmt("{" M_ISS "," M_AUD ",\"sub\":%s," M_EXP "}", sub_json);
}

static void expect_sub_refused(const fixture *f, const char *sub_json)
{
    token_status st = check_payload_free(f, payload_sub(sub_json), NULL);

    if (st != TOKEN_ERR_CLAIMS)
        fail_msg("sub %s: got %s", sub_json, token_status_str(st));
}

static void test_sub_not_uuid_refused(void **state)
{
    const fixture *f = *state;

    expect_sub_refused(f, "\"alice\"");
    expect_sub_refused(f, "\"\"");
    expect_sub_refused(f, "\"0f8fad5b-d9cb-469f-a165-70867728950\"");
    expect_sub_refused(f, "\"0f8fad5b-d9cb-469f-a165-70867728950e0\"");
    expect_sub_refused(f, "\"0f8fad5bd9cb469fa16570867728950e\"");
    expect_sub_refused(f, "42");
    expect_sub_refused(f, "null");
    expect_sub_refused(f, "[\"" SUB "\"]");
    assert_int_equal(
        check_payload(f, "{" M_ISS "," M_AUD "," M_EXP "," M_IAT "}", NULL),
        TOKEN_ERR_CLAIMS);
}

static void test_sub_upper_case_uuid_refused(void **state)
{
    const fixture *f = *state;

    expect_sub_refused(f, "\"0F8FAD5B-D9CB-469F-A165-70867728950E\"");
    expect_sub_refused(f, "\"0f8fad5b-d9cb-469f-a165-70867728950E\"");
}

/* sub becomes the MQTT username and part of topics: no wildcards or levels. */
static void test_sub_with_topic_characters_refused(void **state)
{
    const fixture *f = *state;

    expect_sub_refused(f, "\"0f8fad5b-d9cb-469f-a165-70867728950/\"");
    expect_sub_refused(f, "\"0f8fad5b-d9cb-469f-a165-70867728950+\"");
    expect_sub_refused(f, "\"0f8fad5b-d9cb-469f-a165-70867728950#\"");
    expect_sub_refused(f, "\"" SUB "/#\"");
    expect_sub_refused(f, "\"+/0f8fad5b-d9cb-469f-a165-708677289\"");
}

/* jansson refuses \u0000 in strings (no JSON_ALLOW_NUL), so a NUL never
 * reaches the claim checks, where C strings would see only the part before
 * it. */
static void test_sub_with_nul_refused(void **state)
{
    static const char *const subs[] = {
        "\"" SUB "\\u0000\"",      /* a valid uuid, then NUL */
        "\"" SUB "\\u0000/#\"",    /* ... and topic characters */
        "\"0f8fad5b-d9cb-469f-a165-70867728950\\u0000\"", /* 36 chars */
    };
    const fixture *f = *state;

    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        token_status st = check_payload_free(f, payload_sub(subs[i]), NULL);
        if (st != TOKEN_ERR_MALFORMED)
            fail_msg("sub %s: got %s", subs[i], token_status_str(st));
    }
}

/* The same for the other string claims and the kid. */
static void test_nul_in_other_strings_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(
        check_payload(f, "{" STD ",\"role\":\"admin\\u0000x\"}", NULL),
        TOKEN_ERR_MALFORMED);
    assert_int_equal(
        check_payload(f,
                      "{\"iss\":\"parley\\u0000x\"," M_AUD "," M_SUB "," M_EXP
                      "}",
                      NULL),
        TOKEN_ERR_MALFORMED);
    assert_int_equal(check_payload_free(
                         f, payload_aud("[\"parley\\u0000x\"]"), NULL),
                     TOKEN_ERR_MALFORMED);
    assert_int_equal(
        check_hs(f, "{\"alg\":\"HS256\",\"kid\":\"rsa1\\u0000\"}",
                 "{" STD "}", NULL),
        TOKEN_ERR_MALFORMED);
}

static void test_role_unknown_refused(void **state)
{
    static const char *const roles[] = {
        "\"root\"", "\"Admin\"", "\"ADMIN\"", "\"admin \"", "\"\"",
        "1",        "true",      "null",      "[\"admin\"]",
    };
    const fixture *f = *state;

    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        token_status st =
            check_payload_free(f, jfmt("{" STD ",\"role\":%s}", roles[i]), NULL);
        if (st != TOKEN_ERR_CLAIMS)
            fail_msg("role %s: got %s", roles[i], token_status_str(st));
    }
}

static void test_role_absent_is_user(void **state)
{
    const fixture *f = *state;
    token_claims c;
    jwt_t *jwt = std_jwt();

    c.role = TOKEN_ROLE_ADMIN;
    assert_int_equal(check_payload(f, "{" STD "}", &c), TOKEN_OK);
    assert_int_equal(c.role, TOKEN_ROLE_USER);
    /* The same through libjwt. */
    assert_int_equal(jwt_del_grants(jwt, "role"), 0);
    c.role = TOKEN_ROLE_ADMIN;
    assert_int_equal(verify_free(f, sign_hs(jwt), &c), TOKEN_OK);
    assert_int_equal(c.role, TOKEN_ROLE_USER);
}

static void test_known_roles_accepted(void **state)
{
    const fixture *f = *state;
    token_claims c;

    assert_int_equal(check_payload(f, "{" STD ",\"role\":\"user\"}", &c),
                     TOKEN_OK);
    assert_int_equal(c.role, TOKEN_ROLE_USER);
    assert_int_equal(check_payload(f, "{" STD ",\"role\":\"admin\"}", &c),
                     TOKEN_OK);
    assert_int_equal(c.role, TOKEN_ROLE_ADMIN);
    assert_int_equal(check_payload(f, "{" STD ",\"role\":\"device\"}", &c),
                     TOKEN_OK);
    assert_int_equal(c.role, TOKEN_ROLE_DEVICE);
}

static void test_jti_too_long_or_mistyped_refused(void **state)
{
    const fixture *f = *state;
    char jti[TOKEN_CLAIM_MAX + 2];
    token_claims c;

    memset(jti, 'j', sizeof jti);
    jti[TOKEN_CLAIM_MAX] = '\0';
    assert_int_equal(
        check_payload_free(f, jfmt("{" STD ",\"jti\":\"%s\"}", jti), &c),
        TOKEN_OK);
    assert_string_equal(c.jti, jti);
    jti[TOKEN_CLAIM_MAX] = 'j';
    jti[TOKEN_CLAIM_MAX + 1] = '\0';
    assert_int_equal(
        check_payload_free(f, jfmt("{" STD ",\"jti\":\"%s\"}", jti), NULL),
        TOKEN_ERR_CLAIMS);
    assert_int_equal(check_payload(f, "{" STD ",\"jti\":12345}", NULL),
                     TOKEN_ERR_CLAIMS);
}

/* ------------------------------------------------------------------------
 * Duplicate JSON members
 * ------------------------------------------------------------------------ */

static void test_duplicate_claim_refused(void **state)
{
    const fixture *f = *state;

    /* Two subs: which one would a reader pick? Neither. */
    assert_int_equal(check_payload(f, "{" STD ",\"sub\":\"" SUB2 "\"}", NULL),
                     TOKEN_ERR_MALFORMED);
    assert_int_equal(check_payload(f, "{" STD ",\"exp\":9999999999}", NULL),
                     TOKEN_ERR_MALFORMED);
    assert_int_equal(
        check_payload(f, "{" STD ",\"role\":\"user\",\"role\":\"admin\"}", NULL),
        TOKEN_ERR_MALFORMED);
}

static void test_duplicate_header_member_refused(void **state)
{
    const fixture *f = *state;

    assert_int_equal(
        check_hs(f, "{\"alg\":\"HS256\",\"alg\":\"HS256\"}", "{" STD "}", NULL),
        TOKEN_ERR_MALFORMED);
    assert_int_equal(
        check_hs(f, "{\"alg\":\"none\",\"alg\":\"HS256\"}", "{" STD "}", NULL),
        TOKEN_ERR_MALFORMED);
    assert_int_equal(check_hs(f,
                              "{\"alg\":\"HS256\",\"kid\":\"rsa1\","
                              "\"kid\":\"rsa1\"}",
                              "{" STD "}", NULL),
                     TOKEN_ERR_MALFORMED);
}

/* ------------------------------------------------------------------------
 * Size and shape
 * ------------------------------------------------------------------------ */

static void test_token_over_8k_refused(void **state)
{
    const fixture *f = *state;
    char *pad = malloc(TOKEN_MAX_BYTES);
    char *tok = NULL;
    size_t n, len = 0, last_ok = 0;

    assert_non_null(pad);
    /* Grow a correctly signed token until it passes TOKEN_MAX_BYTES. */
    for (n = 5800; n < TOKEN_MAX_BYTES; n++) {
        memset(pad, 'x', n);
        pad[n] = '\0';
        char *payload = jfmt("{" STD ",\"pad\":\"%s\"}", pad);
        tok = craft_hs(HDR_HS, payload);
        free(payload);
        len = strlen(tok);
        if (len > TOKEN_MAX_BYTES)
            break;
        assert_int_equal(verify(f, tok, NULL), TOKEN_OK);
        last_ok = len;
        free(tok);
        tok = NULL;
    }
    assert_non_null(tok);
    assert_true(last_ok > TOKEN_MAX_BYTES - 4 && last_ok <= TOKEN_MAX_BYTES);
    assert_true(len <= TOKEN_MAX_BYTES + 4);
    assert_int_equal(verify(f, tok, NULL), TOKEN_ERR_MALFORMED);
    free(tok);
    free(pad);
}

/* Signs HDR_HS with the payload segment p_seg given verbatim and verifies:
 * the signature is right, so only the encoding can be refused. */
static token_status check_resigned_payload_segment(const fixture *f,
                                                   const char *p_seg)
{
    char *h = b64url_str(HDR_HS);
    char *tok = craft_segments(h, p_seg, HS_SECRET, strlen(HS_SECRET));

    free(h);
    return verify_free(f, tok, NULL);
}

/* A base64url payload segment for "{ STD }" that contains character c,
 * found by shifting the JSON with leading spaces. */
static char *payload_segment_with(char c)
{
    static const char *const payloads[] = {
        "{" STD ",\"jti\":\"~~~>>>?\?\?\"}",
        "{ " STD ",\"jti\":\"~~~>>>?\?\?\"}",
        "{  " STD ",\"jti\":\"~~~>>>?\?\?\"}",
    };

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        char *p = b64url_str(payloads[i]);
        if (strchr(p, c) != NULL)
            return p;
        free(p);
    }
    fail_msg("no payload encoding contains '%c'", c);
    return NULL;
}

static void test_bad_base64_refused(void **state)
{
    const fixture *f = *state;
    char *p, *tok, *h;

    /* Guard: the '-' and '_' forms verify. */
    p = payload_segment_with('-');
    assert_int_equal(check_resigned_payload_segment(f, p), TOKEN_OK);
    /* Standard alphabet instead of the URL-safe one. */
    *strchr(p, '-') = '+';
    assert_int_equal(check_resigned_payload_segment(f, p), TOKEN_ERR_MALFORMED);
    free(p);
    p = payload_segment_with('_');
    assert_int_equal(check_resigned_payload_segment(f, p), TOKEN_OK);
    *strchr(p, '_') = '/';
    assert_int_equal(check_resigned_payload_segment(f, p), TOKEN_ERR_MALFORMED);
    free(p);

    /* '=' padding. */
    p = b64url_str("{" STD "}");
    if (strlen(p) % 4 == 0) {
        free(p);
        p = b64url_str("{" STD " }");
    }
    assert_true(strlen(p) % 4 != 0);
    {
        char *padded = jfmt("%s%s", p, strlen(p) % 4 == 2 ? "==" : "=");
        assert_int_equal(check_resigned_payload_segment(f, padded),
                         TOKEN_ERR_MALFORMED);
        free(padded);
    }
    /* Characters outside any alphabet. */
    {
        char *star = jfmt("%s*", p);
        assert_int_equal(check_resigned_payload_segment(f, star),
                         TOKEN_ERR_MALFORMED);
        free(star);
        char *space = jfmt(" %s", p);
        assert_int_equal(check_resigned_payload_segment(f, space),
                         TOKEN_ERR_MALFORMED);
        free(space);
    }
    /* In the header, and in the signature. */
    h = b64url_str(HDR_HS);
    {
        char *hs = jfmt("%s*", h);
        tok = craft_segments(hs, p, HS_SECRET, strlen(HS_SECRET));
        assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_MALFORMED);
        free(hs);
    }
    tok = craft_segments(h, p, HS_SECRET, strlen(HS_SECRET));
    {
        char *sig_padded = jfmt("%s=", tok);
        assert_int_equal(verify_free(f, sig_padded, NULL), TOKEN_ERR_MALFORMED);
        char *sig_star = strdup(tok);
        strrchr(sig_star, '.')[3] = '*';
        assert_int_equal(verify_free(f, sig_star, NULL), TOKEN_ERR_MALFORMED);
    }
    /* Non-canonical: the 2 unused bits of the last signature character set. */
    {
        char *last = tok + strlen(tok) - 1;
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                  "qrstuvwxyz0123456789-_";
        size_t v = (size_t)(strchr(tbl, *last) - tbl);
        assert_int_equal(strlen(strrchr(tok, '.') + 1) % 4, 3);
        assert_int_equal(v & 3, 0);
        *last = tbl[v | 1];
        assert_int_equal(verify(f, tok, NULL), TOKEN_ERR_MALFORMED);
    }
    free(tok);
    free(h);
    free(p);
}

static void test_wrong_segment_count_refused(void **state)
{
    const fixture *f = *state;
    char *good = craft_hs(HDR_HS, "{" STD "}");
    char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    char *h = strndup(good, (size_t)(dot1 - good));
    char *p = strndup(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    const char *s = dot2 + 1;
    char *bad[12];
    size_t n = 0;

    bad[n++] = jfmt("%s", h);                   /* 1 segment */
    bad[n++] = jfmt("%s.%s", h, p);             /* 2 segments */
    bad[n++] = jfmt("%s.%s.%s.%s", h, p, s, s); /* 4 segments */
    bad[n++] = jfmt("%s.%s.%s.", h, p, s);      /* 4, the last empty */
    bad[n++] = jfmt("%s.%s.%s.%s.%s", h, p, s, h, p); /* 5 (JWE-like) */
    bad[n++] = jfmt(".%s.%s", p, s);            /* empty header */
    bad[n++] = jfmt("%s..%s", h, s);            /* empty payload */
    bad[n++] = jfmt("%s.%s.", h, p);            /* empty signature */
    bad[n++] = jfmt("..");
    bad[n++] = jfmt(".");
    bad[n++] = jfmt("%s", "not a token");
    for (size_t i = 0; i < n; i++) {
        token_status st = verify(f, bad[i], NULL);
        if (st != TOKEN_ERR_MALFORMED)
            fail_msg("case %zu: got %s", i, token_status_str(st));
        free(bad[i]);
    }
    /* Zero length and NULL. */
    assert_int_equal(verify_len(f, good, 0, NULL), TOKEN_ERR_MALFORMED);
    assert_int_equal(verify_len(f, NULL, 10, NULL), TOKEN_ERR_MALFORMED);
    /* Guard: the parts reassembled verify. */
    assert_int_equal(verify(f, good, NULL), TOKEN_OK);
    free(h);
    free(p);
    free(good);
}

static void test_header_not_object_refused(void **state)
{
    static const char *const headers[] = {
        "[\"HS256\"]", "\"HS256\"", "1", "null", "{\"alg\":\"HS256\"",
        "{\"alg\":\"HS256\"} x", "", "{'alg':'HS256'}",
    };
    const fixture *f = *state;

    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *tok = craft_hs(headers[i], "{" STD "}");
        token_status st = verify(f, tok, NULL);
        /* An empty JSON text encodes to an empty segment: malformed too. */
        if (st != TOKEN_ERR_MALFORMED)
            fail_msg("header %s: got %s", headers[i], token_status_str(st));
        free(tok);
    }
}

static void test_payload_not_object_refused(void **state)
{
    static const char *const payloads[] = {
        "[{" STD "}]",   "[]", "\"" SUB "\"", "42", "null",
        "{" STD,         "{" STD "}{}",  "{" STD "} garbage",
    };
    const fixture *f = *state;

    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        token_status st = check_payload(f, payloads[i], NULL);
        if (st != TOKEN_ERR_MALFORMED)
            fail_msg("payload %s: got %s", payloads[i], token_status_str(st));
    }
}

/* A JSON text with a NUL byte (not \u0000, a raw 0) is not JSON. */
static void test_raw_nul_in_decoded_json_refused(void **state)
{
    const fixture *f = *state;
    static const char raw[] = "{" STD "}\0{\"role\":\"admin\"}";
    char *p = b64url(raw, sizeof raw - 1);
    char *h = b64url_str(HDR_HS);
    char *tok = craft_segments(h, p, HS_SECRET, strlen(HS_SECRET));

    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_MALFORMED);
    free(h);
    free(p);
}

/* ------------------------------------------------------------------------
 * Key lookup
 * ------------------------------------------------------------------------ */

static void test_unknown_kid_refused(void **state)
{
    const fixture *f = *state;
    char *tok = sign_jwt(std_jwt(), JWT_ALG_RS256, f->rsa_priv,
                         strlen(f->rsa_priv), "rsa2");

    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_KEY);
    tok = sign_jwt(std_jwt(), JWT_ALG_RS256, f->rsa_priv, strlen(f->rsa_priv),
                   "RSA1"); /* kids are case-sensitive */
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_KEY);
    assert_int_equal(
        check_hs(f, "{\"alg\":\"HS256\",\"kid\":\"default\"}", "{" STD "}",
                 NULL),
        TOKEN_ERR_KEY);
}

static void test_path_like_kid_refused(void **state)
{
    static const char *const kids[] = {
        "../etc/passwd", "a/b", "..", "rsa1/../rsa1", "/rsa1", "rsa1\\\\x",
        "rsa1 ", "", "%2e%2e",
        "0123456789012345678901234567890123456789012345678901234567890123x",
    };
    const fixture *f = *state;

    for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
        char *h = jfmt("{\"alg\":\"RS256\",\"kid\":\"%s\"}", kids[i]);
        token_status st = check_hs(f, h, "{" STD "}", NULL);
        free(h);
        if (st != TOKEN_ERR_KEY)
            fail_msg("kid %s: got %s", kids[i], token_status_str(st));
    }
}

static void test_kid_not_string_refused(void **state)
{
    static const char *const kids[] = {"1", "null", "true", "[\"rsa1\"]",
                                       "{\"rsa1\":1}"};
    const fixture *f = *state;

    for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
        char *h = jfmt("{\"alg\":\"HS256\",\"kid\":%s}", kids[i]);
        token_status st = check_hs(f, h, "{" STD "}", NULL);
        free(h);
        if (st != TOKEN_ERR_KEY)
            fail_msg("kid %s: got %s", kids[i], token_status_str(st));
    }
}

/* ------------------------------------------------------------------------
 * Signatures
 * ------------------------------------------------------------------------ */

static void test_flipped_signature_char_refused(void **state)
{
    const fixture *f = *state;
    char *toks[3] = {sign_hs(std_jwt()), sign_rs(f, std_jwt()),
                     sign_es(f, std_jwt())};

    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(verify(f, toks[i], NULL), TOKEN_OK);
        flip_signature_char(toks[i]);
        assert_int_equal(verify_free(f, toks[i], NULL), TOKEN_ERR_SIGNATURE);
    }
}

/* A good signature moved onto other content. */
static void test_signature_of_other_content_refused(void **state)
{
    const fixture *f = *state;
    char *a = craft_hs(HDR_HS, "{" STD "}");
    char *b = craft_hs(HDR_HS, "{" STD ",\"role\":\"admin\"}");
    char *swapped = jfmt("%.*s%s", (int)(strrchr(b, '.') - b), b,
                         strrchr(a, '.'));

    assert_int_equal(verify_free(f, swapped, NULL), TOKEN_ERR_SIGNATURE);
    free(a);
    free(b);
}

static void test_hs256_other_secret_refused(void **state)
{
    const fixture *f = *state;
    char *tok = craft(HDR_HS, "{" STD "}", OTHER_SECRET, strlen(OTHER_SECRET));

    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_SIGNATURE);
    /* The secret plus a trailing newline is another secret. */
    tok = craft(HDR_HS, "{" STD "}", HS_SECRET "\n", strlen(HS_SECRET) + 1);
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_SIGNATURE);
}

static void test_rs256_signed_by_unknown_key_refused(void **state)
{
    const fixture *f = *state;
    char *tok = sign_jwt(std_jwt(), JWT_ALG_RS256, f->evil_priv,
                         strlen(f->evil_priv), "rsa1");

    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_SIGNATURE);
}

static void test_trailing_garbage_refused(void **state)
{
    static const char *const tails[] = {"x", "AAAA", " ", "\n", ".", "=",
                                        "\r\n", ".AAAA"};
    const fixture *f = *state;
    char *good = sign_hs(std_jwt());

    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        char *tok = jfmt("%s%s", good, tails[i]);
        assert_int_not_equal(verify_free(f, tok, NULL), TOKEN_OK);
    }
    free(good);
}

static void test_embedded_nul_within_len_refused(void **state)
{
    const fixture *f = *state;
    char *good = sign_hs(std_jwt());
    size_t n = strlen(good);
    char *buf = malloc(n + 8);

    assert_non_null(buf);
    /* The token, a NUL, then more bytes, all within len. */
    memcpy(buf, good, n + 1);
    memcpy(buf + n + 1, "junk", 5);
    assert_int_equal(verify_len(f, buf, n + 5, NULL), TOKEN_ERR_MALFORMED);
    /* A NUL in place of a signature character. */
    memcpy(buf, good, n + 1);
    buf[n - 3] = '\0';
    assert_int_equal(verify_len(f, buf, n, NULL), TOKEN_ERR_MALFORMED);
    /* A NUL inside the header segment. */
    memcpy(buf, good, n + 1);
    buf[2] = '\0';
    assert_int_equal(verify_len(f, buf, n, NULL), TOKEN_ERR_MALFORMED);
    free(buf);
    free(good);
}

/* The token need not be NUL-terminated: only len bytes are read. */
static void test_only_len_bytes_read(void **state)
{
    const fixture *f = *state;
    char *good = sign_hs(std_jwt());
    size_t n = strlen(good);
    char *buf = malloc(n);
    char *heap_tail = jfmt("%s.AAAA junk", good);

    assert_non_null(buf);
    memcpy(buf, good, n); /* exactly n bytes, no terminator */
    assert_int_equal(verify_len(f, buf, n, NULL), TOKEN_OK);
    assert_int_equal(verify_len(f, heap_tail, n, NULL), TOKEN_OK);
    /* One byte short: the signature no longer matches (or decodes). */
    assert_int_not_equal(verify_len(f, buf, n - 1, NULL), TOKEN_OK);
    free(heap_tail);
    free(buf);
    free(good);
}

/* jku, x5u and jwk would point a careless verifier at the attacker's key. */
static void test_jku_x5u_jwk_headers_ignored(void **state)
{
    static const char *const jwk_header =
        "{\"jwk\":{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"sXchDaQebHnPiGvyDOAT4"
        "saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIR"
        "ROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuy"
        "vVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-"
        "Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFL"
        "U7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw\"},"
        "\"x5c\":[\"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\"]}";
    const fixture *f = *state;
    jwt_t *jwt;
    char *tok;

    /* Signed by our key: the extra headers change nothing. */
    jwt = std_jwt();
    assert_int_equal(
        jwt_add_header(jwt, "jku", "https://evil.example/jwks.json"), 0);
    assert_int_equal(jwt_add_header(jwt, "x5u", "https://evil.example/x.pem"),
                     0);
    assert_int_equal(jwt_add_headers_json(jwt, jwk_header), 0);
    tok = sign_rs(f, jwt);
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_OK);

    /* Signed by the attacker's key that those headers name: refused. */
    jwt = std_jwt();
    assert_int_equal(
        jwt_add_header(jwt, "jku", "https://evil.example/jwks.json"), 0);
    assert_int_equal(jwt_add_header(jwt, "x5u", "https://evil.example/x.pem"),
                     0);
    assert_int_equal(jwt_add_headers_json(jwt, jwk_header), 0);
    tok = sign_jwt(jwt, JWT_ALG_RS256, f->evil_priv, strlen(f->evil_priv),
                   "rsa1");
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_SIGNATURE);

    /* And with no kid, the default HS256 key answers: wrong algorithm. */
    jwt = std_jwt();
    assert_int_equal(
        jwt_add_header(jwt, "jku", "https://evil.example/jwks.json"), 0);
    tok = sign_jwt(jwt, JWT_ALG_RS256, f->evil_priv, strlen(f->evil_priv),
                   NULL);
    assert_int_equal(verify_free(f, tok, NULL), TOKEN_ERR_ALG);
}

/* ------------------------------------------------------------------------
 * The key ring
 * ------------------------------------------------------------------------ */

static void test_verifier_init_refuses_bad_arguments(void **state)
{
    token_verifier v;
    char long_name[TOKEN_CLAIM_MAX + 2];

    (void)state;
    memset(long_name, 'i', sizeof long_name);
    long_name[TOKEN_CLAIM_MAX + 1] = '\0';
    assert_int_equal(token_verifier_init(&v, "", "parley", 30), -1);
    assert_int_equal(token_verifier_init(&v, "parley", "", 30), -1);
    assert_int_equal(token_verifier_init(&v, NULL, "parley", 30), -1);
    assert_int_equal(token_verifier_init(&v, "parley", NULL, 30), -1);
    assert_int_equal(token_verifier_init(&v, long_name, "parley", 30), -1);
    assert_int_equal(token_verifier_init(&v, "parley", long_name, 30), -1);
    assert_int_equal(token_verifier_init(&v, "parley", "parley", -1), -1);
    long_name[TOKEN_CLAIM_MAX] = '\0';
    assert_int_equal(token_verifier_init(&v, long_name, long_name, 0), 0);
    assert_int_equal(v.n_keys, 0);
    token_verifier_clear(&v);
}

static void test_add_key_hs256_secret_of_31_bytes_refused(void **state)
{
    static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
    token_verifier v;
    const char *why = NULL;

    (void)state;
    assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
    assert_int_equal(
        token_verifier_add_key(&v, "", TOKEN_ALG_HS256, secret, 31, &why), -1);
    assert_non_null(why);
    assert_int_equal(
        token_verifier_add_key(&v, "", TOKEN_ALG_HS256, secret, 0, &why), -1);
    assert_int_equal(v.n_keys, 0);
    assert_int_equal(
        token_verifier_add_key(&v, "", TOKEN_ALG_HS256, secret, 32, &why), 0);
    assert_int_equal(v.n_keys, 1);
    token_verifier_clear(&v);
}

static void test_add_key_invalid_kid_refused(void **state)
{
    static const char *const bad[] = {
        "a/b", "../x", "..", "a..b", "a b", "rsa1\n", "k\xc3\xa9", "k:1",
        "01234567890123456789012345678901234567890123456789012345678901234",
    };
    static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
    token_verifier v;
    const char *why = NULL;

    (void)state;
    assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        if (token_verifier_add_key(&v, bad[i], TOKEN_ALG_HS256, secret, 32,
                                   &why) != -1)
            fail_msg("kid \"%s\" accepted", bad[i]);
        assert_non_null(why);
    }
    assert_int_equal(
        token_verifier_add_key(&v, NULL, TOKEN_ALG_HS256, secret, 32, &why), -1);
    assert_int_equal(v.n_keys, 0);
    /* The edges of what is allowed. */
    assert_int_equal(
        token_verifier_add_key(
            &v, "0123456789012345678901234567890123456789012345678901234567890123",
            TOKEN_ALG_HS256, secret, 32, &why),
        0);
    assert_int_equal(
        token_verifier_add_key(&v, "A.b_c-9", TOKEN_ALG_HS256, secret, 32, &why),
        0);
    token_verifier_clear(&v);
}

static void test_add_key_duplicate_kid_refused(void **state)
{
    static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
    token_verifier v;
    const char *why = NULL;

    (void)state;
    assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
    assert_int_equal(
        token_verifier_add_key(&v, "k1", TOKEN_ALG_HS256, secret, 32, &why), 0);
    assert_int_equal(
        token_verifier_add_key(&v, "k1", TOKEN_ALG_HS256, secret, 32, &why), -1);
    assert_non_null(why);
    assert_int_equal(
        token_verifier_add_key(&v, "", TOKEN_ALG_HS256, secret, 32, &why), 0);
    assert_int_equal(
        token_verifier_add_key(&v, "", TOKEN_ALG_HS256, secret, 32, &why), -1);
    assert_int_equal(v.n_keys, 2);
    token_verifier_clear(&v);
}

static void test_add_key_ring_limits(void **state)
{
    static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
    token_verifier v;
    const char *why = NULL;
    char kid[8];

    (void)state;
    assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
    assert_int_equal(
        token_verifier_add_key(&v, "r", TOKEN_ALG_RS256, secret, 0, &why), -1);
    for (int i = 0; i < TOKEN_MAX_KEYS; i++) {
        snprintf(kid, sizeof kid, "k%d", i);
        assert_int_equal(
            token_verifier_add_key(&v, kid, TOKEN_ALG_HS256, secret, 32, &why),
            0);
    }
    assert_int_equal(
        token_verifier_add_key(&v, "one-more", TOKEN_ALG_HS256, secret, 32,
                               &why),
        -1);
    assert_int_equal(v.n_keys, TOKEN_MAX_KEYS);
    token_verifier_clear(&v);
}

/* The key is copied: changing the caller's buffer afterwards changes nothing. */
static void test_add_key_copies_material(void **state)
{
    char secret[] = HS_SECRET;
    token_verifier v;
    const char *why = NULL;
    token_claims c;
    char *tok = craft_hs(HDR_HS, "{" STD "}");

    (void)state;
    assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
    assert_int_equal(token_verifier_add_key(&v, "", TOKEN_ALG_HS256,
                                            (const unsigned char *)secret,
                                            strlen(secret), &why),
                     0);
    memset(secret, 'z', strlen(secret));
    assert_int_equal(token_verify(&v, tok, strlen(tok), NOW, &c), TOKEN_OK);
    free(tok);
    token_verifier_clear(&v);
}

/* Writes data to a new temporary file; returns its path (free()). */
static char *temp_file(const char *data, size_t len)
{
    char *path = strdup("/tmp/parley-test-key-XXXXXX");
    int fd;

    assert_non_null(path);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_add_key_file_strips_trailing_newline_for_hs256(void **state)
{
    static const char *const endings[] = {"\n", "\r\n", " \n\n", "\t\n", ""};
    char *tok = craft_hs(HDR_HS, "{" STD "}");

    (void)state;
    for (size_t i = 0; i < sizeof endings / sizeof endings[0]; i++) {
        char *content = jfmt("%s%s", HS_SECRET, endings[i]);
        char *path = temp_file(content, strlen(content));
        token_verifier v;
        const char *why = NULL;
        token_claims c;

        assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
        assert_int_equal(token_verifier_add_key_file(&v, "", TOKEN_ALG_HS256,
                                                     path, &why),
                         0);
        assert_int_equal(v.keys[0].material_len, strlen(HS_SECRET));
        assert_int_equal(token_verify(&v, tok, strlen(tok), NOW, &c), TOKEN_OK);
        token_verifier_clear(&v);
        unlink(path);
        free(path);
        free(content);
    }
    free(tok);
}

/* Stripping comes before the length check: 31 bytes and a newline is short. */
static void test_add_key_file_short_secret_refused(void **state)
{
    char *path = temp_file("0123456789abcdef0123456789abcde\n", 32);
    token_verifier v;
    const char *why = NULL;

    (void)state;
    assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
    assert_int_equal(
        token_verifier_add_key_file(&v, "", TOKEN_ALG_HS256, path, &why), -1);
    assert_non_null(why);
    assert_int_equal(
        token_verifier_add_key_file(&v, "", TOKEN_ALG_HS256,
                                    "/nonexistent/parley/secret", &why),
        -1);
    assert_int_equal(v.n_keys, 0);
    token_verifier_clear(&v);
    unlink(path);
    free(path);
}

static void test_add_key_file_pem_for_rs256(void **state)
{
    const fixture *f = *state;
    char *path = temp_file(f->rsa_pub, strlen(f->rsa_pub));
    token_verifier v;
    const char *why = NULL;
    token_claims c;
    char *tok = sign_rs(f, std_jwt());

    assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
    assert_int_equal(
        token_verifier_add_key_file(&v, "rsa1", TOKEN_ALG_RS256, path, &why), 0);
    assert_int_equal(v.keys[0].material_len, strlen(f->rsa_pub));
    assert_int_equal(token_verify(&v, tok, strlen(tok), NOW, &c), TOKEN_OK);
    assert_string_equal(c.sub, SUB);
    free(tok);
    token_verifier_clear(&v);
    unlink(path);
    free(path);
}

static void test_verifier_clear_releases_keys(void **state)
{
    const fixture *f = *state;
    token_verifier v;
    const char *why = NULL;
    char *tok = craft_hs(HDR_HS, "{" STD "}");
    token_claims c;

    assert_int_equal(token_verifier_init(&v, "parley", "parley", 30), 0);
    assert_int_equal(token_verifier_add_key(&v, "", TOKEN_ALG_HS256,
                                            (const unsigned char *)HS_SECRET,
                                            strlen(HS_SECRET), &why),
                     0);
    assert_int_equal(token_verifier_add_key(&v, "rsa1", TOKEN_ALG_RS256,
                                            (const unsigned char *)f->rsa_pub,
                                            strlen(f->rsa_pub), &why),
                     0);
    assert_int_equal(token_verifier_add_key(&v, "ec1", TOKEN_ALG_ES256,
                                            (const unsigned char *)f->ec_pub,
                                            strlen(f->ec_pub), &why),
                     0);
    assert_int_equal(token_verify(&v, tok, strlen(tok), NOW, &c), TOKEN_OK);
    token_verifier_clear(&v);
    assert_int_equal(v.n_keys, 0);
    for (size_t i = 0; i < 3; i++)
        assert_null(v.keys[i].material);
    /* No keys: nothing verifies. */
    assert_int_equal(token_verify(&v, tok, strlen(tok), NOW, &c), TOKEN_ERR_KEY);
    /* Clearing twice, and NULL, are harmless. */
    token_verifier_clear(&v);
    token_verifier_clear(NULL);
    /* The ring can be filled again after a clear. */
    assert_int_equal(token_verifier_add_key(&v, "", TOKEN_ALG_HS256,
                                            (const unsigned char *)HS_SECRET,
                                            strlen(HS_SECRET), &why),
                     0);
    assert_int_equal(token_verify(&v, tok, strlen(tok), NOW, &c), TOKEN_OK);
    token_verifier_clear(&v);
    free(tok);
}

/* ------------------------------------------------------------------------
 * base64url_decode and the name tables
 * ------------------------------------------------------------------------ */

static void test_base64url_known_vectors(void **state)
{
    /* RFC 4648 section 10, unpadded, plus the two URL-safe characters. */
    static const struct {
        const char *enc;
        const char *dec;
        size_t dec_len;
    } v[] = {
        {"", "", 0},          {"Zg", "f", 1},         {"Zm8", "fo", 2},
        {"Zm9v", "foo", 3},   {"Zm9vYg", "foob", 4},  {"Zm9vYmE", "fooba", 5},
        {"Zm9vYmFy", "foobar", 6}, {"-_8", "\xfb\xff", 2},
        {"AA", "\0", 1},
    };

    (void)state;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = 999;
        unsigned char *out = base64url_decode(v[i].enc, strlen(v[i].enc), &n);
        assert_non_null(out);
        assert_int_equal(n, v[i].dec_len);
        assert_memory_equal(out, v[i].dec, n);
        assert_int_equal(out[n], '\0');
        free(out);
    }
}

static void test_base64url_round_trip(void **state)
{
    unsigned char data[300];

    (void)state;
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 151 + 7);
    for (size_t len = 0; len <= sizeof data; len++) {
        char *enc = b64url(data, len);
        size_t n = 0;
        unsigned char *dec = base64url_decode(enc, strlen(enc), &n);

        assert_non_null(dec);
        assert_int_equal(n, len);
        assert_memory_equal(dec, data, len);
        assert_int_equal(dec[n], '\0');
        free(dec);
        free(enc);
    }
}

static void test_base64url_refusals(void **state)
{
    static const char *const bad[] = {
        "Zg==", "Zm8=", "Zg=",  /* padding */
        "+/8", "Zm9v+A", "a/bc", /* standard alphabet */
        "Zm9v*", "Zm 9v", "Zm9v\n", ".AAA",
        "Z", "A", "Zm9vY", "Zm9vA", "AAAAA", /* impossible lengths */
        "Zh", "Zm9", "AB",       /* leftover bits not zero */
    };

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = 0;
        unsigned char *out = base64url_decode(bad[i], strlen(bad[i]), &n);
        if (out != NULL) {
            free(out);
            fail_msg("base64url_decode accepted \"%s\"", bad[i]);
        }
    }
    /* A NUL inside the given length. */
    {
        size_t n = 0;
        assert_null(base64url_decode("Zm\0v", 4, &n));
    }
    /* Only in_len bytes are read. */
    {
        size_t n = 0;
        unsigned char *out = base64url_decode("Zm9v*garbage", 4, &n);
        assert_non_null(out);
        assert_int_equal(n, 3);
        assert_memory_equal(out, "foo", 3);
        free(out);
    }
}

static void test_token_alg_parse(void **state)
{
    static const char *const bad[] = {"hs256", "none", "HS384", "RS512",
                                      "ES384", "",     "HS256 ", " HS256",
                                      "PS256", "EdDSA"};
    token_alg alg = TOKEN_ALG_ES256;

    (void)state;
    assert_int_equal(token_alg_parse("HS256", &alg), 0);
    assert_int_equal(alg, TOKEN_ALG_HS256);
    assert_int_equal(token_alg_parse("RS256", &alg), 0);
    assert_int_equal(alg, TOKEN_ALG_RS256);
    assert_int_equal(token_alg_parse("ES256", &alg), 0);
    assert_int_equal(alg, TOKEN_ALG_ES256);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        alg = TOKEN_ALG_RS256;
        if (token_alg_parse(bad[i], &alg) != -1)
            fail_msg("token_alg_parse accepted \"%s\"", bad[i]);
        assert_int_equal(alg, TOKEN_ALG_RS256);
    }
    assert_int_equal(token_alg_parse(NULL, &alg), -1);
    /* Names and parse agree. */
    for (int a = TOKEN_ALG_HS256; a <= TOKEN_ALG_ES256; a++) {
        token_alg back;
        assert_int_equal(token_alg_parse(token_alg_name((token_alg)a), &back), 0);
        assert_int_equal(back, a);
    }
}

static void test_role_names_and_status_strings(void **state)
{
    (void)state;
    assert_string_equal(token_role_name(TOKEN_ROLE_USER), "user");
    assert_string_equal(token_role_name(TOKEN_ROLE_ADMIN), "admin");
    assert_string_equal(token_role_name(TOKEN_ROLE_DEVICE), "device");
    for (int a = TOKEN_OK; a <= TOKEN_ERR_AUDIENCE; a++) {
        const char *sa = token_status_str((token_status)a);
        assert_non_null(sa);
        assert_true(sa[0] != '\0');
        for (int b = TOKEN_OK; b < a; b++)
            assert_string_not_equal(sa, token_status_str((token_status)b));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hs256_valid_accepted_with_claims),
        cmocka_unit_test(test_rs256_valid_accepted_with_claims),
        cmocka_unit_test(test_es256_valid_accepted_with_claims),
        cmocka_unit_test(test_crafted_hs256_valid_accepted),
        cmocka_unit_test(test_optional_claims_absent_defaults),
        cmocka_unit_test(test_alg_none_refused),
        cmocka_unit_test(test_alg_compared_exactly),
        cmocka_unit_test(test_alg_missing_or_not_string_refused),
        cmocka_unit_test(test_hs256_signed_with_rsa_public_key_refused),
        cmocka_unit_test(test_rs256_without_kid_refused),
        cmocka_unit_test(test_alg_not_the_kid_keys_refused),
        cmocka_unit_test(test_expired_refused),
        cmocka_unit_test(test_exp_within_leeway_accepted),
        cmocka_unit_test(test_exp_far_future_accepted),
        cmocka_unit_test(test_future_nbf_refused),
        cmocka_unit_test(test_future_iat_refused),
        cmocka_unit_test(test_exp_mistyped_or_missing_refused),
        cmocka_unit_test(test_iat_nbf_mistyped_refused),
        cmocka_unit_test(test_wrong_issuer_refused),
        cmocka_unit_test(test_missing_issuer_refused),
        cmocka_unit_test(test_aud_array_without_ours_refused),
        cmocka_unit_test(test_aud_array_with_ours_accepted),
        cmocka_unit_test(test_aud_array_with_non_string_refused),
        cmocka_unit_test(test_aud_missing_refused),
        cmocka_unit_test(test_sub_not_uuid_refused),
        cmocka_unit_test(test_sub_upper_case_uuid_refused),
        cmocka_unit_test(test_sub_with_topic_characters_refused),
        cmocka_unit_test(test_sub_with_nul_refused),
        cmocka_unit_test(test_nul_in_other_strings_refused),
        cmocka_unit_test(test_role_unknown_refused),
        cmocka_unit_test(test_role_absent_is_user),
        cmocka_unit_test(test_known_roles_accepted),
        cmocka_unit_test(test_jti_too_long_or_mistyped_refused),
        cmocka_unit_test(test_duplicate_claim_refused),
        cmocka_unit_test(test_duplicate_header_member_refused),
        cmocka_unit_test(test_token_over_8k_refused),
        cmocka_unit_test(test_bad_base64_refused),
        cmocka_unit_test(test_wrong_segment_count_refused),
        cmocka_unit_test(test_header_not_object_refused),
        cmocka_unit_test(test_payload_not_object_refused),
        cmocka_unit_test(test_raw_nul_in_decoded_json_refused),
        cmocka_unit_test(test_unknown_kid_refused),
        cmocka_unit_test(test_path_like_kid_refused),
        cmocka_unit_test(test_kid_not_string_refused),
        cmocka_unit_test(test_flipped_signature_char_refused),
        cmocka_unit_test(test_signature_of_other_content_refused),
        cmocka_unit_test(test_hs256_other_secret_refused),
        cmocka_unit_test(test_rs256_signed_by_unknown_key_refused),
        cmocka_unit_test(test_trailing_garbage_refused),
        cmocka_unit_test(test_embedded_nul_within_len_refused),
        cmocka_unit_test(test_only_len_bytes_read),
        cmocka_unit_test(test_jku_x5u_jwk_headers_ignored),
        cmocka_unit_test(test_verifier_init_refuses_bad_arguments),
        cmocka_unit_test(test_add_key_hs256_secret_of_31_bytes_refused),
        cmocka_unit_test(test_add_key_invalid_kid_refused),
        cmocka_unit_test(test_add_key_duplicate_kid_refused),
        cmocka_unit_test(test_add_key_ring_limits),
        cmocka_unit_test(test_add_key_copies_material),
        cmocka_unit_test(test_add_key_file_strips_trailing_newline_for_hs256),
        cmocka_unit_test(test_add_key_file_short_secret_refused),
        cmocka_unit_test(test_add_key_file_pem_for_rs256),
        cmocka_unit_test(test_verifier_clear_releases_keys),
        cmocka_unit_test(test_base64url_known_vectors),
        cmocka_unit_test(test_base64url_round_trip),
        cmocka_unit_test(test_base64url_refusals),
        cmocka_unit_test(test_token_alg_parse),
        cmocka_unit_test(test_role_names_and_status_strings),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
