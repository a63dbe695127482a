/*
 * permissions.c - membership-change verdicts (see permissions.h).
 */
#include "permissions.h"

bool member_may_add(member_role actor, member_role new_role)
{
    switch (actor) {
    case MEMBER_ROLE_OWNER:
        return new_role != MEMBER_ROLE_OWNER;
    case MEMBER_ROLE_ADMIN:
        return new_role == MEMBER_ROLE_MEMBER;
    case MEMBER_ROLE_MEMBER:
        break;
    }
    return false;
}

bool member_may_remove(member_role actor, member_role target, bool self)
{
    if (self)
        return true;
    switch (actor) {
    case MEMBER_ROLE_OWNER:
        return true;
    case MEMBER_ROLE_ADMIN:
        return target == MEMBER_ROLE_MEMBER;
    case MEMBER_ROLE_MEMBER:
        break;
    }
    return false;
}

bool member_may_set_role(member_role actor)
{
    return actor == MEMBER_ROLE_OWNER;
}
