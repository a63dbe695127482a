/*
 * fuzz_bodies.c - libFuzzer target for the pure validators of JSON request
 * bodies in parley-api: conv_create_parse (POST /v1/conversations,
 * httpapi/handlers_conversations.c), me_update_parse (PATCH /v1/me,
 * httpapi/handlers_users.c) and mute_until_parse (PUT .../mute,
 * httpapi/handlers_member_state.c).
 *
 * Input: byte 0 mod 3 picks the validator, and bit 2 the creator for
 * conversations (one of two fixed users, so the creator can also appear in
 * the member list); the rest is the request body, parsed as
 * request_json_object would (duplicates refused; only objects go on).
 *
 * Invariants: each validator accepts exactly the bodies its header and
 * openapi.yaml allow, written out again here, and gives a reason
 * otherwise; and on success:
 *   - conversations: the kind and title are the body's, the members are
 *     the body's set of ids minus the creator, sorted and without
 *     duplicates, a direct conversation's key is both ids sorted, joined by
 *     ':', and conv_create_clear frees everything, whatever the outcome;
 *   - PATCH /v1/me: each field is the body's own (or "keep" when absent),
 *     and a new password comes exactly with the current one;
 *   - mute: "forever" exactly for an absent or null until, else its value.
 */
#include "fuzz_common.h"
#include "httpapi/handlers_conversations.h"
#include "httpapi/handlers_member_state.h"
#include "httpapi/handlers_users.h"

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

static void fuzz_conv_create(const json_t *body, const char *me)
{
    const char *why = NULL;
    conv_create c;
    size_t others = 0;
    bool expect = ref_accept(body, me, &others);
    int rc = conv_create_parse(body, me, &c, &why);

    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == expect);
    if (rc == 0)
        check_accepted(body, me, &c, others);
    else
        FUZZ_CHECK(why != NULL && why[0] != '\0');
    conv_create_clear(&c);
    conv_create_clear(NULL);
}

static bool ref_me_update(const json_t *body)
{
    const char *key;
    json_t *v;
    bool password = false, current = false;

    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "display_name") == 0) {
            if (!json_is_string(v) ||
                !ref_text_label(json_string_value(v), json_string_length(v),
                                64))
                return false;
        } else if (strcmp(key, "presence_hidden") == 0) {
            if (!json_is_boolean(v))
                return false;
        } else if (strcmp(key, "password") == 0) {
            size_t n = json_string_length(v);
            if (!json_is_string(v) || n < 8 || n > 1024 ||
                memchr(json_string_value(v), '\0', n) != NULL)
                return false;
            password = true;
        } else if (strcmp(key, "current_password") == 0) {
            if (!json_is_string(v))
                return false;
            current = true;
        } else {
            return false;
        }
    }
    return password == current;
}

static void fuzz_me_update(const json_t *body)
{
    const char *why = NULL;
    me_update u;
    json_t *name = json_object_get(body, "display_name");
    json_t *hidden = json_object_get(body, "presence_hidden");
    json_t *pw = json_object_get(body, "password");
    json_t *cur = json_object_get(body, "current_password");
    int rc = me_update_parse(body, &u, &why);

    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == ref_me_update(body));
    if (rc != 0) {
        FUZZ_CHECK(why != NULL && why[0] != '\0');
        return;
    }
    FUZZ_CHECK(u.display_name == (name ? json_string_value(name) : NULL));
    if (name != NULL)
        FUZZ_CHECK(u.display_name_len == json_string_length(name));
    FUZZ_CHECK(u.presence_hidden ==
               (hidden == NULL ? -1 : json_is_true(hidden) ? 1 : 0));
    FUZZ_CHECK(u.password == (pw ? json_string_value(pw) : NULL));
    FUZZ_CHECK(u.current_password == (cur ? json_string_value(cur) : NULL));
    FUZZ_CHECK((u.password == NULL) == (u.current_password == NULL));
    if (pw != NULL)
        FUZZ_CHECK(u.password_len == json_string_length(pw) &&
                   u.current_password_len == json_string_length(cur));
}

static void fuzz_mute(const json_t *body)
{
    json_t *until = json_object_get(body, "until");
    const char *why = NULL;
    bool forever = false;
    int64_t until_ms = -1;
    bool absent = until == NULL || json_is_null(until);
    bool expect = absent || (json_is_integer(until) &&
                             json_integer_value(until) >= 0 &&
                             json_integer_value(until) <= MUTE_UNTIL_MAX_MS);
    int rc = mute_until_parse(body, &forever, &until_ms, &why);

    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == expect);
    if (rc != 0) {
        FUZZ_CHECK(why != NULL && why[0] != '\0');
        return;
    }
    FUZZ_CHECK(forever == absent);
    FUZZ_CHECK(until_ms == (absent ? 0 : json_integer_value(until)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body;

    if (size < 1)
        return 0;
    body = json_loadb((const char *)data + 1, size - 1,
                      JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        fuzz_conv_create(body, creators[(data[0] >> 2) & 1]);
        break;
    case 1:
        fuzz_me_update(body);
        break;
    default:
        fuzz_mute(body);
        break;
    }
    json_decref(body);
    return 0;
}
