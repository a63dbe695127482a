/*
 * fuzz_validate.c - libFuzzer target for httpapi/validate.c, the checks of
 * names and strings clients send: username_valid, device_valid,
 * password_valid, text_label_valid, message_body_valid, user_role_parse,
 * member_role_parse and member_role_name.
 *
 * Input: byte 0 picks the character limit for text_label_valid (the
 * display-name limit, the title limit, or 0-7); the rest is the string,
 * with its explicit length (it may hold NULs, which every check must
 * refuse rather than stop at).
 *
 * Invariants: every check agrees with the regular expression or rule in
 * validate.h, written out again here (UTF-8 through the harness's own
 * decoder); the role parsers accept exactly their three names, and
 * member_role_name gives back the name that was parsed.
 */
#include "fuzz_common.h"
#include "httpapi/validate.h"

static bool ref_username(const char *s, size_t n)
{
    return n >= 3 && n <= 32 && ref_all_in(s, n, "_.-");
}

static bool ref_device(const char *s, size_t n)
{
    return n >= 1 && n <= 64 && ref_all_in(s, n, "_-");
}

static bool ref_password(const char *s, size_t n)
{
    return n >= 8 && n <= 1024 && memchr(s, '\0', n) == NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;
    size_t n, max_chars;
    user_role ur;
    member_role mr;
    int rc;

    if (size < 1)
        return 0;
    max_chars = data[0] < 8     ? data[0]
                : data[0] < 128 ? 64  /* display names */
                                : 128; /* titles */
    n = size - 1;
    s = malloc(n > 0 ? n : 1); /* exact size: no read past n */
    FUZZ_CHECK(s != NULL);
    if (n > 0)
        memcpy(s, data + 1, n);

    FUZZ_CHECK(username_valid(s, n) == ref_username(s, n));
    FUZZ_CHECK(device_valid(s, n) == ref_device(s, n));
    FUZZ_CHECK(password_valid(s, n) == ref_password(s, n));
    FUZZ_CHECK(text_label_valid(s, n, max_chars) ==
               ref_text_label(s, n, max_chars));
    {
        size_t chars = 0;
        bool body_ok = n > 0 && ref_utf8_valid(s, n, &chars) && chars <= 4000;
        FUZZ_CHECK(message_body_valid(s, n) == body_ok);
    }
    FUZZ_CHECK(!username_valid(NULL, n) && !device_valid(NULL, n) &&
               !password_valid(NULL, n) && !text_label_valid(NULL, n, 64) &&
               !message_body_valid(NULL, n));
    free(s);

    s = fuzz_cstr(data + 1, size - 1);
    rc = user_role_parse(s, &ur);
    FUZZ_CHECK((rc == 0) == (strcmp(s, "user") == 0 ||
                             strcmp(s, "admin") == 0 ||
                             strcmp(s, "device") == 0));
    if (rc == 0)
        FUZZ_CHECK(ur == (strcmp(s, "user") == 0    ? USER_ROLE_USER
                          : strcmp(s, "admin") == 0 ? USER_ROLE_ADMIN
                                                    : USER_ROLE_DEVICE));
    rc = member_role_parse(s, &mr);
    FUZZ_CHECK((rc == 0) == (strcmp(s, "member") == 0 ||
                             strcmp(s, "admin") == 0 ||
                             strcmp(s, "owner") == 0));
    if (rc == 0)
        FUZZ_CHECK(strcmp(member_role_name(mr), s) == 0);
    FUZZ_CHECK(user_role_parse(NULL, &ur) == -1 &&
               member_role_parse(NULL, &mr) == -1);
    free(s);
    return 0;
}
