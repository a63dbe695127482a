/*
 * topic_acl.h - which topics Parley knows, and who may publish, subscribe to
 * or receive each one (the table in DESIGN.md, "Topics (v1)").
 *
 * Pure decisions over plain data: the caller passes who is asking and a
 * membership cache; nothing here touches the broker or the database.
 */
#ifndef PARLEY_TOPIC_ACL_H
#define PARLEY_TOPIC_ACL_H

#include <stdbool.h>

#include "membership.h"
#include "uuid.h"

typedef enum topic_kind {
    TOPIC_UNKNOWN = 0,
    TOPIC_CONV_MESSAGES, /* conv/{c}/m */
    TOPIC_CONV_TYPING,   /* conv/{c}/typing */
    TOPIC_CONV_RECEIPT,  /* conv/{c}/receipt */
    TOPIC_CONV_EVENT,    /* conv/{c}/event */
    TOPIC_USER_INBOX,    /* user/{u}/inbox */
    TOPIC_USER_PRESENCE, /* user/{u}/presence */
    TOPIC_SYS,           /* $SYS/... */
} topic_kind;

typedef struct topic_ref {
    topic_kind kind;
    uuid_bin id; /* the conversation or user named by the topic */
} topic_ref;

/* Who is asking: the connected client's user and server role. */
typedef struct acl_subject {
    uuid_bin user;
    bool is_admin;
} acl_subject;

typedef enum acl_verdict {
    ACL_DENY = 0,
    ACL_ALLOW = 1,
} acl_verdict;

/* Classifies a concrete topic name (no wildcards).  Returns the kind, which
 * is TOPIC_UNKNOWN for anything outside the table (including wildcards,
 * empty levels, upper-case or malformed uuids and extra levels). */
topic_kind topic_parse(const char *topic, topic_ref *out);

/* The last topic name parsed, so that the publish check, the message
 * callback and the delivery checks of one message parse its topic once.
 * Keyed by the whole name (compared byte for byte), so it never answers for
 * another topic; names of TOPIC_MEMO_MAX bytes or more are parsed each time.
 * Zero-initialise before use; one memo per thread. */
#define TOPIC_MEMO_MAX 64
typedef struct topic_memo {
    bool valid;
    size_t len;
    char name[TOPIC_MEMO_MAX];
    topic_ref ref;
} topic_memo;

/* topic_parse through memo: the same result, parsing only a name that
 * differs from the last one. */
topic_kind topic_parse_memo(topic_memo *memo, const char *topic,
                            topic_ref *out);

/* May subject publish to topic?  Only conv/{c}/m, typing and receipt, only
 * for members (m and typing: only owners and admins in an announce-only
 * conversation), and never with the retain flag. */
acl_verdict acl_may_publish(const acl_subject *who, const char *topic,
                            bool retain, const membership_cache *members);

/* acl_may_publish for a topic already parsed into ref. */
acl_verdict acl_may_publish_ref(const acl_subject *who, const topic_ref *ref,
                                bool retain, const membership_cache *members);

/* May subject receive a message published on topic (checked on every
 * delivery)?  Members for conv topics, the owner for user/{u}/inbox, the
 * owner and those who share a conversation with them for user/{u}/presence,
 * admins for $SYS. */
acl_verdict acl_may_read(const acl_subject *who, const char *topic,
                         const membership_cache *members);

/* acl_may_read for a topic already parsed into ref. */
acl_verdict acl_may_read_ref(const acl_subject *who, const topic_ref *ref,
                             const membership_cache *members);

/* May subject subscribe with this filter?  A wildcard may stand only as the
 * last level under a prefix the subject may read (conv/{c}/#, conv/{c}/+,
 * user/{me}/#); "#", "+/...", "conv/+/...", "user/+/..." and "$share/..."
 * are for admins only (whose deliveries are still checked one by one). */
acl_verdict acl_may_subscribe(const acl_subject *who, const char *filter,
                              const membership_cache *members);

#endif
