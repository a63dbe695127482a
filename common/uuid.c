/*
 * uuid.c - canonical UUID strings (see uuid.h).
 */
#include "uuid.h"

#include <openssl/rand.h>
#include <string.h>

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool is_dash_position(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

bool uuid_valid_n(const char *s, size_t n)
{
    if (s == NULL || n != UUID_STR_LEN)
        return false;
    for (size_t i = 0; i < UUID_STR_LEN; i++) {
        if (is_dash_position(i)) {
            if (s[i] != '-')
                return false;
        } else if (hex_value(s[i]) < 0) {
            return false;
        }
    }
    return true;
}

bool uuid_valid(const char *s)
{
    return s != NULL && strnlen(s, UUID_STR_LEN + 1) == UUID_STR_LEN &&
           uuid_valid_n(s, UUID_STR_LEN);
}

int uuid_parse_n(const char *s, size_t n, uuid_bin *out)
{
    size_t j = 0;

    if (!uuid_valid_n(s, n))
        return -1;
    for (size_t i = 0; i < UUID_STR_LEN; i++) {
        if (is_dash_position(i))
            continue;
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        out->b[j++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return 0;
}

void uuid_format(const uuid_bin *u, char out[UUID_STR_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = digits[u->b[i] >> 4];
        out[o++] = digits[u->b[i] & 0xf];
    }
    out[o] = '\0';
}

int uuid_generate(char out[UUID_STR_LEN + 1])
{
    uuid_bin u;

    if (RAND_bytes(u.b, sizeof u.b) != 1)
        return -1;
    u.b[6] = (uint8_t)((u.b[6] & 0x0f) | 0x40); /* version 4 */
    u.b[8] = (uint8_t)((u.b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    uuid_format(&u, out);
    return 0;
}
