/*
 * test_topic_acl.c - unit tests for plugin/topic_acl.c, the topic table of
 * DESIGN.md ("Topics (v1)"): topic_parse knows exactly the six topic kinds
 * plus $SYS and refuses every malformed name; acl_may_publish,
 * acl_may_read and acl_may_subscribe give each kind of subject (member,
 * non-member, the user named by a user/ topic, server admin) the verdict the
 * table gives, and follow membership changes in the cache.
 *
 * Cast: ALICE is a member of CONV and BOB of OTHER_CONV; ROOT is a server
 * admin who is a member of nothing unless a test adds her; CAROL is a
 * server admin and a member of CONV.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "plugin/topic_acl.h"

#define CONV "11111111-1111-4111-8111-111111111111"
#define OTHER_CONV "22222222-2222-4222-8222-222222222222"
#define ALICE "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define BOB "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
#define CAROL "cccccccc-cccc-4ccc-8ccc-cccccccccccc"
#define ROOT "dddddddd-dddd-4ddd-8ddd-dddddddddddd"

#define CONV_UPPER "ABCDEF01-1111-4111-8111-111111111111"

/* The four conversation topics, for loops. */
static const char *const conv_leaves[] = {"m", "typing", "receipt", "event"};

typedef struct fixture {
    membership_cache *members;
    acl_subject alice, bob, carol, root;
} fixture;

static uuid_bin uuid(const char *s)
{
    uuid_bin u;

    assert_int_equal(uuid_parse_n(s, UUID_STR_LEN, &u), 0);
    return u;
}

static acl_subject subject(const char *user, bool is_admin)
{
    acl_subject who = {.user = uuid(user), .is_admin = is_admin};

    return who;
}

static void add_member(membership_cache *c, const char *conv, const char *user)
{
    uuid_bin cv = uuid(conv), u = uuid(user);

    assert_int_equal(membership_cache_set(c, &cv, &u, MEMBER_ROLE_MEMBER), 0);
}

static void remove_member(membership_cache *c, const char *conv,
                          const char *user)
{
    uuid_bin cv = uuid(conv), u = uuid(user);

    membership_cache_remove(c, &cv, &u);
}

/* "conv/<conv>/<leaf>" into buf. */
static const char *conv_topic(char *buf, size_t size, const char *conv,
                              const char *leaf)
{
    snprintf(buf, size, "conv/%s/%s", conv, leaf);
    return buf;
}

static int setup(void **state)
{
    fixture *f = test_calloc(1, sizeof *f);

    f->members = membership_cache_new();
    assert_non_null(f->members);
    add_member(f->members, CONV, ALICE);
    add_member(f->members, CONV, CAROL);
    add_member(f->members, OTHER_CONV, BOB);
    f->alice = subject(ALICE, false);
    f->bob = subject(BOB, false);
    f->carol = subject(CAROL, true);
    f->root = subject(ROOT, true);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    membership_cache_free(f->members);
    test_free(f);
    return 0;
}

/* Asserts topic parses as kind naming id (or, for $SYS, no id). */
static void assert_parses(const char *topic, topic_kind kind, const char *id)
{
    topic_ref ref;
    uuid_bin want;

    memset(&want, 0, sizeof want);
    if (id != NULL)
        want = uuid(id);
    memset(&ref, 0xee, sizeof ref);
    assert_int_equal(topic_parse(topic, &ref), kind);
    assert_int_equal(ref.kind, kind);
    assert_memory_equal(&ref.id, &want, sizeof want);
}

static void assert_unknown(const char *topic)
{
    topic_ref ref;
    topic_ref zero;

    memset(&zero, 0, sizeof zero);
    memset(&ref, 0xee, sizeof ref);
    if (topic_parse(topic, &ref) != TOPIC_UNKNOWN)
        fail_msg("topic \"%s\" should be unknown", topic);
    assert_memory_equal(&ref, &zero, sizeof ref);
}

/* ---- topic_parse: known kinds ---------------------------------------- */

static void test_parse_conv_messages(void **state)
{
    (void)state;
    assert_parses("conv/" CONV "/m", TOPIC_CONV_MESSAGES, CONV);
}

static void test_parse_conv_typing(void **state)
{
    (void)state;
    assert_parses("conv/" CONV "/typing", TOPIC_CONV_TYPING, CONV);
}

static void test_parse_conv_receipt(void **state)
{
    (void)state;
    assert_parses("conv/" CONV "/receipt", TOPIC_CONV_RECEIPT, CONV);
}

static void test_parse_conv_event(void **state)
{
    (void)state;
    assert_parses("conv/" CONV "/event", TOPIC_CONV_EVENT, CONV);
}

static void test_parse_user_inbox(void **state)
{
    (void)state;
    assert_parses("user/" ALICE "/inbox", TOPIC_USER_INBOX, ALICE);
}

static void test_parse_user_presence(void **state)
{
    (void)state;
    assert_parses("user/" ALICE "/presence", TOPIC_USER_PRESENCE, ALICE);
}

static void test_parse_sys(void **state)
{
    (void)state;
    assert_parses("$SYS/broker/uptime", TOPIC_SYS, NULL);
    assert_parses("$SYS/broker/clients/connected", TOPIC_SYS, NULL);
    assert_parses("$SYS", TOPIC_SYS, NULL);
}

/* ---- topic_parse: refusals ------------------------------------------- */

static void test_parse_refuses_upper_case_uuid(void **state)
{
    (void)state;
    assert_unknown("conv/" CONV_UPPER "/m");
    assert_unknown("conv/11111111-1111-4111-8111-11111111111A/m");
    assert_unknown("user/AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA/inbox");
}

static void test_parse_refuses_short_uuid(void **state)
{
    (void)state;
    assert_unknown("conv/11111111-1111-4111-8111-11111111111/m");
    assert_unknown("user/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa/inbox");
    assert_unknown("conv/1/m");
}

static void test_parse_refuses_long_uuid(void **state)
{
    (void)state;
    assert_unknown("conv/" CONV "1/m");
    assert_unknown("user/" ALICE "a/inbox");
}

static void test_parse_refuses_malformed_uuid(void **state)
{
    (void)state;
    /* Right length, no dashes or dashes moved, non-hex digit. */
    assert_unknown("conv/111111111111411181111111111111111111/m");
    assert_unknown("conv/1111111-11111-4111-8111-111111111111/m");
    assert_unknown("conv/g1111111-1111-4111-8111-111111111111/m");
}

static void test_parse_refuses_missing_separator_after_uuid(void **state)
{
    (void)state;
    /* The uuid must be followed by '/', not just by any character. */
    assert_unknown("conv/" CONV "xm");
    assert_unknown("conv/" CONV "_typing");
    assert_unknown("user/" ALICE "-inbox");
    assert_unknown("user/" ALICE "\\presence");
}

static void test_parse_refuses_missing_level(void **state)
{
    (void)state;
    assert_unknown("conv/" CONV);
    assert_unknown("user/" ALICE);
    assert_unknown("conv/m");
    assert_unknown("conv");
    assert_unknown("conv/");
    assert_unknown("user/inbox");
}

static void test_parse_refuses_extra_level(void **state)
{
    (void)state;
    assert_unknown("conv/" CONV "/m/x");
    assert_unknown("conv/" CONV "/event/x");
    assert_unknown("user/" ALICE "/inbox/x");
    assert_unknown("conv/" CONV "/x/m");
    assert_unknown("x/conv/" CONV "/m");
}

static void test_parse_refuses_trailing_slash(void **state)
{
    (void)state;
    assert_unknown("conv/" CONV "/m/");
    assert_unknown("conv/" CONV "/");
    assert_unknown("user/" ALICE "/presence/");
}

static void test_parse_refuses_leading_slash(void **state)
{
    (void)state;
    assert_unknown("/conv/" CONV "/m");
    assert_unknown("/user/" ALICE "/inbox");
    assert_unknown("/$SYS/broker/uptime");
}

static void test_parse_refuses_wildcards(void **state)
{
    (void)state;
    assert_unknown("conv/" CONV "/+");
    assert_unknown("conv/" CONV "/#");
    assert_unknown("conv/+/m");
    assert_unknown("user/+/inbox");
    assert_unknown("user/" ALICE "/#");
    assert_unknown("#");
    assert_unknown("+");
    assert_unknown("$SYS/#");
    assert_unknown("$SYS/+/uptime");
    assert_unknown("$SYS/broker/+");
}

static void test_parse_refuses_empty(void **state)
{
    topic_ref ref;

    (void)state;
    assert_unknown("");
    assert_int_equal(topic_parse(NULL, &ref), TOPIC_UNKNOWN);
}

static void test_parse_refuses_empty_levels(void **state)
{
    (void)state;
    assert_unknown("conv//m");
    assert_unknown("conv/" CONV "//m");
    assert_unknown("user//inbox");
    assert_unknown("conv///");
}

static void test_parse_refuses_nul_truncated_topics(void **state)
{
    /* What the parser sees ends at the first NUL, so a topic cut inside its
     * uuid or before its leaf is incomplete and must not match. */
    char cut_in_uuid[] = "conv/" CONV "/m";
    char cut_before_leaf[] = "conv/" CONV "/m";
    char cut_in_leaf[] = "conv/" CONV "/typing";
    char cut_in_prefix[] = "conv/" CONV "/m";

    (void)state;
    cut_in_uuid[5 + 20] = '\0';
    assert_unknown(cut_in_uuid);
    cut_before_leaf[5 + UUID_STR_LEN + 1] = '\0'; /* "conv/<c>/" */
    assert_unknown(cut_before_leaf);
    cut_in_leaf[5 + UUID_STR_LEN + 1 + 3] = '\0'; /* "conv/<c>/typ" */
    assert_unknown(cut_in_leaf);
    cut_in_prefix[4] = '\0'; /* "conv" */
    assert_unknown(cut_in_prefix);
}

static void test_parse_refuses_unknown_leaf(void **state)
{
    (void)state;
    assert_unknown("conv/" CONV "/messages");
    assert_unknown("conv/" CONV "/M");
    assert_unknown("conv/" CONV "/mm");
    assert_unknown("conv/" CONV "/typin");
    assert_unknown("conv/" CONV "/inbox");    /* a user leaf under conv */
    assert_unknown("user/" ALICE "/m");       /* a conv leaf under user */
    assert_unknown("user/" ALICE "/receipt"); /* a conv leaf under user */
}

static void test_parse_refuses_unknown_prefix(void **state)
{
    (void)state;
    assert_unknown("chat/" CONV "/m");
    assert_unknown("Conv/" CONV "/m");
    assert_unknown("convs/" CONV "/m");
    assert_unknown("users/" ALICE "/inbox");
    assert_unknown("$sys/broker/uptime");
    assert_unknown("$SYSX/broker");
    assert_unknown("$share/g/conv/" CONV "/m");
}

/* ---- acl_may_publish -------------------------------------------------- */

static void test_publish_member_may_publish_m_typing_receipt(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        acl_may_publish(&f->alice, "conv/" CONV "/m", false, f->members),
        ACL_ALLOW);
    assert_int_equal(
        acl_may_publish(&f->alice, "conv/" CONV "/typing", false, f->members),
        ACL_ALLOW);
    assert_int_equal(
        acl_may_publish(&f->alice, "conv/" CONV "/receipt", false, f->members),
        ACL_ALLOW);
}

static void test_publish_non_member_may_not(void **state)
{
    fixture *f = *state;
    char topic[128];

    /* Bob is a member of another conversation only. */
    for (size_t i = 0; i < 3; i++) {
        conv_topic(topic, sizeof topic, CONV, conv_leaves[i]);
        assert_int_equal(acl_may_publish(&f->bob, topic, false, f->members),
                         ACL_DENY);
    }
    /* A server admin is not a member by virtue of being an admin. */
    assert_int_equal(
        acl_may_publish(&f->root, "conv/" CONV "/m", false, f->members),
        ACL_DENY);
    /* Nobody is a member when there is no cache. */
    assert_int_equal(acl_may_publish(&f->alice, "conv/" CONV "/m", false, NULL),
                     ACL_DENY);
}

static void test_publish_nobody_to_conv_event(void **state)
{
    fixture *f = *state;

    /* Members, even one who is a server admin, read events but never
     * publish them. */
    assert_int_equal(
        acl_may_publish(&f->alice, "conv/" CONV "/event", false, f->members),
        ACL_DENY);
    assert_int_equal(
        acl_may_publish(&f->carol, "conv/" CONV "/event", false, f->members),
        ACL_DENY);
    assert_int_equal(
        acl_may_publish(&f->root, "conv/" CONV "/event", false, f->members),
        ACL_DENY);
}

static void test_publish_nobody_to_inbox_own_or_foreign(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        acl_may_publish(&f->alice, "user/" ALICE "/inbox", false, f->members),
        ACL_DENY);
    assert_int_equal(
        acl_may_publish(&f->alice, "user/" BOB "/inbox", false, f->members),
        ACL_DENY);
    assert_int_equal(
        acl_may_publish(&f->root, "user/" ROOT "/inbox", false, f->members),
        ACL_DENY);
    assert_int_equal(
        acl_may_publish(&f->root, "user/" ALICE "/inbox", false, f->members),
        ACL_DENY);
}

static void test_publish_nobody_to_presence(void **state)
{
    fixture *f = *state;

    assert_int_equal(acl_may_publish(&f->alice, "user/" ALICE "/presence",
                                     false, f->members),
                     ACL_DENY);
    assert_int_equal(acl_may_publish(&f->carol, "user/" ALICE "/presence",
                                     false, f->members),
                     ACL_DENY);
    assert_int_equal(
        acl_may_publish(&f->root, "user/" ROOT "/presence", false, f->members),
        ACL_DENY);
}

static void test_publish_nobody_to_sys(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        acl_may_publish(&f->root, "$SYS/broker/uptime", false, f->members),
        ACL_DENY);
    assert_int_equal(
        acl_may_publish(&f->alice, "$SYS/broker/uptime", false, f->members),
        ACL_DENY);
    assert_int_equal(acl_may_publish(&f->root, "$SYS", false, f->members),
                     ACL_DENY);
}

static void test_publish_retain_refused_even_for_members(void **state)
{
    fixture *f = *state;
    char topic[128];

    for (size_t i = 0; i < 3; i++) {
        conv_topic(topic, sizeof topic, CONV, conv_leaves[i]);
        assert_int_equal(acl_may_publish(&f->alice, topic, true, f->members),
                         ACL_DENY);
        assert_int_equal(acl_may_publish(&f->carol, topic, true, f->members),
                         ACL_DENY);
    }
}

static void test_publish_unknown_topics_refused(void **state)
{
    fixture *f = *state;
    static const char *const topics[] = {
        "",
        "hello",
        "conv/" CONV,
        "conv/" CONV "/m/x",
        "conv/" CONV "/messages",
        "conv/" CONV "/#",
        "conv/" CONV "/+",
        "conv/" CONV_UPPER "/m",
        "/conv/" CONV "/m",
        "$share/g/conv/" CONV "/m",
    };

    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        assert_int_equal(
            acl_may_publish(&f->alice, topics[i], false, f->members), ACL_DENY);
        assert_int_equal(
            acl_may_publish(&f->carol, topics[i], false, f->members), ACL_DENY);
    }
    assert_int_equal(acl_may_publish(&f->alice, NULL, false, f->members),
                     ACL_DENY);
}

/* ---- acl_may_read ----------------------------------------------------- */

static void test_read_member_reads_all_conv_topics(void **state)
{
    fixture *f = *state;
    char topic[128];

    for (size_t i = 0; i < 4; i++) {
        conv_topic(topic, sizeof topic, CONV, conv_leaves[i]);
        assert_int_equal(acl_may_read(&f->alice, topic, f->members), ACL_ALLOW);
    }
}

static void test_read_non_member_reads_no_conv_topic(void **state)
{
    fixture *f = *state;
    char topic[128];

    for (size_t i = 0; i < 4; i++) {
        conv_topic(topic, sizeof topic, CONV, conv_leaves[i]);
        assert_int_equal(acl_may_read(&f->bob, topic, f->members), ACL_DENY);
        assert_int_equal(acl_may_read(&f->alice, topic, NULL), ACL_DENY);
    }
    /* And the member of one conversation reads nothing of another. */
    assert_int_equal(
        acl_may_read(&f->alice, "conv/" OTHER_CONV "/m", f->members), ACL_DENY);
}

static void test_read_admin_non_member_cannot_read_conv(void **state)
{
    fixture *f = *state;
    char topic[128];

    for (size_t i = 0; i < 4; i++) {
        conv_topic(topic, sizeof topic, CONV, conv_leaves[i]);
        assert_int_equal(acl_may_read(&f->root, topic, f->members), ACL_DENY);
    }
}

static void test_read_own_inbox_and_presence(void **state)
{
    fixture *f = *state;

    assert_int_equal(acl_may_read(&f->alice, "user/" ALICE "/inbox", NULL),
                     ACL_ALLOW);
    assert_int_equal(acl_may_read(&f->alice, "user/" ALICE "/presence", NULL),
                     ACL_ALLOW);
}

static void test_read_foreign_inbox_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(acl_may_read(&f->alice, "user/" BOB "/inbox", f->members),
                     ACL_DENY);
    /* Sharing a conversation does not open another user's inbox. */
    assert_int_equal(
        acl_may_read(&f->alice, "user/" CAROL "/inbox", f->members), ACL_DENY);
    /* Nor does being a server admin. */
    assert_int_equal(acl_may_read(&f->root, "user/" ALICE "/inbox", f->members),
                     ACL_DENY);
}

static void test_read_presence_of_stranger_refused(void **state)
{
    fixture *f = *state;

    /* Alice and Bob share no conversation. */
    assert_int_equal(
        acl_may_read(&f->alice, "user/" BOB "/presence", f->members), ACL_DENY);
}

static void test_read_presence_of_co_member_allowed(void **state)
{
    fixture *f = *state;

    /* Alice and Carol share CONV: each may see the other's presence (not
     * their inbox), and only while they share a conversation. */
    assert_int_equal(
        acl_may_read(&f->alice, "user/" CAROL "/presence", f->members),
        ACL_ALLOW);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" CAROL "/presence", f->members),
        ACL_ALLOW);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" CAROL "/inbox", f->members),
        ACL_DENY);
    remove_member(f->members, CONV, CAROL);
    assert_int_equal(
        acl_may_read(&f->alice, "user/" CAROL "/presence", f->members),
        ACL_DENY);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" CAROL "/presence", f->members),
        ACL_DENY);
}

static void test_read_sys_only_admins(void **state)
{
    fixture *f = *state;

    assert_int_equal(acl_may_read(&f->root, "$SYS/broker/uptime", f->members),
                     ACL_ALLOW);
    assert_int_equal(acl_may_read(&f->alice, "$SYS/broker/uptime", f->members),
                     ACL_DENY);
}

static void test_read_unknown_topics_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(acl_may_read(&f->root, "hello/world", f->members),
                     ACL_DENY);
    assert_int_equal(acl_may_read(&f->alice, "conv/" CONV "/m/x", f->members),
                     ACL_DENY);
    assert_int_equal(acl_may_read(&f->alice, "", f->members), ACL_DENY);
}

/* ---- acl_may_subscribe ------------------------------------------------ */

static void test_subscribe_exact_conv_topics_members_only(void **state)
{
    fixture *f = *state;
    char topic[128];

    for (size_t i = 0; i < 4; i++) {
        conv_topic(topic, sizeof topic, CONV, conv_leaves[i]);
        assert_int_equal(acl_may_subscribe(&f->alice, topic, f->members),
                         ACL_ALLOW);
        assert_int_equal(acl_may_subscribe(&f->bob, topic, f->members),
                         ACL_DENY);
    }
}

static void test_subscribe_exact_user_topics_owner_only(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" ALICE "/inbox", f->members),
        ACL_ALLOW);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" ALICE "/presence", f->members),
        ACL_ALLOW);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" BOB "/inbox", f->members),
        ACL_DENY);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" BOB "/presence", f->members),
        ACL_DENY);
}

static void test_subscribe_sys_exact_refused_for_non_admin(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        acl_may_subscribe(&f->alice, "$SYS/broker/uptime", f->members),
        ACL_DENY);
}

static void test_subscribe_conv_wildcards_members_only(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        acl_may_subscribe(&f->alice, "conv/" CONV "/#", f->members), ACL_ALLOW);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "conv/" CONV "/+", f->members), ACL_ALLOW);
    assert_int_equal(acl_may_subscribe(&f->bob, "conv/" CONV "/#", f->members),
                     ACL_DENY);
    assert_int_equal(acl_may_subscribe(&f->bob, "conv/" CONV "/+", f->members),
                     ACL_DENY);
    assert_int_equal(acl_may_subscribe(&f->alice, "conv/" CONV "/#", NULL),
                     ACL_DENY);
}

static void test_subscribe_own_user_wildcards(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" ALICE "/#", f->members),
        ACL_ALLOW);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" ALICE "/+", f->members),
        ACL_ALLOW);
}

static void test_subscribe_other_user_wildcards_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(acl_may_subscribe(&f->alice, "user/" BOB "/#", f->members),
                     ACL_DENY);
    assert_int_equal(acl_may_subscribe(&f->alice, "user/" BOB "/+", f->members),
                     ACL_DENY);
    /* Sharing a conversation does not matter for user/ wildcards. */
    assert_int_equal(
        acl_may_subscribe(&f->alice, "user/" CAROL "/#", f->members), ACL_DENY);
}

static void test_subscribe_wide_filters_refused_for_non_admins(void **state)
{
    fixture *f = *state;
    static const char *const filters[] = {
        "#",
        "+",
        "+/#",
        "+/+/m",
        "+/" CONV "/m",
        "conv/+/m",
        "conv/+/#",
        "conv/#",
        "conv/+",
        "user/+/inbox",
        "user/#",
        "$share/g/conv/" CONV "/m",
        "$share/g/conv/" CONV "/#",
        "$share/g/#",
        "$SYS/#",
        "$SYS/+",
        "$SYS/broker/+",
    };

    /* Alice is a member of CONV, so nothing here is refused for want of
     * membership. */
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        if (acl_may_subscribe(&f->alice, filters[i], f->members) != ACL_DENY)
            fail_msg("filter \"%s\" should be refused", filters[i]);
    }
}

static void
test_subscribe_wildcard_only_as_last_level_under_prefix(void **state)
{
    fixture *f = *state;
    static const char *const filters[] = {
        /* Deeper than directly under the conversation: conv/{c}/m has no
         * sub-levels, and the rule allows only conv/{c}/# and conv/{c}/+. */
        "conv/" CONV "/m/#",
        "conv/" CONV "/m/+",
        "conv/" CONV "/+/#",
        "conv/" CONV "/+/+",
        "user/" ALICE "/inbox/#",
        /* Not the last level. */
        "conv/" CONV "/+/m",
        "conv/" CONV "/#/m",
        "user/" ALICE "/+/inbox",
        /* Not a whole level. */
        "conv/" CONV "/m+",
        "conv/" CONV "/+m",
        "conv/" CONV "/m#",
        "conv/" CONV "#",
        "conv/" CONV "+",
        "user/" ALICE "#",
        /* No level at all under the prefix. */
        "conv/" CONV "/",
        /* An upper-case uuid is another topic. */
        "conv/" CONV_UPPER "/#",
    };

    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        if (acl_may_subscribe(&f->alice, filters[i], f->members) != ACL_DENY)
            fail_msg("filter \"%s\" should be refused", filters[i]);
    }
}

static void test_subscribe_unknown_and_empty_refused(void **state)
{
    fixture *f = *state;

    assert_int_equal(acl_may_subscribe(&f->alice, "", f->members), ACL_DENY);
    assert_int_equal(acl_may_subscribe(&f->alice, NULL, f->members), ACL_DENY);
    assert_int_equal(acl_may_subscribe(&f->root, "", f->members), ACL_DENY);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "conv/" CONV "/messages", f->members),
        ACL_DENY);
    assert_int_equal(acl_may_subscribe(&f->alice, "hello", f->members),
                     ACL_DENY);
}

static void test_subscribe_admin_may_use_wide_filters(void **state)
{
    fixture *f = *state;
    static const char *const filters[] = {
        "#",        "$SYS/#",     "conv/+/m",        "+/+/m",
        "user/+/#", "$share/g/#", "conv/" CONV "/#", "$SYS/broker/uptime",
    };

    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        if (acl_may_subscribe(&f->root, filters[i], f->members) != ACL_ALLOW)
            fail_msg("admin filter \"%s\" should be allowed", filters[i]);
    }
}

static void test_subscribe_admin_wide_filter_still_reads_checked(void **state)
{
    fixture *f = *state;

    /* The filter is allowed, but every delivery goes through acl_may_read:
     * a non-member admin receives nothing from the conversation. */
    assert_int_equal(acl_may_subscribe(&f->root, "#", f->members), ACL_ALLOW);
    assert_int_equal(acl_may_read(&f->root, "conv/" CONV "/m", f->members),
                     ACL_DENY);
    assert_int_equal(acl_may_read(&f->root, "user/" ALICE "/inbox", f->members),
                     ACL_DENY);
    /* While an admin who is a member does. */
    assert_int_equal(acl_may_read(&f->carol, "conv/" CONV "/m", f->members),
                     ACL_ALLOW);
}

/* ---- membership changes ---------------------------------------------- */

static void test_removing_member_flips_verdicts(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        acl_may_publish(&f->alice, "conv/" CONV "/m", false, f->members),
        ACL_ALLOW);
    assert_int_equal(acl_may_read(&f->alice, "conv/" CONV "/m", f->members),
                     ACL_ALLOW);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "conv/" CONV "/#", f->members), ACL_ALLOW);

    remove_member(f->members, CONV, ALICE);
    assert_int_equal(
        acl_may_publish(&f->alice, "conv/" CONV "/m", false, f->members),
        ACL_DENY);
    assert_int_equal(acl_may_read(&f->alice, "conv/" CONV "/m", f->members),
                     ACL_DENY);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "conv/" CONV "/#", f->members), ACL_DENY);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "conv/" CONV "/m", f->members), ACL_DENY);
    /* Her own topics do not depend on membership. */
    assert_int_equal(
        acl_may_read(&f->alice, "user/" ALICE "/inbox", f->members), ACL_ALLOW);
}

static void test_adding_member_flips_verdicts(void **state)
{
    fixture *f = *state;

    assert_int_equal(
        acl_may_publish(&f->bob, "conv/" CONV "/typing", false, f->members),
        ACL_DENY);
    assert_int_equal(acl_may_subscribe(&f->bob, "conv/" CONV "/+", f->members),
                     ACL_DENY);

    add_member(f->members, CONV, BOB);
    assert_int_equal(
        acl_may_publish(&f->bob, "conv/" CONV "/typing", false, f->members),
        ACL_ALLOW);
    assert_int_equal(acl_may_subscribe(&f->bob, "conv/" CONV "/+", f->members),
                     ACL_ALLOW);
    assert_int_equal(acl_may_read(&f->bob, "conv/" CONV "/event", f->members),
                     ACL_ALLOW);
    /* Still only what members may do. */
    assert_int_equal(
        acl_may_publish(&f->bob, "conv/" CONV "/event", false, f->members),
        ACL_DENY);
}

/* ---- announce-only conversations ------------------------------------- */

/* In an announce-only conversation (a channel) only its owners and admins
 * post: conv/{c}/m and conv/{c}/typing.  Plain members still send receipts
 * and read and subscribe to everything they could before.  The roles are
 * the conversation's, not the server's. */

#define CHAN_OWNER "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee"
#define CHAN_ADMIN "ffffffff-ffff-4fff-8fff-ffffffffffff"

static void set_role(membership_cache *c, const char *conv, const char *user,
                     member_role role)
{
    uuid_bin cv = uuid(conv), u = uuid(user);

    assert_int_equal(membership_cache_set(c, &cv, &u, role), 0);
}

static void mark_announce_only(membership_cache *c, const char *conv, bool on)
{
    uuid_bin cv = uuid(conv);

    assert_int_equal(membership_cache_set_announce_only(c, &cv, on), 0);
}

static bool may_post(const membership_cache *c, const char *conv,
                     const char *user)
{
    uuid_bin cv = uuid(conv), u = uuid(user);

    return membership_cache_may_post(c, &cv, &u);
}

/* Asserts who's verdicts for publishing m, typing and receipt in conv. */
static void assert_publish(const acl_subject *who, const char *conv,
                           const membership_cache *members, acl_verdict m,
                           acl_verdict typing, acl_verdict receipt)
{
    char topic[128];

    conv_topic(topic, sizeof topic, conv, "m");
    if (acl_may_publish(who, topic, false, members) != m)
        fail_msg("publish %s: expected %s", topic, m ? "allow" : "deny");
    conv_topic(topic, sizeof topic, conv, "typing");
    if (acl_may_publish(who, topic, false, members) != typing)
        fail_msg("publish %s: expected %s", topic, typing ? "allow" : "deny");
    conv_topic(topic, sizeof topic, conv, "receipt");
    if (acl_may_publish(who, topic, false, members) != receipt)
        fail_msg("publish %s: expected %s", topic, receipt ? "allow" : "deny");
}

static void test_announce_only_member_may_not_post_or_type(void **state)
{
    fixture *f = *state;

    assert_publish(&f->alice, CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
    mark_announce_only(f->members, CONV, true);
    /* Receipts are not posts: a reader still says what they have read. */
    assert_publish(&f->alice, CONV, f->members, ACL_DENY, ACL_DENY, ACL_ALLOW);
    assert_false(may_post(f->members, CONV, ALICE));
    /* Events stay the server's. */
    assert_int_equal(
        acl_may_publish(&f->alice, "conv/" CONV "/event", false, f->members),
        ACL_DENY);
}

static void test_announce_only_member_still_reads_and_subscribes(void **state)
{
    fixture *f = *state;
    char topic[128];

    mark_announce_only(f->members, CONV, true);
    for (size_t i = 0; i < 4; i++) {
        conv_topic(topic, sizeof topic, CONV, conv_leaves[i]);
        assert_int_equal(acl_may_read(&f->alice, topic, f->members), ACL_ALLOW);
        assert_int_equal(acl_may_subscribe(&f->alice, topic, f->members),
                         ACL_ALLOW);
    }
    assert_int_equal(
        acl_may_subscribe(&f->alice, "conv/" CONV "/#", f->members), ACL_ALLOW);
    assert_int_equal(
        acl_may_subscribe(&f->alice, "conv/" CONV "/+", f->members), ACL_ALLOW);
    /* Members of a channel still see each other's presence. */
    assert_int_equal(
        acl_may_read(&f->alice, "user/" CAROL "/presence", f->members),
        ACL_ALLOW);
    /* And a non-member still sees nothing. */
    assert_int_equal(acl_may_read(&f->bob, "conv/" CONV "/m", f->members),
                     ACL_DENY);
    assert_int_equal(acl_may_subscribe(&f->bob, "conv/" CONV "/#", f->members),
                     ACL_DENY);
}

static void test_announce_only_admin_and_owner_may_post(void **state)
{
    fixture *f = *state;
    acl_subject owner = subject(CHAN_OWNER, false);
    acl_subject admin = subject(CHAN_ADMIN, false);
    char topic[128];

    set_role(f->members, CONV, CHAN_OWNER, MEMBER_ROLE_OWNER);
    set_role(f->members, CONV, CHAN_ADMIN, MEMBER_ROLE_ADMIN);
    mark_announce_only(f->members, CONV, true);
    assert_publish(&owner, CONV, f->members, ACL_ALLOW, ACL_ALLOW, ACL_ALLOW);
    assert_publish(&admin, CONV, f->members, ACL_ALLOW, ACL_ALLOW, ACL_ALLOW);
    assert_true(may_post(f->members, CONV, CHAN_OWNER));
    assert_true(may_post(f->members, CONV, CHAN_ADMIN));
    /* Still never retained, and never on event. */
    for (size_t i = 0; i < 4; i++) {
        conv_topic(topic, sizeof topic, CONV, conv_leaves[i]);
        assert_int_equal(acl_may_publish(&owner, topic, true, f->members),
                         ACL_DENY);
    }
    assert_int_equal(
        acl_may_publish(&admin, "conv/" CONV "/event", false, f->members),
        ACL_DENY);
}

static void test_announce_only_server_admin_needs_conv_role(void **state)
{
    fixture *f = *state;

    /* Carol is a server admin but a plain member of CONV: the server role
     * gives no right to post in a channel. */
    mark_announce_only(f->members, CONV, true);
    assert_publish(&f->carol, CONV, f->members, ACL_DENY, ACL_DENY, ACL_ALLOW);
    /* Root is a server admin and no member at all. */
    assert_publish(&f->root, CONV, f->members, ACL_DENY, ACL_DENY, ACL_DENY);
    /* Made an admin of the conversation, Carol may post. */
    set_role(f->members, CONV, CAROL, MEMBER_ROLE_ADMIN);
    assert_publish(&f->carol, CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
}

static void test_announce_only_role_changes_apply(void **state)
{
    fixture *f = *state;

    mark_announce_only(f->members, CONV, true);
    assert_publish(&f->alice, CONV, f->members, ACL_DENY, ACL_DENY, ACL_ALLOW);
    set_role(f->members, CONV, ALICE, MEMBER_ROLE_ADMIN);
    assert_publish(&f->alice, CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
    set_role(f->members, CONV, ALICE, MEMBER_ROLE_OWNER);
    assert_publish(&f->alice, CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
    set_role(f->members, CONV, ALICE, MEMBER_ROLE_MEMBER);
    assert_publish(&f->alice, CONV, f->members, ACL_DENY, ACL_DENY, ACL_ALLOW);
    /* An admin who leaves posts nothing, channel or not. */
    set_role(f->members, CONV, ALICE, MEMBER_ROLE_ADMIN);
    remove_member(f->members, CONV, ALICE);
    assert_publish(&f->alice, CONV, f->members, ACL_DENY, ACL_DENY, ACL_DENY);
}

static void test_announce_only_unmarking_restores_members(void **state)
{
    fixture *f = *state;

    mark_announce_only(f->members, CONV, true);
    assert_publish(&f->alice, CONV, f->members, ACL_DENY, ACL_DENY, ACL_ALLOW);
    mark_announce_only(f->members, CONV, false);
    assert_publish(&f->alice, CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
    assert_true(may_post(f->members, CONV, ALICE));
    /* A mark, not a count: marked twice, unmarked once is unmarked. */
    mark_announce_only(f->members, CONV, true);
    mark_announce_only(f->members, CONV, true);
    assert_publish(&f->alice, CONV, f->members, ACL_DENY, ACL_DENY, ACL_ALLOW);
    mark_announce_only(f->members, CONV, false);
    assert_publish(&f->alice, CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
    /* Unmarking what is not marked is harmless. */
    mark_announce_only(f->members, CONV, false);
    mark_announce_only(f->members, OTHER_CONV, false);
    assert_publish(&f->alice, CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
    assert_publish(&f->bob, OTHER_CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
}

static void test_announce_only_is_per_conversation(void **state)
{
    fixture *f = *state;

    /* Alice is a plain member of both; only CONV is a channel. */
    add_member(f->members, OTHER_CONV, ALICE);
    mark_announce_only(f->members, CONV, true);
    assert_publish(&f->alice, CONV, f->members, ACL_DENY, ACL_DENY, ACL_ALLOW);
    assert_publish(&f->alice, OTHER_CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
    assert_publish(&f->bob, OTHER_CONV, f->members, ACL_ALLOW, ACL_ALLOW,
                   ACL_ALLOW);
    assert_true(may_post(f->members, OTHER_CONV, ALICE));
    assert_false(may_post(f->members, CONV, ALICE));
}

static void test_announce_only_mark_outlives_membership(void **state)
{
    fixture *f = *state;

    /* A channel marked before anyone joins, and emptied and refilled,
     * stays a channel: the mark belongs to the conversation. */
    mark_announce_only(f->members, CONV, true);
    remove_member(f->members, CONV, ALICE);
    remove_member(f->members, CONV, CAROL);
    add_member(f->members, CONV, ALICE);
    set_role(f->members, CONV, CHAN_OWNER, MEMBER_ROLE_OWNER);
    assert_publish(&f->alice, CONV, f->members, ACL_DENY, ACL_DENY, ACL_ALLOW);
    assert_true(may_post(f->members, CONV, CHAN_OWNER));
}

static void test_may_post_false_for_non_members(void **state)
{
    fixture *f = *state;

    /* Bob is in OTHER_CONV only; Root in nothing. */
    assert_false(may_post(f->members, CONV, BOB));
    assert_false(may_post(f->members, CONV, ROOT));
    mark_announce_only(f->members, CONV, true);
    assert_false(may_post(f->members, CONV, BOB));
    assert_false(may_post(f->members, CONV, ROOT));
    /* A plain member posts in an ordinary conversation. */
    assert_true(may_post(f->members, OTHER_CONV, BOB));
    /* Nobody posts anywhere without a cache. */
    assert_false(may_post(NULL, CONV, ALICE));
}

/* Topic names that differ from one another in every way the memo could
 * confuse: same length, one a prefix of another, a different uuid, the
 * same name again after others, unknown names, and one too long to memo. */
static const char *const memo_topics[] = {
    "conv/" CONV "/m",
    "conv/" CONV "/m",
    "conv/" OTHER_CONV "/m",
    "conv/" CONV "/mx",
    "conv/" CONV "/",
    "user/" CONV "/m",
    "conv/" CONV "/typing",
    "conv/" CONV "/receipt",
    "conv/" CONV "/event",
    "user/" ALICE "/inbox",
    "user/" ALICE "/presence",
    "conv/" CONV "/m",
    "$SYS/broker/uptime",
    "$SYS/#",
    "conv/" CONV_UPPER "/m",
    "",
    "conv/" CONV "/m/and/then/some/levels/beyond/the/memo/size/limit",
    "conv/" CONV "/m",
};

static void test_parse_memo_agrees_with_parse(void **state)
{
    topic_memo memo = {0};
    size_t n = sizeof memo_topics / sizeof memo_topics[0];

    (void)state;
    /* Forwards, then backwards, then each name twice running. */
    for (size_t pass = 0; pass < 3; pass++) {
        for (size_t k = 0; k < 2 * n; k++) {
            size_t i = pass == 0 ? k / 2 : pass == 1 ? n - 1 - k / 2 : k / 2;
            const char *topic = memo_topics[i];
            topic_ref want, got;

            if (pass < 2 && k % 2 == 1)
                continue;
            topic_parse(topic, &want);
            memset(&got, 0xa5, sizeof got);
            assert_int_equal(topic_parse_memo(&memo, topic, &got), want.kind);
            assert_int_equal(got.kind, want.kind);
            assert_memory_equal(&got.id, &want.id, sizeof want.id);
        }
    }
}

static void test_parse_memo_compares_the_name_not_the_pointer(void **state)
{
    topic_memo memo = {0};
    char buf[80];
    topic_ref ref;
    uuid_bin other = uuid(OTHER_CONV);

    (void)state;
    /* The broker may reuse one buffer for another topic. */
    snprintf(buf, sizeof buf, "conv/%s/m", CONV);
    assert_int_equal(topic_parse_memo(&memo, buf, &ref), TOPIC_CONV_MESSAGES);
    snprintf(buf, sizeof buf, "conv/%s/m", OTHER_CONV);
    assert_int_equal(topic_parse_memo(&memo, buf, &ref), TOPIC_CONV_MESSAGES);
    assert_memory_equal(&ref.id, &other, sizeof other);
    snprintf(buf, sizeof buf, "conv/%s/e", OTHER_CONV);
    assert_int_equal(topic_parse_memo(&memo, buf, &ref), TOPIC_UNKNOWN);
    assert_int_equal(topic_parse_memo(&memo, NULL, &ref), TOPIC_UNKNOWN);
}

static void test_ref_verdicts_agree_with_topic_verdicts(void **state)
{
    fixture *f = *state;
    const acl_subject *who[] = {&f->alice, &f->bob, &f->carol, &f->root};
    topic_memo memo = {0};

    for (size_t w = 0; w < sizeof who / sizeof who[0]; w++) {
        for (size_t i = 0; i < sizeof memo_topics / sizeof memo_topics[0];
             i++) {
            const char *topic = memo_topics[i];
            topic_ref ref;

            topic_parse_memo(&memo, topic, &ref);
            assert_int_equal(acl_may_read_ref(who[w], &ref, f->members),
                             acl_may_read(who[w], topic, f->members));
            for (int retain = 0; retain < 2; retain++)
                assert_int_equal(
                    acl_may_publish_ref(who[w], &ref, retain, f->members),
                    acl_may_publish(who[w], topic, retain, f->members));
        }
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_conv_messages),
        cmocka_unit_test(test_parse_conv_typing),
        cmocka_unit_test(test_parse_conv_receipt),
        cmocka_unit_test(test_parse_conv_event),
        cmocka_unit_test(test_parse_user_inbox),
        cmocka_unit_test(test_parse_user_presence),
        cmocka_unit_test(test_parse_sys),
        cmocka_unit_test(test_parse_refuses_upper_case_uuid),
        cmocka_unit_test(test_parse_refuses_short_uuid),
        cmocka_unit_test(test_parse_refuses_long_uuid),
        cmocka_unit_test(test_parse_refuses_malformed_uuid),
        cmocka_unit_test(test_parse_refuses_missing_separator_after_uuid),
        cmocka_unit_test(test_parse_refuses_missing_level),
        cmocka_unit_test(test_parse_refuses_extra_level),
        cmocka_unit_test(test_parse_refuses_trailing_slash),
        cmocka_unit_test(test_parse_refuses_leading_slash),
        cmocka_unit_test(test_parse_refuses_wildcards),
        cmocka_unit_test(test_parse_refuses_empty),
        cmocka_unit_test(test_parse_refuses_empty_levels),
        cmocka_unit_test(test_parse_refuses_nul_truncated_topics),
        cmocka_unit_test(test_parse_refuses_unknown_leaf),
        cmocka_unit_test(test_parse_refuses_unknown_prefix),
        cmocka_unit_test(test_parse_memo_agrees_with_parse),
        cmocka_unit_test(test_parse_memo_compares_the_name_not_the_pointer),
        T(test_ref_verdicts_agree_with_topic_verdicts),

        T(test_publish_member_may_publish_m_typing_receipt),
        T(test_publish_non_member_may_not),
        T(test_publish_nobody_to_conv_event),
        T(test_publish_nobody_to_inbox_own_or_foreign),
        T(test_publish_nobody_to_presence),
        T(test_publish_nobody_to_sys),
        T(test_publish_retain_refused_even_for_members),
        T(test_publish_unknown_topics_refused),

        T(test_read_member_reads_all_conv_topics),
        T(test_read_non_member_reads_no_conv_topic),
        T(test_read_admin_non_member_cannot_read_conv),
        T(test_read_own_inbox_and_presence),
        T(test_read_foreign_inbox_refused),
        T(test_read_presence_of_stranger_refused),
        T(test_read_presence_of_co_member_allowed),
        T(test_read_sys_only_admins),
        T(test_read_unknown_topics_refused),

        T(test_subscribe_exact_conv_topics_members_only),
        T(test_subscribe_exact_user_topics_owner_only),
        T(test_subscribe_sys_exact_refused_for_non_admin),
        T(test_subscribe_conv_wildcards_members_only),
        T(test_subscribe_own_user_wildcards),
        T(test_subscribe_other_user_wildcards_refused),
        T(test_subscribe_wide_filters_refused_for_non_admins),
        T(test_subscribe_wildcard_only_as_last_level_under_prefix),
        T(test_subscribe_unknown_and_empty_refused),
        T(test_subscribe_admin_may_use_wide_filters),
        T(test_subscribe_admin_wide_filter_still_reads_checked),

        T(test_removing_member_flips_verdicts),
        T(test_adding_member_flips_verdicts),

        T(test_announce_only_member_may_not_post_or_type),
        T(test_announce_only_member_still_reads_and_subscribes),
        T(test_announce_only_admin_and_owner_may_post),
        T(test_announce_only_server_admin_needs_conv_role),
        T(test_announce_only_role_changes_apply),
        T(test_announce_only_unmarking_restores_members),
        T(test_announce_only_is_per_conversation),
        T(test_announce_only_mark_outlives_membership),
        T(test_may_post_false_for_non_members),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
