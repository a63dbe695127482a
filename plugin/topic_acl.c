/*
 * topic_acl.c - topic classification and ACL verdicts (see topic_acl.h).
 */
#include "topic_acl.h"

#include <string.h>

#define CONV_PREFIX "conv/"
#define USER_PREFIX "user/"
#define PREFIX_LEN 5 /* strlen("conv/") == strlen("user/") */

static const struct {
    const char *prefix;
    const char *leaf;
    topic_kind kind;
} known_topics[] = {
    {CONV_PREFIX, "m", TOPIC_CONV_MESSAGES},
    {CONV_PREFIX, "typing", TOPIC_CONV_TYPING},
    {CONV_PREFIX, "receipt", TOPIC_CONV_RECEIPT},
    {CONV_PREFIX, "event", TOPIC_CONV_EVENT},
    {USER_PREFIX, "inbox", TOPIC_USER_INBOX},
    {USER_PREFIX, "presence", TOPIC_USER_PRESENCE},
};

/* Splits "conv/{uuid}/rest" into the uuid and rest.  Returns 0 and sets
 * *rest (may be "" when nothing follows the uuid), or -1. */
static int split_prefixed(const char *topic, const char *prefix, uuid_bin *id,
                          const char **rest)
{
    if (strncmp(topic, prefix, PREFIX_LEN) != 0)
        return -1;
    topic += PREFIX_LEN;
    if (strnlen(topic, UUID_STR_LEN + 1) < UUID_STR_LEN ||
        uuid_parse_n(topic, UUID_STR_LEN, id) != 0)
        return -1;
    topic += UUID_STR_LEN;
    if (*topic == '\0') {
        *rest = topic;
        return 0;
    }
    if (*topic != '/')
        return -1;
    *rest = topic + 1;
    return 0;
}

/* The leaf of a "conv/{c}/..." or "user/{u}/..." topic, or TOPIC_UNKNOWN. */
static topic_kind leaf_kind(const char *prefix, const char *leaf)
{
    for (size_t i = 0; i < sizeof known_topics / sizeof known_topics[0]; i++) {
        if (known_topics[i].prefix == prefix &&
            strcmp(leaf, known_topics[i].leaf) == 0)
            return known_topics[i].kind;
    }
    return TOPIC_UNKNOWN;
}

topic_kind topic_parse(const char *topic, topic_ref *out)
{
    const char *prefix, *rest;

    memset(out, 0, sizeof *out);
    if (topic == NULL)
        return TOPIC_UNKNOWN;
    if (strncmp(topic, "$SYS/", 5) == 0 || strcmp(topic, "$SYS") == 0) {
        if (strpbrk(topic, "+#") != NULL)
            return TOPIC_UNKNOWN;
        out->kind = TOPIC_SYS;
        return out->kind;
    }
    /* One pass: the prefix and the uuid are read once, then the leaf is
     * looked up among those of that prefix. */
    if (strncmp(topic, CONV_PREFIX, PREFIX_LEN) == 0)
        prefix = CONV_PREFIX;
    else if (strncmp(topic, USER_PREFIX, PREFIX_LEN) == 0)
        prefix = USER_PREFIX;
    else
        return TOPIC_UNKNOWN;
    if (split_prefixed(topic, prefix, &out->id, &rest) == 0)
        out->kind = leaf_kind(prefix, rest);
    if (out->kind == TOPIC_UNKNOWN)
        memset(out, 0, sizeof *out);
    return out->kind;
}

topic_kind topic_parse_memo(topic_memo *memo, const char *topic,
                            topic_ref *out)
{
    size_t len;

    if (topic == NULL)
        return topic_parse(topic, out);
    len = strnlen(topic, TOPIC_MEMO_MAX);
    if (len == TOPIC_MEMO_MAX)
        return topic_parse(topic, out);
    if (memo->valid && memo->len == len &&
        memcmp(memo->name, topic, len) == 0) {
        *out = memo->ref;
        return out->kind;
    }
    topic_parse(topic, out);
    memcpy(memo->name, topic, len);
    memo->len = len;
    memo->ref = *out;
    memo->valid = true;
    return out->kind;
}

static bool is_member(const membership_cache *members, const uuid_bin *conv,
                      const uuid_bin *user)
{
    return membership_cache_get(members, conv, user, NULL);
}

acl_verdict acl_may_publish_ref(const acl_subject *who, const topic_ref *ref,
                                bool retain, const membership_cache *members)
{
    if (retain)
        return ACL_DENY;
    switch (ref->kind) {
    case TOPIC_CONV_MESSAGES:
    case TOPIC_CONV_TYPING:
        /* In a channel only owners and admins post (or type). */
        return membership_cache_may_post(members, &ref->id, &who->user)
                   ? ACL_ALLOW
                   : ACL_DENY;
    case TOPIC_CONV_RECEIPT:
        return is_member(members, &ref->id, &who->user) ? ACL_ALLOW : ACL_DENY;
    default:
        /* conv/{c}/event, user/..., $SYS and everything else: server only. */
        return ACL_DENY;
    }
}

acl_verdict acl_may_publish(const acl_subject *who, const char *topic,
                            bool retain, const membership_cache *members)
{
    topic_ref ref;

    topic_parse(topic, &ref);
    return acl_may_publish_ref(who, &ref, retain, members);
}

acl_verdict acl_may_read_ref(const acl_subject *who, const topic_ref *ref,
                             const membership_cache *members)
{
    switch (ref->kind) {
    case TOPIC_CONV_MESSAGES:
    case TOPIC_CONV_TYPING:
    case TOPIC_CONV_RECEIPT:
    case TOPIC_CONV_EVENT:
        return is_member(members, &ref->id, &who->user) ? ACL_ALLOW : ACL_DENY;
    case TOPIC_USER_INBOX:
        return memcmp(&ref->id, &who->user, sizeof ref->id) == 0 ? ACL_ALLOW
                                                                   : ACL_DENY;
    case TOPIC_USER_PRESENCE:
        /* One's own, and that of anyone one shares a conversation with. */
        return memcmp(&ref->id, &who->user, sizeof ref->id) == 0 ||
                       membership_cache_share_conv(members, &who->user,
                                                   &ref->id)
                   ? ACL_ALLOW
                   : ACL_DENY;
    case TOPIC_SYS:
        return who->is_admin ? ACL_ALLOW : ACL_DENY;
    case TOPIC_UNKNOWN:
        break;
    }
    return ACL_DENY;
}

acl_verdict acl_may_read(const acl_subject *who, const char *topic,
                         const membership_cache *members)
{
    topic_ref ref;

    topic_parse(topic, &ref);
    return acl_may_read_ref(who, &ref, members);
}

/* True if the filter holds "+" or "#" anywhere. */
static bool has_wildcard(const char *filter)
{
    return strpbrk(filter, "+#") != NULL;
}

/* Checks "conv/{c}/#", "conv/{c}/+", "user/{u}/#", "user/{u}/+": a single
 * trailing wildcard under one conversation or user. */
static acl_verdict wildcard_under_prefix(const acl_subject *who,
                                         const char *filter,
                                         const membership_cache *members)
{
    uuid_bin id;
    const char *rest;

    if (split_prefixed(filter, CONV_PREFIX, &id, &rest) == 0) {
        if (strcmp(rest, "#") != 0 && strcmp(rest, "+") != 0)
            return ACL_DENY;
        return is_member(members, &id, &who->user) ? ACL_ALLOW : ACL_DENY;
    }
    if (split_prefixed(filter, USER_PREFIX, &id, &rest) == 0) {
        if (strcmp(rest, "#") != 0 && strcmp(rest, "+") != 0)
            return ACL_DENY;
        return memcmp(&id, &who->user, sizeof id) == 0 ? ACL_ALLOW : ACL_DENY;
    }
    return ACL_DENY;
}

acl_verdict acl_may_subscribe(const acl_subject *who, const char *filter,
                              const membership_cache *members)
{
    if (filter == NULL || filter[0] == '\0')
        return ACL_DENY;
    if (who->is_admin) {
        /* Admins may use any filter: every delivery is still checked by
         * acl_may_read, so a wide filter only yields what they may read. */
        return ACL_ALLOW;
    }
    if (strncmp(filter, "$share/", 7) == 0 || strcmp(filter, "$share") == 0)
        return ACL_DENY;
    if (has_wildcard(filter))
        return wildcard_under_prefix(who, filter, members);
    return acl_may_read(who, filter, members);
}
