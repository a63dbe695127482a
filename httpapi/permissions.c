/*
 * permissions.c - membership-change and message edit/delete verdicts (see
 * permissions.h).
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

bool message_within_window(int64_t age_ms, long window_s)
{
    if (window_s <= 0)
        return false;
    if (age_ms < 0)
        return true;
    /* window_s is at most MESSAGE_WINDOW_MAX (config.h): no overflow. */
    return age_ms < (int64_t)window_s * 1000;
}

message_verdict message_may_edit(const message_facts *m, long edit_window_s)
{
    if (m->deleted || m->hidden)
        return MESSAGE_GONE;
    if (!m->is_author)
        return MESSAGE_NOT_AUTHOR;
    if (!m->is_text)
        return MESSAGE_NOT_TEXT;
    if (!message_within_window(m->age_ms, edit_window_s))
        return MESSAGE_WINDOW_PASSED;
    return MESSAGE_ALLOWED;
}

message_verdict message_may_delete(const message_facts *m, long delete_window_s)
{
    if (m->deleted)
        return MESSAGE_GONE;
    if (m->role == MEMBER_ROLE_OWNER || m->role == MEMBER_ROLE_ADMIN)
        return MESSAGE_ALLOWED;
    if (!m->is_author)
        return MESSAGE_NOT_AUTHOR;
    if (!message_within_window(m->age_ms, delete_window_s))
        return MESSAGE_WINDOW_PASSED;
    return MESSAGE_ALLOWED;
}
