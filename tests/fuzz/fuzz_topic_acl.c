/*
 * fuzz_topic_acl.c - libFuzzer target for plugin/topic_acl.c (topic_parse,
 * acl_may_publish, acl_may_read, acl_may_subscribe) over a membership cache
 * (plugin/membership.c) that the input builds.
 *
 * Input: byte 0 is the subject (bit 0 admin, bits 1-2 which of four users,
 * bit 3 the retain flag); byte 1 the number of cache operations (mod 33);
 * then one byte per operation (bits 0-1: set, remove, announce-only on/off,
 * set; bits 2-3 which of four conversations; bits 4-5 which user; bits 6-7
 * the role, or for announce-only bit 6 on/off); the rest is the topic or
 * filter, as a C string.
 *
 * Invariants, against a plain-array model of the same memberships:
 *   - the cache answers get, may_post, share_conv and count as the model;
 *   - topic_parse agrees with a reference classifier; whatever it accepts
 *     has no wildcard and formats back to the same string;
 *   - each verdict equals the rule stated in topic_acl.h, computed from the
 *     model;
 *   - a filter a non-admin may subscribe to matches no topic of the table
 *     (for every user and conversation of the model, and the filter's own
 *     uuid) that acl_may_read would refuse them, nor any $SYS topic.
 */
#include "fuzz_common.h"
#include "plugin/membership.h"
#include "plugin/topic_acl.h"

#define N_CONV 4
#define N_USER 4

static const char *const conv_ids[N_CONV] = {
    "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
    "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
    "cccccccc-cccc-4ccc-8ccc-cccccccccccc",
    "0d0d0d0d-0000-4000-8000-0000000000dd",
};
static const char *const user_ids[N_USER] = {
    "11111111-1111-4111-8111-111111111111",
    "22222222-2222-4222-8222-222222222222",
    "33333333-3333-4333-8333-333333333333",
    "44444444-4444-4444-8444-444444444444",
};

/* role[c][u]: -1 for no membership, else a member_role. */
typedef struct model {
    int role[N_CONV][N_USER];
    bool announce[N_CONV];
} model;

typedef struct subject {
    int user; /* index into user_ids */
    bool admin;
    bool retain;
} subject;

/* Binary forms of conv_ids and user_ids, parsed once. */
static uuid_bin conv_bins[N_CONV], user_bins[N_USER];

static void setup(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    for (int i = 0; i < N_CONV; i++)
        FUZZ_CHECK(uuid_parse_n(conv_ids[i], UUID_STR_LEN, &conv_bins[i]) ==
                   0);
    for (int i = 0; i < N_USER; i++)
        FUZZ_CHECK(uuid_parse_n(user_ids[i], UUID_STR_LEN, &user_bins[i]) ==
                   0);
}

static int index_of(const char *const *ids, int n, const char *id)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(ids[i], id) == 0)
            return i;
    }
    return -1;
}

/* Applies the operations to both the cache and the model. */
static void build(membership_cache *cache, model *m, const uint8_t *ops,
                  size_t n)
{
    memset(m->role, -1, sizeof m->role);
    memset(m->announce, 0, sizeof m->announce);
    for (size_t i = 0; i < n; i++) {
        int op = ops[i] & 3, c = (ops[i] >> 2) & 3, u = (ops[i] >> 4) & 3;
        int role = ops[i] >> 6;
        const uuid_bin *cb = &conv_bins[c], *ub = &user_bins[u];

        if (role == 3)
            role = MEMBER_ROLE_MEMBER;
        switch (op) {
        case 0:
        case 3:
            FUZZ_CHECK(membership_cache_set(cache, cb, ub,
                                            (member_role)role) == 0);
            m->role[c][u] = role;
            break;
        case 1:
            membership_cache_remove(cache, cb, ub);
            m->role[c][u] = -1;
            break;
        case 2:
            FUZZ_CHECK(membership_cache_set_announce_only(
                           cache, cb, (ops[i] & 0x40) != 0) == 0);
            m->announce[c] = (ops[i] & 0x40) != 0;
            break;
        }
    }
}

static bool model_member(const model *m, int c, int u)
{
    return c >= 0 && u >= 0 && m->role[c][u] >= 0;
}

static bool model_share(const model *m, int a, int b)
{
    for (int c = 0; c < N_CONV; c++) {
        if (model_member(m, c, a) && model_member(m, c, b))
            return true;
    }
    return false;
}

static void check_cache(const membership_cache *cache, const model *m)
{
    size_t count = 0;

    for (int c = 0; c < N_CONV; c++) {
        for (int u = 0; u < N_USER; u++) {
            member_role role = (member_role)-1;
            bool has = membership_cache_get(cache, &conv_bins[c], &user_bins[u],
                                            &role);
            FUZZ_CHECK(has == model_member(m, c, u));
            if (has) {
                FUZZ_CHECK((int)role == m->role[c][u]);
                count++;
            }
            FUZZ_CHECK(membership_cache_may_post(cache, &conv_bins[c],
                                                 &user_bins[u]) ==
                       (has && (!m->announce[c] ||
                                m->role[c][u] != MEMBER_ROLE_MEMBER)));
        }
    }
    FUZZ_CHECK(membership_cache_count(cache) == count);
    for (int a = 0; a < N_USER; a++) {
        for (int b = 0; b < N_USER; b++) {
            FUZZ_CHECK(membership_cache_share_conv(cache, &user_bins[a],
                                                   &user_bins[b]) ==
                       model_share(m, a, b));
        }
    }
}

/* The topic table of topic_acl.h, classified without the project's code.
 * Copies the uuid level into id (37 bytes) for conv and user topics. */
static topic_kind ref_classify(const char *topic, char *id)
{
    static const struct {
        const char *prefix, *leaf;
        topic_kind kind;
    } table[] = {
        {"conv", "m", TOPIC_CONV_MESSAGES},
        {"conv", "typing", TOPIC_CONV_TYPING},
        {"conv", "receipt", TOPIC_CONV_RECEIPT},
        {"conv", "event", TOPIC_CONV_EVENT},
        {"user", "inbox", TOPIC_USER_INBOX},
        {"user", "presence", TOPIC_USER_PRESENCE},
    };
    const char *s1, *s2;

    id[0] = '\0';
    if (strcmp(topic, "$SYS") == 0 || strncmp(topic, "$SYS/", 5) == 0)
        return strpbrk(topic, "+#") == NULL ? TOPIC_SYS : TOPIC_UNKNOWN;
    s1 = strchr(topic, '/');
    if (s1 == NULL)
        return TOPIC_UNKNOWN;
    s2 = strchr(s1 + 1, '/');
    if (s2 == NULL || !ref_uuid_valid(s1 + 1, (size_t)(s2 - s1 - 1)))
        return TOPIC_UNKNOWN;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if ((size_t)(s1 - topic) == strlen(table[i].prefix) &&
            strncmp(topic, table[i].prefix, (size_t)(s1 - topic)) == 0 &&
            strcmp(s2 + 1, table[i].leaf) == 0) {
            memcpy(id, s1 + 1, UUID_STR_LEN);
            id[UUID_STR_LEN] = '\0';
            return table[i].kind;
        }
    }
    return TOPIC_UNKNOWN;
}

static const char *leaf_of(topic_kind k)
{
    switch (k) {
    case TOPIC_CONV_MESSAGES:
        return "conv/m";
    case TOPIC_CONV_TYPING:
        return "conv/typing";
    case TOPIC_CONV_RECEIPT:
        return "conv/receipt";
    case TOPIC_CONV_EVENT:
        return "conv/event";
    case TOPIC_USER_INBOX:
        return "user/inbox";
    case TOPIC_USER_PRESENCE:
        return "user/presence";
    default:
        return NULL;
    }
}

static void check_parse(const char *topic)
{
    topic_ref ref;
    char id[UUID_STR_LEN + 1], formatted[UUID_STR_LEN + 1], again[128];
    topic_kind k = topic_parse(topic, &ref);
    const char *leaf = leaf_of(k);

    FUZZ_CHECK(k == ref.kind);
    FUZZ_CHECK(k == ref_classify(topic, id));
    if (k == TOPIC_UNKNOWN) {
        static const topic_ref zero;
        FUZZ_CHECK(memcmp(&ref, &zero, sizeof ref) == 0);
        return;
    }
    FUZZ_CHECK(strpbrk(topic, "+#") == NULL);
    if (k == TOPIC_SYS) {
        FUZZ_CHECK(strncmp(topic, "$SYS", 4) == 0);
        return;
    }
    uuid_format(&ref.id, formatted);
    FUZZ_CHECK(strcmp(formatted, id) == 0);
    snprintf(again, sizeof again, "%.4s/%s/%s", leaf, formatted, leaf + 5);
    FUZZ_CHECK(strcmp(again, topic) == 0);
}

/* acl_may_read as topic_acl.h states it, from the model.  Ids outside the
 * model have no memberships. */
static bool expect_read(const model *m, const subject *who, const char *topic)
{
    char id[UUID_STR_LEN + 1];
    topic_kind k = ref_classify(topic, id);

    switch (k) {
    case TOPIC_CONV_MESSAGES:
    case TOPIC_CONV_TYPING:
    case TOPIC_CONV_RECEIPT:
    case TOPIC_CONV_EVENT:
        return model_member(m, index_of(conv_ids, N_CONV, id), who->user);
    case TOPIC_USER_INBOX:
        return strcmp(id, user_ids[who->user]) == 0;
    case TOPIC_USER_PRESENCE: {
        int other = index_of(user_ids, N_USER, id);
        return strcmp(id, user_ids[who->user]) == 0 ||
               (other >= 0 && model_share(m, who->user, other));
    }
    case TOPIC_SYS:
        return who->admin;
    default:
        return false;
    }
}

static bool expect_publish(const model *m, const subject *who,
                           const char *topic)
{
    char id[UUID_STR_LEN + 1];
    topic_kind k = ref_classify(topic, id);
    int c = index_of(conv_ids, N_CONV, id);

    if (who->retain || !model_member(m, c, who->user))
        return false;
    if (k == TOPIC_CONV_RECEIPT)
        return true;
    if (k == TOPIC_CONV_MESSAGES || k == TOPIC_CONV_TYPING)
        return !m->announce[c] ||
               m->role[c][who->user] != MEMBER_ROLE_MEMBER;
    return false;
}

/* "conv/{c}/#", "conv/{c}/+", "user/{u}/#" or "user/{u}/+": copies the
 * uuid into id and returns 'c' or 'u'; else 0. */
static int trailing_wildcard(const char *filter, char *id)
{
    size_t n = strlen(filter);

    if (n != 5 + UUID_STR_LEN + 2 || filter[4] != '/' ||
        filter[5 + UUID_STR_LEN] != '/' ||
        (filter[n - 1] != '#' && filter[n - 1] != '+') ||
        !ref_uuid_valid(filter + 5, UUID_STR_LEN))
        return 0;
    memcpy(id, filter + 5, UUID_STR_LEN);
    id[UUID_STR_LEN] = '\0';
    if (strncmp(filter, "conv", 4) == 0)
        return 'c';
    if (strncmp(filter, "user", 4) == 0)
        return 'u';
    return 0;
}

static bool expect_subscribe(const model *m, const subject *who,
                             const char *filter)
{
    char id[UUID_STR_LEN + 1];

    if (filter[0] == '\0')
        return false;
    if (who->admin)
        return true;
    if (strcmp(filter, "$share") == 0 || strncmp(filter, "$share/", 7) == 0)
        return false;
    if (strpbrk(filter, "+#") == NULL)
        return expect_read(m, who, filter);
    switch (trailing_wildcard(filter, id)) {
    case 'c':
        return model_member(m, index_of(conv_ids, N_CONV, id), who->user);
    case 'u':
        return strcmp(id, user_ids[who->user]) == 0;
    default:
        return false;
    }
}

/* Every topic the model knows of, plus those of the uuid in the filter's
 * second level (if any) and the filter itself. */
static void check_subscription_scope(const membership_cache *cache,
                                     const model *m, const subject *who,
                                     const acl_subject *as, const char *filter)
{
    static const char *const conv_leaves[] = {"m", "typing", "receipt",
                                              "event"};
    static const char *const user_leaves[] = {"inbox", "presence"};
    const char *ids[N_CONV + 1];
    char extra[UUID_STR_LEN + 1] = "", topic[128];
    size_t n_ids = 0;

    if (strlen(filter) >= 5 + UUID_STR_LEN &&
        ref_uuid_valid(filter + 5, UUID_STR_LEN)) {
        memcpy(extra, filter + 5, UUID_STR_LEN);
        extra[UUID_STR_LEN] = '\0';
    }
    for (int pass = 0; pass < 2; pass++) {
        const char *prefix = pass == 0 ? "conv" : "user";
        const char *const *leaves = pass == 0 ? conv_leaves : user_leaves;
        size_t n_leaves = pass == 0 ? 4 : 2;

        n_ids = 0;
        for (int i = 0; i < N_CONV; i++)
            ids[n_ids++] = pass == 0 ? conv_ids[i] : user_ids[i];
        if (extra[0] != '\0')
            ids[n_ids++] = extra;
        for (size_t i = 0; i < n_ids; i++) {
            for (size_t l = 0; l < n_leaves; l++) {
                snprintf(topic, sizeof topic, "%s/%s/%s", prefix, ids[i],
                         leaves[l]);
                if (!ref_mqtt_match(filter, topic))
                    continue;
                FUZZ_CHECK(expect_read(m, who, topic));
                FUZZ_CHECK(acl_may_read(as, topic, cache) == ACL_ALLOW);
            }
        }
    }
    FUZZ_CHECK(!ref_mqtt_match(filter, "$SYS/broker/uptime"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    membership_cache *cache;
    model m;
    subject who;
    acl_subject as;
    size_t n_ops;
    char *topic;
    acl_verdict v;

    setup();
    if (size < 2)
        return 0;
    who.admin = (data[0] & 1) != 0;
    who.user = (data[0] >> 1) & 3;
    who.retain = (data[0] & 8) != 0;
    n_ops = data[1] % 33;
    if (n_ops > size - 2)
        n_ops = size - 2;
    cache = membership_cache_new();
    FUZZ_CHECK(cache != NULL);
    build(cache, &m, data + 2, n_ops);
    check_cache(cache, &m);
    topic = fuzz_cstr(data + 2 + n_ops, size - 2 - n_ops);

    memset(&as, 0, sizeof as);
    as.user = user_bins[who.user];
    as.is_admin = who.admin;

    check_parse(topic);
    v = acl_may_read(&as, topic, cache);
    FUZZ_CHECK(v == ACL_ALLOW || v == ACL_DENY);
    FUZZ_CHECK((v == ACL_ALLOW) == expect_read(&m, &who, topic));
    v = acl_may_publish(&as, topic, who.retain, cache);
    FUZZ_CHECK(v == ACL_ALLOW || v == ACL_DENY);
    FUZZ_CHECK((v == ACL_ALLOW) == expect_publish(&m, &who, topic));
    v = acl_may_subscribe(&as, topic, cache);
    FUZZ_CHECK(v == ACL_ALLOW || v == ACL_DENY);
    FUZZ_CHECK((v == ACL_ALLOW) == expect_subscribe(&m, &who, topic));
    if (v == ACL_ALLOW && !who.admin)
        check_subscription_scope(cache, &m, &who, &as, topic);

    free(topic);
    membership_cache_free(cache);
    return 0;
}
