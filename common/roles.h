/*
 * roles.h - a member's role in a conversation, as the schema names it
 * (members.role), shared by the broker plugin and parley-api.
 */
#ifndef PARLEY_ROLES_H
#define PARLEY_ROLES_H

typedef enum member_role {
    MEMBER_ROLE_MEMBER = 0,
    MEMBER_ROLE_ADMIN = 1,
    MEMBER_ROLE_OWNER = 2,
} member_role;

/* Parses "member", "admin" or "owner".  Returns 0, or -1 (out untouched). */
int member_role_parse(const char *s, member_role *out);

/* The schema's name of a member role. */
const char *member_role_name(member_role r);

#endif
