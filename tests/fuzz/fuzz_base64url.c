/*
 * fuzz_base64url.c - libFuzzer target for base64url_decode (common/token.c)
 * and the API's base64url_encode (httpapi/encoding.c).
 *
 * The input is used twice:
 *   - as text to decode: the decoder must accept exactly the canonical
 *     unpadded base64url strings (alphabet only, length not 1 mod 4, unused
 *     low bits zero), agree byte for byte with the harness's own decoder,
 *     NUL-terminate its output, and re-encode (with both the harness's and
 *     the API's encoder) to the very same text;
 *   - as bytes to encode: both encoders must agree, and decoding the result
 *     must give the input back.
 */
#include "common/token.h"
#include "fuzz_common.h"
#include "httpapi/encoding.h"

/* Encodes with the API's encoder into an exact-size heap buffer. */
static char *api_encode(const unsigned char *in, size_t n)
{
    char *out = malloc(BASE64URL_LEN(n) + 1);
    size_t len;

    FUZZ_CHECK(out != NULL);
    len = base64url_encode(in, n, out);
    FUZZ_CHECK(len == BASE64URL_LEN(n));
    FUZZ_CHECK(out[len] == '\0');
    return out;
}

static void check_decode(const char *text, size_t len)
{
    size_t n = 0, ref_n = 0;
    unsigned char *out = base64url_decode(text, len, &n);
    unsigned char *ref = ref_b64url_decode(text, len, &ref_n);
    /* Canonical: the lenient reference decodes it and re-encodes to it. */
    bool canonical = false;

    if (ref != NULL) {
        char *again = ref_b64url_encode(ref, ref_n);
        canonical = strlen(again) == len && memcmp(again, text, len) == 0;
        free(again);
    }
    FUZZ_CHECK((out != NULL) == canonical);
    if (out != NULL) {
        char *a = ref_b64url_encode(out, n), *b = api_encode(out, n);
        FUZZ_CHECK(n == ref_n && memcmp(out, ref, n) == 0);
        FUZZ_CHECK(n == len * 3 / 4);
        FUZZ_CHECK(out[n] == '\0');
        FUZZ_CHECK(strlen(a) == len && memcmp(a, text, len) == 0);
        FUZZ_CHECK(strcmp(a, b) == 0);
        free(a);
        free(b);
    }
    free(out);
    free(ref);
}

static void check_encode(const unsigned char *bytes, size_t size)
{
    char *a = ref_b64url_encode(bytes, size), *b = api_encode(bytes, size);
    size_t n = 0;
    unsigned char *back;

    FUZZ_CHECK(strcmp(a, b) == 0);
    back = base64url_decode(b, strlen(b), &n);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(n == size && (size == 0 || memcmp(back, bytes, size) == 0));
    free(back);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so a read past len is an ASan error. */
    char *text = malloc(size > 0 ? size : 1);

    FUZZ_CHECK(text != NULL);
    if (size > 0)
        memcpy(text, data, size);
    check_decode(text, size);
    check_encode(data, size);
    free(text);
    return 0;
}
