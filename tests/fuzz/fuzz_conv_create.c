/*
 * fuzz_conv_create.c - libFuzzer target for conv_create_parse
 * (httpapi/handlers_conversations.c), the validation of a
 * POST /v1/conversations body.
 *
 * Input: byte 0 picks the creator (bit 0: one of two fixed users, so the
 * creator can also appear in the member list); the rest is the request
 * body, parsed as request_json_object would (duplicates refused; only
 * objects go on).
 *
 * Invariants:
 *   - it accepts exactly the bodies the rules in handlers_conversations.h
 *     and openapi.yaml allow (kind direct/group/channel; a title only for
 *     group and channel, 1-128 printable characters; members an array of at
 *     most 1000 canonical uuids; a direct conversation with exactly one
 *     other person), and gives a reason otherwise;
 *   - on success the kind and title are the body's, the members are the
 *     body's set of ids minus the creator, sorted and without duplicates,
 *     and a direct conversation's key is both ids sorted, joined by ':';
 *   - conv_create_clear frees everything, whatever the outcome.
 */
#include "fuzz_common.h"
#include "httpapi/handlers_conversations.h"

#define TITLE_MAX_CHARS 128 /* openapi.yaml: 1 to 128 characters */

static const char *const creators[] = {
    "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "0f8fad5b-d9cb-469f-a165-70867728950e",
};

static bool ref_accept(const json_t *body, const char *me, size_t *others)
{
    json_t *kind = json_object_get(body, "kind");
    json_t *title = json_object_get(body, "title");
    json_t *members = json_object_get(body, "members");
    const char *k = json_string_value(kind);
    bool direct;
    size_t i, n = 0;
    json_t *item;

    *others = 0;
    if (k == NULL || (strcmp(k, "direct") != 0 && strcmp(k, "group") != 0 &&
                      strcmp(k, "channel") != 0))
        return false;
    direct = strcmp(k, "direct") == 0;
    if (title != NULL && !json_is_null(title)) {
        if (!json_is_string(title) || direct ||
            !ref_text_label(json_string_value(title),
                            json_string_length(title), TITLE_MAX_CHARS))
            return false;
    }
    if (members != NULL && !json_is_array(members))
        return false;
    if (json_array_size(members) > CONV_CREATE_MAX_MEMBERS)
        return false;
    json_array_foreach(members, i, item)
    {
        const char *id = json_string_value(item);
        bool seen = false;
        size_t j;
        json_t *prev;
        if (id == NULL || !ref_uuid_valid(id, json_string_length(item)))
            return false;
        if (strcmp(id, me) == 0) {
            if (direct)
                return false;
            continue;
        }
        json_array_foreach(members, j, prev)
        {
            if (j >= i)
                break;
            if (json_is_string(prev) &&
                strcmp(json_string_value(prev), id) == 0)
                seen = true;
        }
        if (!seen)
            n++;
    }
    *others = n;
    return !direct || n == 1;
}

/* True if id occurs among the body's members. */
static bool in_body(const json_t *members, const char *id)
{
    size_t i;
    json_t *item;

    json_array_foreach(members, i, item)
    {
        if (strcmp(json_string_value(item), id) == 0)
            return true;
    }
    return false;
}

static void check_accepted(const json_t *body, const char *me,
                           const conv_create *c, size_t others)
{
    json_t *title = json_object_get(body, "title");
    json_t *members = json_object_get(body, "members");

    FUZZ_CHECK(c->kind == CONV_DIRECT || c->kind == CONV_GROUP ||
               c->kind == CONV_CHANNEL);
    FUZZ_CHECK(strcmp(conv_kind_name(c->kind),
                      json_string_value(json_object_get(body, "kind"))) == 0);
    if (title == NULL || json_is_null(title))
        FUZZ_CHECK(c->title == NULL);
    else
        FUZZ_CHECK(c->title == json_string_value(title));

    FUZZ_CHECK(c->n_members == others);
    for (size_t i = 0; i < c->n_members; i++) {
        FUZZ_CHECK(ref_uuid_valid(c->members[i], strlen(c->members[i])));
        FUZZ_CHECK(strcmp(c->members[i], me) != 0);
        FUZZ_CHECK(in_body(members, c->members[i]));
        if (i > 0)
            FUZZ_CHECK(strcmp(c->members[i - 1], c->members[i]) < 0);
    }
    if (c->kind == CONV_DIRECT) {
        char key[2 * UUID_STR_LEN + 2];
        const char *other = c->members[0];
        FUZZ_CHECK(c->n_members == 1);
        snprintf(key, sizeof key, "%s:%s", strcmp(me, other) < 0 ? me : other,
                 strcmp(me, other) < 0 ? other : me);
        FUZZ_CHECK(strcmp(c->direct_key, key) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *me, *why = NULL;
    json_t *body;
    conv_create c;
    size_t others = 0;
    bool expect;
    int rc;

    if (size < 1)
        return 0;
    me = creators[data[0] & 1];
    body = json_loadb((const char *)data + 1, size - 1,
                      JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    expect = ref_accept(body, me, &others);
    rc = conv_create_parse(body, me, &c, &why);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == expect);
    if (rc == 0)
        check_accepted(body, me, &c, others);
    else
        FUZZ_CHECK(why != NULL && why[0] != '\0');
    conv_create_clear(&c);
    conv_create_clear(NULL);
    json_decref(body);
    return 0;
}
