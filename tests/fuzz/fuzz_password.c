/*
 * fuzz_password.c - libFuzzer target for the stored-hash format of
 * httpapi/password.c: password_parse and password_format (never scrypt
 * itself, whose cost the stored string chooses).
 *
 * Byte 0 picks the direction:
 *   even  parse:  the rest, as a C string, is a stored hash.  password_parse
 *                 is strict, so whatever it accepts has parameters and
 *                 field sizes within password.h's limits and formats back
 *                 to exactly the same string (into PASSWORD_HASH_STR_MAX).
 *   odd   format: the rest is ln, r, p, the salt and key lengths and their
 *                 bytes; password_format must succeed exactly when they are
 *                 within the limits, fit PASSWORD_HASH_STR_MAX, and parse
 *                 back to the same parameters; a buffer one byte short
 *                 must be refused, never overrun.
 */
#include "fuzz_common.h"
#include "httpapi/password.h"

static bool params_ok(const password_params *p)
{
    return p->ln >= 1 && p->ln <= PASSWORD_LN_MAX && p->r >= 1 &&
           p->r <= PASSWORD_R_MAX && p->p >= 1 && p->p <= PASSWORD_P_MAX;
}

static void check_parse(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char out[PASSWORD_HASH_STR_MAX];
    password_params p;
    int rc = password_parse(s, &p);

    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(params_ok(&p));
        FUZZ_CHECK(p.salt_len >= 8 && p.salt_len <= PASSWORD_BYTES_MAX);
        FUZZ_CHECK(p.key_len >= 16 && p.key_len <= PASSWORD_BYTES_MAX);
        FUZZ_CHECK(strncmp(s, "$scrypt$ln=", 11) == 0);
        FUZZ_CHECK(password_format(&p, out, sizeof out) == 0);
        FUZZ_CHECK(strcmp(out, s) == 0);
    }
    FUZZ_CHECK(password_parse(NULL, &p) == -1);
    free(s);
}

static void check_format(const uint8_t *data, size_t size)
{
    password_params p, back;
    char *out;
    size_t need;
    bool valid;
    int rc;

    if (size < 5)
        return;
    memset(&p, 0, sizeof p);
    p.ln = data[0] % 24;
    p.r = data[1] % 40;
    p.p = data[2] % 20;
    p.salt_len = data[3] % (PASSWORD_BYTES_MAX + 2);
    p.key_len = data[4] % (PASSWORD_BYTES_MAX + 2);
    data += 5;
    size -= 5;
    valid = params_ok(&p) && p.salt_len >= 1 && p.key_len >= 1 &&
            p.salt_len <= PASSWORD_BYTES_MAX && p.key_len <= PASSWORD_BYTES_MAX;
    if (p.salt_len > PASSWORD_BYTES_MAX)
        p.salt_len = 0; /* keep lengths within the arrays for memcpy */
    if (p.key_len > PASSWORD_BYTES_MAX)
        p.key_len = 0;
    for (size_t i = 0; i < PASSWORD_BYTES_MAX; i++) {
        p.salt[i] = i < size ? data[i] : (uint8_t)i;
        p.key[i] = i + 64 < size ? data[i + 64] : (uint8_t)(i * 7);
    }

    out = malloc(PASSWORD_HASH_STR_MAX);
    FUZZ_CHECK(out != NULL);
    rc = password_format(&p, out, PASSWORD_HASH_STR_MAX);
    FUZZ_CHECK((rc == 0) == valid);
    if (rc == 0) {
        need = strlen(out) + 1;
        FUZZ_CHECK(need <= PASSWORD_HASH_STR_MAX);
        if (p.salt_len >= 8 && p.key_len >= 16) {
            FUZZ_CHECK(password_parse(out, &back) == 0);
            FUZZ_CHECK(back.ln == p.ln && back.r == p.r && back.p == p.p);
            FUZZ_CHECK(back.salt_len == p.salt_len &&
                       memcmp(back.salt, p.salt, p.salt_len) == 0);
            FUZZ_CHECK(back.key_len == p.key_len &&
                       memcmp(back.key, p.key, p.key_len) == 0);
        } else {
            FUZZ_CHECK(password_parse(out, &back) == -1);
        }
        /* One byte short: refused, and nothing written past the end. */
        free(out);
        out = malloc(need - 1);
        FUZZ_CHECK(out != NULL);
        FUZZ_CHECK(password_format(&p, out, need - 1) == -1);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if ((data[0] & 1) == 0)
        check_parse(data + 1, size - 1);
    else
        check_format(data + 1, size - 1);
    return 0;
}
