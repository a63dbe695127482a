/*
 * permissions.h - who may change a conversation's membership.  Pure
 * decisions over member roles; the handlers load the roles, under a lock on
 * the conversation row, and act on the verdict.
 *
 *   add a member:     owner (as member or admin), admin (as member only)
 *   remove a member:  anyone may remove themselves (leave); owner anyone;
 *                     admin only plain members
 *   change a role:    owner only
 */
#ifndef PARLEY_API_PERMISSIONS_H
#define PARLEY_API_PERMISSIONS_H

#include <stdbool.h>

#include "validate.h"

bool member_may_add(member_role actor, member_role new_role);
bool member_may_remove(member_role actor, member_role target, bool self);
bool member_may_set_role(member_role actor);

#endif
