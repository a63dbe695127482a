/*
 * validate.c - pure checks of client-supplied names (see validate.h).
 */
#include "validate.h"

#include <string.h>

#include "utf8.h"

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

bool text_label_valid(const char *s, size_t len, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    bool has_visible = false;

    if (s == NULL || len == 0 || !utf8_valid(s, len) ||
        utf8_length(s, len) > max_chars)
        return false;
    for (size_t i = 0; i < len; i++) {
        /* C0 controls and DEL are single bytes; C1 controls (U+0080 to
         * U+009F) are 0xC2 0x80..0x9F in valid UTF-8. */
        if (p[i] < 0x20 || p[i] == 0x7f ||
            (p[i] == 0xc2 && i + 1 < len && p[i + 1] < 0xa0))
            return false;
        if (p[i] != ' ')
            has_visible = true;
    }
    return has_visible;
}

bool message_body_valid(const char *s, size_t len)
{
    size_t chars;

    if (s == NULL || len == 0 || !utf8_valid(s, len))
        return false;
    chars = utf8_length(s, len);
    return chars >= 1 && chars <= MESSAGE_BODY_MAX;
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
