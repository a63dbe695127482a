/*
 * fuzz_token.c - libFuzzer target for common/token.c: token_verify against a
 * fixed verifier (an HS256 default key and an ES256 key with kid "ec1").
 *
 * The first input byte, mod 3, picks a mode:
 *   0  raw:     the rest is the token string itself (passed in a buffer of
 *               exactly its length, so any read past len is an ASan error).
 *   1  signed:  the rest is "<header JSON>\0<claims JSON>" (or only the
 *               claims, with the header {"alg":"HS256","typ":"JWT"}); the
 *               harness encodes both and signs them with the test secret,
 *               which lets the fuzzer reach the claim checks.  The same
 *               token signed with another secret must then be refused.
 *   2  parts:   the rest is "<header JSON>\0<claims JSON>\0<signature
 *               bytes>", each base64url-encoded by the harness: arbitrary
 *               headers and signatures of any length reach the key lookup,
 *               HMAC comparison and libjwt's ES256 check.
 *
 * Invariant: TOKEN_OK only for a token whose signature checks out
 * independently of the project (HMAC-SHA256 with the test secret for the
 * default key, ECDSA P-256 with the test public key for "ec1"), whose header
 * names the key's algorithm, and whose claims, parsed again here, satisfy
 * every rule token.h states and agree with what token_verify returned.
 */
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "common/token.h"
#include "common/uuid.h"
#include "fuzz_common.h"

#define TEST_ISSUER "https://parley.test"
#define TEST_AUDIENCE "parley"
#define TEST_LEEWAY 60
#define TEST_NOW ((time_t)1750000000) /* 2025-06-15 */

static const char test_secret[] = "parley-fuzz-hs256-secret-0123456789abcdef";
static const char wrong_secret[] = "parley-fuzz-hs256-secret-0123456789abcdeF";

/* Public half of the ES256 test key (the private scalar is
 * SHA-256("parley fuzz test key") mod n; see make_token_seeds.py). */
static const char test_ec_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8Y2A8rsebMNr2l/NkQjoSh1bIuml\n"
    "G3iDtllNdVcjtzg+k3PJcGzx2fcjzN6X5Mi4vpcHfDiW4zO5eztLT1Yvig==\n"
    "-----END PUBLIC KEY-----\n";

static token_verifier verifier;
static EVP_PKEY *ec_pub;

static void setup(void)
{
    static bool done;
    const char *why = NULL;
    BIO *bio;

    if (done)
        return;
    done = true;
    FUZZ_CHECK(token_verifier_init(&verifier, TEST_ISSUER, TEST_AUDIENCE,
                                   TEST_LEEWAY) == 0);
    FUZZ_CHECK(token_verifier_add_key(&verifier, "", TOKEN_ALG_HS256,
                                      (const unsigned char *)test_secret,
                                      strlen(test_secret), &why) == 0);
    FUZZ_CHECK(token_verifier_add_key(&verifier, "ec1", TOKEN_ALG_ES256,
                                      (const unsigned char *)test_ec_pem,
                                      strlen(test_ec_pem), &why) == 0);
    bio = BIO_new_mem_buf(test_ec_pem, -1);
    ec_pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    FUZZ_CHECK(ec_pub != NULL);
}

/* base64url(HMAC-SHA256(secret, msg)), malloc'd. */
static char *hs256_sig(const char *secret, const char *msg, size_t n)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    FUZZ_CHECK(HMAC(EVP_sha256(), secret, (int)strlen(secret),
                    (const unsigned char *)msg, n, mac, &mac_len) != NULL);
    return ref_b64url_encode(mac, mac_len);
}

/* True if sig (JWS form: r || s, 32 bytes each) is a valid ECDSA P-256
 * SHA-256 signature of msg under the test public key. */
static bool es256_sig_ok(const char *msg, size_t n, const unsigned char *sig,
                         size_t sig_len)
{
    ECDSA_SIG *es;
    BIGNUM *r, *s;
    unsigned char *der = NULL;
    int der_len;
    EVP_MD_CTX *md;
    bool ok;

    if (sig_len != 64)
        return false;
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, 32, NULL);
    s = BN_bin2bn(sig + 32, 32, NULL);
    FUZZ_CHECK(es != NULL && r != NULL && s != NULL);
    FUZZ_CHECK(ECDSA_SIG_set0(es, r, s) == 1);
    der_len = i2d_ECDSA_SIG(es, &der);
    FUZZ_CHECK(der_len > 0);
    md = EVP_MD_CTX_new();
    FUZZ_CHECK(md != NULL);
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, ec_pub) == 1 &&
         EVP_DigestVerify(md, der, (size_t)der_len, (const unsigned char *)msg,
                          n) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return ok;
}

/* Decodes one segment as a JSON object (duplicates refused), or NULL. */
static json_t *segment_json(const char *seg, size_t len)
{
    size_t n;
    unsigned char *raw = ref_b64url_decode(seg, len, &n);
    json_t *j;

    if (raw == NULL)
        return NULL;
    j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool audience_ok(json_t *aud)
{
    size_t i;
    json_t *item;
    bool found = false;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), TEST_AUDIENCE) == 0;
    if (!json_is_array(aud))
        return false;
    json_array_foreach(aud, i, item)
    {
        if (!json_is_string(item))
            return false;
        if (strcmp(json_string_value(item), TEST_AUDIENCE) == 0)
            found = true;
    }
    return found;
}

/* Integer claim: absent (0), integer (1, *v set), anything else (-1). */
static int int_claim(json_t *claims, const char *name, int64_t *v)
{
    json_t *j = json_object_get(claims, name);

    if (j == NULL)
        return 0;
    if (!json_is_integer(j))
        return -1;
    *v = (int64_t)json_integer_value(j);
    return 1;
}

/* Everything that must hold when token_verify said TOKEN_OK. */
static void check_accepted(const char *tok, size_t len, const token_claims *c)
{
    const char *dot1 = memchr(tok, '.', len), *dot2, *sig_seg;
    size_t sig_len;
    json_t *header, *claims, *j;
    const char *kid = "", *alg;
    int64_t v;
    int has;

    FUZZ_CHECK(dot1 != NULL);
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok));
    FUZZ_CHECK(dot2 != NULL);
    sig_seg = dot2 + 1;
    sig_len = len - (size_t)(sig_seg - tok);
    FUZZ_CHECK(memchr(sig_seg, '.', sig_len) == NULL);

    header = segment_json(tok, (size_t)(dot1 - tok));
    claims = segment_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    FUZZ_CHECK(header != NULL && claims != NULL);

    /* The key and its algorithm, and the signature under that key. */
    j = json_object_get(header, "kid");
    if (j != NULL) {
        FUZZ_CHECK(json_is_string(j));
        kid = json_string_value(j);
    }
    j = json_object_get(header, "alg");
    FUZZ_CHECK(json_is_string(j));
    alg = json_string_value(j);
    if (kid[0] == '\0') {
        char *expect = hs256_sig(test_secret, tok, (size_t)(dot2 - tok));
        FUZZ_CHECK(strcmp(alg, "HS256") == 0);
        FUZZ_CHECK(strlen(expect) == sig_len &&
                   memcmp(expect, sig_seg, sig_len) == 0);
        free(expect);
    } else {
        size_t n;
        unsigned char *sig = ref_b64url_decode(sig_seg, sig_len, &n);
        FUZZ_CHECK(strcmp(kid, "ec1") == 0);
        FUZZ_CHECK(strcmp(alg, "ES256") == 0);
        FUZZ_CHECK(sig != NULL);
        FUZZ_CHECK(es256_sig_ok(tok, (size_t)(dot2 - tok), sig, n));
        free(sig);
    }

    /* The claims, checked again and compared with *c. */
    j = json_object_get(claims, "iss");
    FUZZ_CHECK(json_is_string(j) &&
               strcmp(json_string_value(j), TEST_ISSUER) == 0);
    FUZZ_CHECK(audience_ok(json_object_get(claims, "aud")));
    j = json_object_get(claims, "sub");
    FUZZ_CHECK(json_is_string(j) && json_string_length(j) == UUID_STR_LEN &&
               ref_uuid_valid(json_string_value(j), json_string_length(j)));
    FUZZ_CHECK(strcmp(c->sub, json_string_value(j)) == 0);

    FUZZ_CHECK(int_claim(claims, "exp", &v) == 1 && v == c->exp);
    FUZZ_CHECK(c->exp >= (int64_t)TEST_NOW - TEST_LEEWAY);
    has = int_claim(claims, "iat", &v);
    FUZZ_CHECK(has >= 0);
    FUZZ_CHECK(has == 1 ? v == c->iat && v <= (int64_t)TEST_NOW + TEST_LEEWAY
                        : c->iat == 0);
    has = int_claim(claims, "nbf", &v);
    FUZZ_CHECK(has >= 0);
    if (has == 1)
        FUZZ_CHECK(v <= (int64_t)TEST_NOW + TEST_LEEWAY);

    j = json_object_get(claims, "role");
    if (j == NULL) {
        FUZZ_CHECK(c->role == TOKEN_ROLE_USER);
    } else {
        FUZZ_CHECK(json_is_string(j));
        FUZZ_CHECK(c->role == TOKEN_ROLE_USER || c->role == TOKEN_ROLE_ADMIN ||
                   c->role == TOKEN_ROLE_DEVICE);
        FUZZ_CHECK(strcmp(json_string_value(j), token_role_name(c->role)) ==
                   0);
    }
    j = json_object_get(claims, "jti");
    if (j == NULL) {
        FUZZ_CHECK(c->jti[0] == '\0');
    } else {
        FUZZ_CHECK(json_is_string(j) &&
                   json_string_length(j) <= TOKEN_CLAIM_MAX);
        FUZZ_CHECK(strcmp(c->jti, json_string_value(j)) == 0);
    }
    json_decref(header);
    json_decref(claims);
}

static void verify_and_check(const char *tok, size_t len)
{
    token_claims claims;
    token_status st;
    char *copy = malloc(len > 0 ? len : 1);

    /* An exact-size copy: token_verify must not read past len. */
    FUZZ_CHECK(copy != NULL);
    if (len > 0)
        memcpy(copy, tok, len);
    st = token_verify(&verifier, copy, len, TEST_NOW, &claims);
    FUZZ_CHECK(st >= TOKEN_OK && st <= TOKEN_ERR_AUDIENCE);
    FUZZ_CHECK(token_status_str(st) != NULL);
    FUZZ_TRACE("token_verify: %s\n", token_status_str(st));
    if (st == TOKEN_OK)
        check_accepted(copy, len, &claims);
    free(copy);
}

/* Builds base64url(header) "." base64url(claims) "." signature. */
static char *sign_token(const char *header, size_t hlen, const char *claims,
                        size_t clen, const char *secret)
{
    char *h = ref_b64url_encode((const unsigned char *)header, hlen);
    char *c = ref_b64url_encode((const unsigned char *)claims, clen);
    size_t n = strlen(h) + 1 + strlen(c);
    char *tok = malloc(n + 1 + 64);
    char *sig;

    FUZZ_CHECK(tok != NULL);
    snprintf(tok, n + 1, "%s.%s", h, c);
    sig = hs256_sig(secret, tok, n);
    FUZZ_CHECK(strlen(sig) == 43);
    tok[n] = '.';
    memcpy(tok + n + 1, sig, 44);
    free(sig);
    free(h);
    free(c);
    return tok;
}

/* Mode "parts": encodes header, claims and signature bytes as given. */
static void verify_parts(const char *rest, size_t len)
{
    const char *nul1 = memchr(rest, '\0', len), *nul2;
    char *h, *c, *sig, *tok;
    size_t n;

    if (nul1 == NULL)
        return;
    nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - rest));
    if (nul2 == NULL)
        return;
    h = ref_b64url_encode((const unsigned char *)rest, (size_t)(nul1 - rest));
    c = ref_b64url_encode((const unsigned char *)nul1 + 1,
                          (size_t)(nul2 - nul1 - 1));
    sig = ref_b64url_encode((const unsigned char *)nul2 + 1,
                            len - (size_t)(nul2 + 1 - rest));
    n = strlen(h) + strlen(c) + strlen(sig) + 2;
    tok = malloc(n + 1);
    FUZZ_CHECK(tok != NULL);
    snprintf(tok, n + 1, "%s.%s.%s", h, c, sig);
    verify_and_check(tok, n);
    free(tok);
    free(sig);
    free(c);
    free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char default_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    const char *rest;
    size_t rest_len;

    setup();
    if (size < 1 || size > TOKEN_MAX_BYTES + 16)
        return 0;
    rest = (const char *)data + 1;
    rest_len = size - 1;

    if (data[0] % 3 == 0) {
        verify_and_check(rest, rest_len);
        return 0;
    }
    if (data[0] % 3 == 2) {
        verify_parts(rest, rest_len);
        return 0;
    }

    /* Signed mode. */
    const char *header = default_header, *claims = rest;
    size_t hlen = strlen(default_header), clen = rest_len;
    const char *nul = memchr(rest, '\0', rest_len);
    if (nul != NULL) {
        header = rest;
        hlen = (size_t)(nul - rest);
        claims = nul + 1;
        clen = rest_len - hlen - 1;
    }
    char *good = sign_token(header, hlen, claims, clen, test_secret);
    char *bad = sign_token(header, hlen, claims, clen, wrong_secret);
    verify_and_check(good, strlen(good));
    {
        token_claims out;
        FUZZ_CHECK(token_verify(&verifier, bad, strlen(bad), TEST_NOW, &out) !=
                   TOKEN_OK);
    }
    free(good);
    free(bad);
    return 0;
}
