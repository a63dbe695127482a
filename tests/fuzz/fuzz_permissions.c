/*
 * fuzz_permissions.c - libFuzzer target for httpapi/permissions.c: who may
 * change a conversation's membership (member_may_add, member_may_remove,
 * member_may_set_role) and who may edit or delete a message
 * (message_within_window, message_may_edit, message_may_delete).
 *
 * Input: byte 0 holds the message facts (bits 0-3: author, text, deleted,
 * hidden) and, in bits 4-5, the actor's role; bytes 1-2 the target role
 * and "self"; then 8 bytes of age in ms (any int64) and 8 bytes of window
 * in seconds (mapped into -2..MESSAGE_WINDOW_MAX, the range config_parse
 * allows plus nonsense below it).
 *
 * Invariant: every verdict equals the rule stated in permissions.h,
 * written out again here, including the order in which the reasons for a
 * refusal are checked.
 */
#include "fuzz_common.h"
#include "httpapi/config.h"
#include "httpapi/permissions.h"

static member_role role_of(unsigned v)
{
    static const member_role roles[] = {MEMBER_ROLE_MEMBER, MEMBER_ROLE_ADMIN,
                                        MEMBER_ROLE_OWNER, MEMBER_ROLE_MEMBER};
    return roles[v & 3];
}

static bool ref_within(int64_t age_ms, long window_s)
{
    if (window_s <= 0)
        return false;
    /* age < window, in whole milliseconds; window_s * 1000 fits easily. */
    return age_ms < 0 || age_ms < (int64_t)window_s * 1000;
}

static message_verdict ref_edit(const message_facts *m, long w)
{
    if (m->deleted || m->hidden)
        return MESSAGE_GONE;
    if (!m->is_author)
        return MESSAGE_NOT_AUTHOR;
    if (!m->is_text)
        return MESSAGE_NOT_TEXT;
    return ref_within(m->age_ms, w) ? MESSAGE_ALLOWED : MESSAGE_WINDOW_PASSED;
}

static message_verdict ref_delete(const message_facts *m, long w)
{
    if (m->deleted)
        return MESSAGE_GONE;
    if (m->role == MEMBER_ROLE_OWNER || m->role == MEMBER_ROLE_ADMIN)
        return MESSAGE_ALLOWED;
    if (!m->is_author)
        return MESSAGE_NOT_AUTHOR;
    return ref_within(m->age_ms, w) ? MESSAGE_ALLOWED : MESSAGE_WINDOW_PASSED;
}

static uint64_t read_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    message_facts m;
    member_role actor, target;
    bool self;
    long window;

    if (size < 19)
        return 0;
    memset(&m, 0, sizeof m);
    m.is_author = data[0] & 1;
    m.is_text = (data[0] >> 1) & 1;
    m.deleted = (data[0] >> 2) & 1;
    m.hidden = (data[0] >> 3) & 1;
    m.role = actor = role_of(data[0] >> 4);
    target = role_of(data[1]);
    self = data[2] & 1;
    m.age_ms = (int64_t)read_u64(data + 3);
    window = (long)(read_u64(data + 11) % (MESSAGE_WINDOW_MAX + 3)) - 2;

    FUZZ_CHECK(member_may_add(actor, target) ==
               (actor == MEMBER_ROLE_OWNER ? target != MEMBER_ROLE_OWNER
                : actor == MEMBER_ROLE_ADMIN ? target == MEMBER_ROLE_MEMBER
                                             : false));
    FUZZ_CHECK(member_may_remove(actor, target, self) ==
               (self || actor == MEMBER_ROLE_OWNER ||
                (actor == MEMBER_ROLE_ADMIN && target == MEMBER_ROLE_MEMBER)));
    FUZZ_CHECK(member_may_set_role(actor) == (actor == MEMBER_ROLE_OWNER));
    FUZZ_CHECK(message_within_window(m.age_ms, window) ==
               ref_within(m.age_ms, window));
    FUZZ_CHECK(message_may_edit(&m, window) == ref_edit(&m, window));
    FUZZ_CHECK(message_may_delete(&m, window) == ref_delete(&m, window));
    return 0;
}
