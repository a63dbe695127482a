/*
 * validate.c - pure checks of client-supplied names (see validate.h).
 */
#include "validate.h"

#include <string.h>

static bool is_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9');
}

bool username_valid(const char *s, size_t len)
{
    if (s == NULL || len < USERNAME_MIN || len > USERNAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

bool device_valid(const char *s, size_t len)
{
    if (s == NULL || len < 1 || len > DEVICE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_alnum(c) && c != '_' && c != '-')
            return false;
    }
    return true;
}

bool password_valid(const char *s, size_t len)
{
    return s != NULL && len >= PASSWORD_MIN && len <= PASSWORD_MAX &&
           memchr(s, '\0', len) == NULL;
}

/* Decodes one UTF-8 sequence at s[0..len).  Returns its length and stores
 * the code point, or returns 0 for an invalid, overlong or surrogate
 * encoding. */
static size_t utf8_next(const unsigned char *s, size_t len, unsigned *cp)
{
    unsigned c = s[0], v;
    size_t n;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
        (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

bool text_label_valid(const char *s, size_t len, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t chars = 0;
    bool has_visible = false;

    if (s == NULL || len == 0)
        return false;
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = utf8_next(p + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
            return false;
        if (cp != ' ')
            has_visible = true;
        i += n;
        if (++chars > max_chars)
            return false;
    }
    return has_visible;
}

int user_role_parse(const char *s, user_role *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "user") == 0)
        *out = USER_ROLE_USER;
    else if (strcmp(s, "admin") == 0)
        *out = USER_ROLE_ADMIN;
    else if (strcmp(s, "device") == 0)
        *out = USER_ROLE_DEVICE;
    else
        return -1;
    return 0;
}

int member_role_parse(const char *s, member_role *out)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "member") == 0)
        *out = MEMBER_ROLE_MEMBER;
    else if (strcmp(s, "admin") == 0)
        *out = MEMBER_ROLE_ADMIN;
    else if (strcmp(s, "owner") == 0)
        *out = MEMBER_ROLE_OWNER;
    else
        return -1;
    return 0;
}

const char *member_role_name(member_role r)
{
    switch (r) {
    case MEMBER_ROLE_OWNER:
        return "owner";
    case MEMBER_ROLE_ADMIN:
        return "admin";
    case MEMBER_ROLE_MEMBER:
        break;
    }
    return "member";
}
