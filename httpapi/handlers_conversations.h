/*
 * handlers_conversations.h - conversations and their members:
 *   POST /v1/conversations, GET /v1/conversations, GET /v1/conversations/{c},
 *   POST /v1/conversations/{c}/members,
 *   DELETE|PATCH /v1/conversations/{c}/members/{u}.
 *
 * Every membership change is made in one transaction together with its
 * events (events.h: a row in conv_events and a NOTIFY parley_events each),
 * under a lock on the conversation row, so concurrent changes of one
 * conversation apply one after the other.
 * A conversation the caller is not a member of answers 404, exactly like
 * one that does not exist.
 *
 * Direct conversations: both people are plain members; their membership
 * cannot be changed except by leaving, and creating the same pair again
 * returns the existing conversation (200), re-adding whoever had left.
 */
#ifndef PARLEY_API_HANDLERS_CONVERSATIONS_H
#define PARLEY_API_HANDLERS_CONVERSATIONS_H

#include <jansson.h>
#include <stddef.h>

#include "db.h"
#include "request.h"
#include "uuid.h"

#define CONV_CREATE_MAX_MEMBERS 1000

typedef enum conv_kind {
    CONV_DIRECT,
    CONV_GROUP,
    CONV_CHANNEL,
} conv_kind;

typedef struct conv_create {
    conv_kind kind;
    const char *title; /* NULL, or a string owned by the parsed body */
    /* The other members: canonical uuids, sorted, without duplicates and
     * without the creator.  Owned (conv_create_clear). */
    char (*members)[UUID_STR_LEN + 1];
    size_t n_members;
    /* For a direct conversation: both ids sorted and joined by ':'. */
    char direct_key[2 * UUID_STR_LEN + 2];
} conv_create;

/* Validates a POST /v1/conversations body for creator me.  Returns 0 and
 * fills out, or -1 with a message for a 400 in *why.  out must be cleared
 * with conv_create_clear either way. */
int conv_create_parse(const json_t *body, const char *me, conv_create *out,
                      const char **why);

/* Frees what conv_create_parse allocated.  Accepts a zeroed struct. */
void conv_create_clear(conv_create *c);

/* "direct", "group" or "channel". */
const char *conv_kind_name(conv_kind k);

void handle_conv_create(api_request *r, db_conn *db);
void handle_conv_list(api_request *r, db_conn *db);
void handle_conv_get(api_request *r, db_conn *db);
void handle_member_add(api_request *r, db_conn *db);
void handle_member_remove(api_request *r, db_conn *db);
void handle_member_update(api_request *r, db_conn *db);

#endif
