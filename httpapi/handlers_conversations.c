/*
 * handlers_conversations.c - conversations and membership (see
 * handlers_conversations.h).
 */
#include "handlers_conversations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "objects.h"
#include "permissions.h"
#include "validate.h"

const char *conv_kind_name(conv_kind k)
{
    switch (k) {
    case CONV_DIRECT:
        return "direct";
    case CONV_GROUP:
        return "group";
    case CONV_CHANNEL:
        break;
    }
    return "channel";
}

static int conv_kind_parse(const char *s, conv_kind *out)
{
    if (strcmp(s, "direct") == 0)
        *out = CONV_DIRECT;
    else if (strcmp(s, "group") == 0)
        *out = CONV_GROUP;
    else if (strcmp(s, "channel") == 0)
        *out = CONV_CHANNEL;
    else
        return -1;
    return 0;
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

void conv_create_clear(conv_create *c)
{
    if (c == NULL)
        return;
    free(c->members);
    c->members = NULL;
    c->n_members = 0;
}

int conv_create_parse(const json_t *body, const char *me, conv_create *out,
                      const char **why)
{
    const char *kind = NULL;
    size_t title_len = 0, n = 0, kept = 0;
    json_t *members, *item;
    size_t i;

    memset(out, 0, sizeof *out);
    if (json_field_string(body, "kind", &kind, NULL) != 1 ||
        conv_kind_parse(kind, &out->kind) != 0) {
        *why = "kind must be direct, group or channel";
        return -1;
    }
    switch (json_field_string(body, "title", &out->title, &title_len)) {
    case 0:
        break;
    case 1:
        if (out->kind == CONV_DIRECT) {
            *why = "a direct conversation has no title";
            return -1;
        }
        if (text_label_valid(out->title, title_len, TITLE_MAX))
            break;
        /* fall through */
    default:
        *why = "title must be 1 to 128 printable characters";
        return -1;
    }
    members = json_object_get(body, "members");
    if (members != NULL && !json_is_array(members)) {
        *why = "members must be an array of user ids";
        return -1;
    }
    n = json_array_size(members);
    if (n > CONV_CREATE_MAX_MEMBERS) {
        *why = "at most 1000 members at creation";
        return -1;
    }
    if (n > 0) {
        out->members = calloc(n, sizeof *out->members);
        if (out->members == NULL) {
            *why = "out of memory";
            return -1;
        }
    }
    json_array_foreach(members, i, item)
    {
        const char *id = json_string_value(item);
        if (id == NULL || json_string_length(item) != UUID_STR_LEN ||
            !uuid_valid(id)) {
            *why = "members must be user ids (lower-case uuids)";
            return -1;
        }
        if (strcmp(id, me) == 0) {
            if (out->kind == CONV_DIRECT) {
                *why = "a direct conversation needs another user";
                return -1;
            }
            continue; /* the creator is always a member */
        }
        memcpy(out->members[kept++], id, UUID_STR_LEN + 1);
    }
    if (kept > 1)
        qsort(out->members, kept, sizeof *out->members, compare_ids);
    n = kept;
    kept = 0;
    for (i = 0; i < n; i++) {
        if (kept == 0 || strcmp(out->members[kept - 1], out->members[i]) != 0)
            memmove(out->members[kept++], out->members[i], UUID_STR_LEN + 1);
    }
    out->n_members = kept;
    if (out->kind == CONV_DIRECT) {
        if (kept != 1) {
            *why = "a direct conversation needs exactly one other member";
            return -1;
        }
        const char *a = me, *b = out->members[0];
        if (strcmp(a, b) > 0) {
            a = out->members[0];
            b = me;
        }
        memcpy(out->direct_key, a, UUID_STR_LEN);
        out->direct_key[UUID_STR_LEN] = ':';
        memcpy(out->direct_key + UUID_STR_LEN + 1, b, UUID_STR_LEN + 1);
    }
    return 0;
}

/* Returns a new PostgreSQL array literal "{a,b,...}" of the canonical
 * uuids first (may be NULL) and ids[0..n) (free()), or NULL.  It travels
 * as a parameter value, never as SQL. */
static char *uuid_array_new(const char *first, char (*ids)[UUID_STR_LEN + 1],
                            size_t n)
{
    char *literal = malloc((n + 1) * (UUID_STR_LEN + 1) + 2), *p;

    if (literal == NULL)
        return NULL;
    p = literal;
    *p++ = '{';
    if (first != NULL) {
        memcpy(p, first, UUID_STR_LEN);
        p += UUID_STR_LEN;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[-1] != '{')
            *p++ = ',';
        memcpy(p, ids[i], UUID_STR_LEN);
        p += UUID_STR_LEN;
    }
    *p++ = '}';
    *p = '\0';
    return literal;
}

/* Returns 1 if me and every id in ids[0..n) (distinct) name a user, 0 if
 * not, -1 on a database error. */
static int users_exist(db_conn *db, char (*ids)[UUID_STR_LEN + 1], size_t n,
                       const char *me)
{
    char *literal = uuid_array_new(me, ids, n);
    char expected[24];
    PGresult *res;
    int rc;

    if (literal == NULL)
        return -1;
    res = DB_EXEC(db, STMT_USERS_COUNT, literal);
    free(literal);
    if (res == NULL)
        return -1;
    snprintf(expected, sizeof expected, "%zu", n + 1);
    rc = strcmp(PQgetvalue(res, 0, 0), expected) == 0 ? 1 : 0;
    PQclear(res);
    return rc;
}

/* Adds user to conv with role unless already a member, and queues the
 * event.  Sets *added (may be NULL) when a row was inserted.  Returns 0,
 * or -1. */
static int add_member(db_conn *db, event_batch *events, const char *conv,
                      const char *user, const char *role, bool *added)
{
    PGresult *res = DB_EXEC(db, STMT_MEMBER_INSERT, conv, user, role);
    bool inserted;

    if (res == NULL)
        return -1;
    inserted = PQntuples(res) == 1;
    PQclear(res);
    if (added != NULL)
        *added = inserted;
    if (inserted &&
        event_batch_add_new(events, event_member_added(conv, user, role)) != 0)
        return -1;
    return 0;
}

/* Adds ids[0..n) to conv as role in one statement, queuing an event for
 * each one that was not a member yet.  Returns 0, or -1. */
static int add_members(db_conn *db, event_batch *events, const char *conv,
                       char (*ids)[UUID_STR_LEN + 1], size_t n,
                       const char *role)
{
    char *literal;
    PGresult *res;
    int rc = 0;

    if (n == 0)
        return 0;
    literal = uuid_array_new(NULL, ids, n);
    if (literal == NULL)
        return -1;
    res = DB_EXEC(db, STMT_MEMBERS_INSERT_MANY, conv, literal, role);
    free(literal);
    if (res == NULL)
        return -1;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++)
        rc = event_batch_add_new(
            events, event_member_added(conv, PQgetvalue(res, i, 0), role));
    PQclear(res);
    return rc;
}

/* Loads conv as seen by me, in one snapshot.  Returns a new object, or
 * NULL with *found false when me is not a member (or it does not exist),
 * or NULL with *found true on an error. */
static json_t *conv_object_load(db_conn *db, const char *me, const char *conv,
                                bool *found)
{
    PGresult *res = NULL, *mres = NULL;
    json_t *members = NULL, *obj = NULL;

    *found = true;
    if (db_begin_snapshot(db) != 0)
        return NULL;
    res = DB_EXEC(db, STMT_CONV_GET, me, conv);
    if (res != NULL && PQntuples(res) == 1)
        mres = DB_EXEC(db, STMT_CONV_MEMBERS, conv);
    if (db_commit(db) != 0 || res == NULL)
        goto done;
    if (PQntuples(res) == 0) {
        *found = false;
        goto done;
    }
    if (mres == NULL || (members = json_array()) == NULL)
        goto done;
    for (int i = 0; i < PQntuples(mres); i++)
        json_array_append_new(members, member_object_new(mres, i, 1));
    obj = conv_object_new(res, 0, members);
done:
    PQclear(res);
    PQclear(mres);
    return obj;
}

void handle_conv_create(api_request *r, db_conn *db)
{
    const char *me = r->claims.sub, *why = NULL;
    json_t *body = request_json_object(r, false), *obj;
    char conv[UUID_STR_LEN + 1];
    conv_create cc;
    event_batch events = {0};
    unsigned status = MHD_HTTP_CREATED;
    PGresult *res = NULL;
    bool found;
    int rc;

    memset(&cc, 0, sizeof cc);
    if (body == NULL)
        return;
    if (conv_create_parse(body, me, &cc, &why) != 0) {
        reply_bad_request(&r->reply, why);
        goto done;
    }
    if (uuid_generate(conv) != 0 || db_begin(db) != 0)
        goto fail;
    rc = users_exist(db, cc.members, cc.n_members, me);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        db_rollback(db);
        reply_bad_request(&r->reply, "members names an unknown user");
        goto done;
    }
    res = DB_EXEC(db, STMT_CONV_INSERT, conv, conv_kind_name(cc.kind), cc.title,
                  cc.kind == CONV_DIRECT ? cc.direct_key : NULL, me);
    if (res == NULL)
        goto fail;
    if (PQntuples(res) == 0) {
        /* The pair already has its direct conversation (perhaps created a
         * moment ago by a concurrent request: ON CONFLICT waited for it). */
        PQclear(res);
        res = DB_EXEC(db, STMT_CONV_BY_DIRECT_KEY, cc.direct_key);
        if (res == NULL || PQntuples(res) != 1)
            goto fail;
        memcpy(conv, PQgetvalue(res, 0, 0), UUID_STR_LEN + 1);
        status = MHD_HTTP_OK;
    }
    if (add_member(db, &events, conv, me,
                   cc.kind == CONV_DIRECT ? "member" : "owner", NULL) != 0 ||
        add_members(db, &events, conv, cc.members, cc.n_members, "member") !=
            0 ||
        event_batch_commit(&events, db) != 0)
        goto fail;
    obj = conv_object_load(db, me, conv, &found);
    if (obj == NULL)
        /* Committed, but a member may have removed us in between. */
        reply_internal(&r->reply);
    else
        reply_json_new(&r->reply, status, obj);
    goto done;
fail:
    db_rollback(db);
    reply_internal(&r->reply);
done:
    event_batch_clear(&events);
    PQclear(res);
    conv_create_clear(&cc);
    json_decref(body);
}

void handle_conv_list(api_request *r, db_conn *db)
{
    PGresult *res = NULL, *mres = NULL;
    json_t *by_conv = NULL, *list = NULL;

    if (db_begin_snapshot(db) != 0)
        goto fail;
    res = DB_EXEC(db, STMT_CONV_LIST, r->claims.sub);
    if (res != NULL)
        mres = DB_EXEC(db, STMT_CONV_MEMBERS_OF_USER, r->claims.sub);
    if (db_commit(db) != 0 || mres == NULL)
        goto fail;
    by_conv = json_object();
    list = json_array();
    if (by_conv == NULL || list == NULL)
        goto fail;
    for (int i = 0; i < PQntuples(mres); i++) {
        const char *conv = PQgetvalue(mres, i, 0);
        json_t *members = json_object_get(by_conv, conv);
        if (members == NULL) {
            members = json_array();
            if (json_object_set_new(by_conv, conv, members) != 0)
                goto fail;
        }
        json_array_append_new(members, member_object_new(mres, i, 1));
    }
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *members = json_object_get(by_conv, PQgetvalue(res, i, 0));
        members = members != NULL ? json_incref(members) : json_array();
        if (json_array_append_new(list, conv_object_new(res, i, members)) != 0)
            goto fail;
    }
    reply_json_new(&r->reply, MHD_HTTP_OK,
                   json_pack("{s:o}", "conversations", list));
    list = NULL;
    goto done;
fail:
    reply_internal(&r->reply);
done:
    json_decref(list);
    json_decref(by_conv);
    PQclear(res);
    PQclear(mres);
}

void handle_conv_get(api_request *r, db_conn *db)
{
    bool found;
    json_t *obj = conv_object_load(db, r->claims.sub, r->route.conv, &found);

    if (obj != NULL)
        reply_json_new(&r->reply, MHD_HTTP_OK, obj);
    else if (!found)
        reply_not_found(&r->reply);
    else
        reply_internal(&r->reply);
}

/* Inside a transaction: locks the conversation and reads the caller's
 * membership.  Returns 1 with *kind and *role, 0 when the caller is not a
 * member (or the conversation does not exist), -1 on error. */
static int lock_as_member(db_conn *db, const char *conv, const char *me,
                          conv_kind *kind, member_role *role)
{
    PGresult *res = DB_EXEC(db, STMT_CONV_LOCK_ACTOR, conv, me);
    int rc = 0;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        rc = conv_kind_parse(PQgetvalue(res, 0, 0), kind) == 0 &&
                     member_role_parse(PQgetvalue(res, 0, 1), role) == 0
                 ? 1
                 : -1;
    }
    PQclear(res);
    return rc;
}

/* Reads user's role in conv.  Returns 1 with *role, 0 when not a member,
 * -1 on error. */
static int member_role_of(db_conn *db, const char *conv, const char *user,
                          member_role *role)
{
    PGresult *res = DB_EXEC(db, STMT_MEMBER_ROLE, conv, user);
    int rc = 0;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1)
        rc = member_role_parse(PQgetvalue(res, 0, 0), role) == 0 ? 1 : -1;
    PQclear(res);
    return rc;
}

/* Opens the transaction of a change to a group's or channel's members by
 * the caller, and locks the conversation with the caller's role in *actor.
 * Returns 1 to go on (inside the transaction); 0 when it has rolled back and
 * queued the reply (404 for a non-member, as for a missing conversation;
 * 400 with direct_refusal for a direct conversation); -1 on a database
 * error (the caller rolls back and answers 500). */
static int begin_member_change(api_request *r, db_conn *db,
                               const char *direct_refusal, member_role *actor)
{
    conv_kind kind;
    int rc;

    if (db_begin(db) != 0)
        return -1;
    rc = lock_as_member(db, r->route.conv, r->claims.sub, &kind, actor);
    if (rc <= 0) {
        if (rc == 0) {
            db_rollback(db);
            reply_not_found(&r->reply);
        }
        return rc;
    }
    if (kind == CONV_DIRECT) {
        db_rollback(db);
        reply_bad_request(&r->reply, direct_refusal);
        return 0;
    }
    return 1;
}

void handle_member_add(api_request *r, db_conn *db)
{
    const char *conv = r->route.conv;
    const char *user = NULL, *role_s = NULL;
    size_t user_len = 0;
    json_t *body = request_json_object(r, false);
    member_role actor, role = MEMBER_ROLE_MEMBER;
    event_batch events = {0};
    PGresult *ures = NULL;
    bool added;
    int rc;

    if (body == NULL)
        return;
    if (json_field_string(body, "user", &user, &user_len) != 1 ||
        user_len != UUID_STR_LEN || !uuid_valid(user)) {
        reply_bad_request(&r->reply, "user must be a user id");
        goto done;
    }
    rc = json_field_string(body, "role", &role_s, NULL);
    if (rc < 0 || (rc == 1 && (member_role_parse(role_s, &role) != 0 ||
                               role == MEMBER_ROLE_OWNER))) {
        reply_bad_request(&r->reply, "role must be member or admin");
        goto done;
    }
    rc = begin_member_change(
        r, db, "a direct conversation's members cannot change", &actor);
    if (rc < 0)
        goto fail;
    if (rc == 0)
        goto done;
    if (!member_may_add(actor, role)) {
        db_rollback(db);
        reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "forbidden",
                    role == MEMBER_ROLE_ADMIN
                        ? "only the owner may add admins"
                        : "only owners and admins may add members");
        goto done;
    }
    ures = DB_EXEC(db, STMT_USER_PUBLIC, user);
    if (ures == NULL)
        goto fail;
    if (PQntuples(ures) == 0) {
        db_rollback(db);
        reply_bad_request(&r->reply, "unknown user");
        goto done;
    }
    if (add_member(db, &events, conv, user, member_role_name(role), &added) !=
            0 ||
        event_batch_commit(&events, db) != 0)
        goto fail;
    if (!added) {
        reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
        goto done;
    }
    reply_json_new(&r->reply, MHD_HTTP_CREATED,
                   json_pack("{s:s,s:s,s:s,s:s}", "id", PQgetvalue(ures, 0, 0),
                             "username", PQgetvalue(ures, 0, 1), "display_name",
                             PQgetvalue(ures, 0, 2), "role",
                             member_role_name(role)));
    goto done;
fail:
    db_rollback(db);
    reply_internal(&r->reply);
done:
    event_batch_clear(&events);
    PQclear(ures);
    json_decref(body);
}

/* After an owner left or was removed: if no owner remains, the longest-
 * standing admin, or else member, becomes owner.  Returns 0, or -1. */
static int ensure_owner(db_conn *db, event_batch *events, const char *conv)
{
    PGresult *res = DB_EXEC(db, STMT_OWNER_COUNT, conv);
    int rc = 0;

    if (res == NULL)
        return -1;
    if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
        PQclear(res);
        return 0;
    }
    PQclear(res);
    res = DB_EXEC(db, STMT_MEMBER_SUCCESSOR, conv);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        const char *heir = PQgetvalue(res, 0, 0);
        if (DB_EXEC_DISCARD(db, STMT_MEMBER_SET_ROLE, conv, heir, "owner") !=
                0 ||
            event_batch_add_new(events,
                                event_role_changed(conv, heir, "owner")) != 0)
            rc = -1;
    }
    PQclear(res);
    return rc;
}

void handle_member_remove(api_request *r, db_conn *db)
{
    const char *conv = r->route.conv, *me = r->claims.sub;
    const char *user = r->route.user;
    bool self = strcmp(user, me) == 0;
    member_role actor, target;
    event_batch events = {0};
    conv_kind kind;
    int rc;

    if (db_begin(db) != 0)
        goto fail;
    rc = lock_as_member(db, conv, me, &kind, &actor);
    if (rc > 0)
        rc = member_role_of(db, conv, user, &target);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        db_rollback(db);
        reply_not_found(&r->reply);
        return;
    }
    if (!member_may_remove(actor, target, self)) {
        db_rollback(db);
        reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "forbidden",
                    "you may not remove this member");
        return;
    }
    if (DB_EXEC_DISCARD(db, STMT_MEMBER_DELETE, conv, user) != 0 ||
        event_batch_add_new(&events, event_member_removed(conv, user)) != 0 ||
        (target == MEMBER_ROLE_OWNER && ensure_owner(db, &events, conv) != 0) ||
        event_batch_commit(&events, db) != 0)
        goto fail;
    reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
    return;
fail:
    event_batch_clear(&events);
    db_rollback(db);
    reply_internal(&r->reply);
}

void handle_member_update(api_request *r, db_conn *db)
{
    const char *conv = r->route.conv;
    const char *user = r->route.user, *role_s = NULL;
    json_t *body = request_json_object(r, false);
    member_role actor, target, role;
    event_batch events = {0};
    PGresult *res;
    int rc;

    if (body == NULL)
        return;
    if (json_field_string(body, "role", &role_s, NULL) != 1 ||
        member_role_parse(role_s, &role) != 0) {
        reply_bad_request(&r->reply, "role must be member, admin or owner");
        goto done;
    }
    rc = begin_member_change(
        r, db, "a direct conversation's roles cannot change", &actor);
    if (rc < 0)
        goto fail;
    if (rc == 0)
        goto done;
    if (!member_may_set_role(actor)) {
        db_rollback(db);
        reply_error(&r->reply, MHD_HTTP_FORBIDDEN, "forbidden",
                    "only the owner may change roles");
        goto done;
    }
    rc = member_role_of(db, conv, user, &target);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        db_rollback(db);
        reply_not_found(&r->reply);
        goto done;
    }
    if (target == role) {
        db_rollback(db);
        reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
        goto done;
    }
    if (target == MEMBER_ROLE_OWNER) {
        res = DB_EXEC(db, STMT_OWNER_COUNT, conv);
        if (res == NULL)
            goto fail;
        rc = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
        PQclear(res);
        if (rc) {
            db_rollback(db);
            reply_error(&r->reply, MHD_HTTP_CONFLICT, "conflict",
                        "a conversation needs an owner: make someone else "
                        "owner first");
            goto done;
        }
    }
    if (DB_EXEC_DISCARD(db, STMT_MEMBER_SET_ROLE, conv, user,
                        member_role_name(role)) != 0 ||
        event_batch_add_new(
            &events, event_role_changed(conv, user, member_role_name(role))) !=
            0 ||
        event_batch_commit(&events, db) != 0)
        goto fail;
    reply_empty(&r->reply, MHD_HTTP_NO_CONTENT);
    goto done;
fail:
    event_batch_clear(&events);
    db_rollback(db);
    reply_internal(&r->reply);
done:
    json_decref(body);
}
