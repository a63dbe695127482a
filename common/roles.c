/*
 * roles.c - parsing and naming of conversation member roles (roles.h).
 */
#include "roles.h"

#include <stddef.h>
#include <string.h>

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
