/*
 * permissions.h - who may change a conversation's membership, and who may
 * edit or delete a message.  Pure decisions over plain facts; the handlers
 * load those facts, under a lock on the row concerned, and act on the
 * verdict.
 *
 *   add a member:     owner (as member or admin), admin (as member only)
 *   remove a member:  anyone may remove themselves (leave); owner anyone;
 *                     admin only plain members
 *   change a role:    owner only
 *   edit a message:   its author, a text message, within the edit window,
 *                     not deleted or hidden
 *   delete a message: its author within the delete window; a conversation
 *                     owner or admin at any time
 */
#ifndef PARLEY_API_PERMISSIONS_H
#define PARLEY_API_PERMISSIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "validate.h"

bool member_may_add(member_role actor, member_role new_role);
bool member_may_remove(member_role actor, member_role target, bool self);
bool member_may_set_role(member_role actor);

/* What is known about a message and the member acting on it. */
typedef struct message_facts {
    bool is_author;   /* the actor sent it */
    bool is_text;     /* type "text" */
    bool deleted;     /* deleted_at is set */
    bool hidden;      /* hidden_at is set (a moderator hid it) */
    member_role role; /* the actor's role in the message's conversation */
    int64_t age_ms;   /* now - ts, both from the database's clock; negative
                         when the broker's clock ran ahead */
} message_facts;

typedef enum message_verdict {
    MESSAGE_ALLOWED,
    MESSAGE_GONE,          /* deleted (or, for edits, hidden) */
    MESSAGE_NOT_AUTHOR,    /* someone else's, and no role that helps */
    MESSAGE_NOT_TEXT,      /* only text messages are edited */
    MESSAGE_WINDOW_PASSED, /* the author's window has closed */
} message_verdict;

/* True while a message of age age_ms is inside a window of window_s
 * seconds: age < window.  A window of 0 is always closed; a negative age
 * (clock skew) counts as new. */
bool message_within_window(int64_t age_ms, long window_s);

/* Edits: the author only, of a text message that is neither deleted nor
 * hidden, within edit_window_s seconds of its ts.  Checked in that order:
 * GONE, NOT_AUTHOR, NOT_TEXT, WINDOW_PASSED. */
message_verdict message_may_edit(const message_facts *m, long edit_window_s);

/* Deletes: GONE when already deleted (a hidden message may still be
 * deleted); the author within delete_window_s seconds of its ts; an owner
 * or admin of the conversation at any time.  An author past the window
 * (and without such a role) gets WINDOW_PASSED, anyone else NOT_AUTHOR. */
message_verdict message_may_delete(const message_facts *m,
                                   long delete_window_s);

#endif
