/*
 * events.h - the events parley-api announces on NOTIFY parley_events (see
 * docs/ARCHITECTURE.md), and recording conversation events for sync.
 *
 *   {"type":"member_added","conv":"<uuid>","user":"<uuid>","role":"member"}
 *   {"type":"member_removed","conv":"<uuid>","user":"<uuid>"}
 *   {"type":"role_changed","conv":"<uuid>","user":"<uuid>","role":"admin"}
 *   {"type":"sessions_revoked","user":"<uuid>"}   (logout everywhere,
 *                                                 password change)
 *   {"type":"presence_changed","user":"<uuid>"}   (presence hidden/shown)
 *   {"type":"edited","conv":"<uuid>","id":"<message id>"}
 *   {"type":"deleted","conv":"<uuid>","id":"<message id>"}
 *   {"type":"hidden","conv":"<uuid>","id":"<message id>"}  (an admin hid it)
 *   {"type":"user_banned","user":"<uuid>"}
 *   {"type":"user_unbanned","user":"<uuid>"}
 *   {"type":"receipt","conv":"<uuid>","user":"<uuid>","kind":"read",
 *    "up_to":"<message id>","ts":<unix ms>}        (a read pointer moved)
 *
 * The broker plugin LISTENs on parley_events and updates its membership
 * cache (who may use conv/{c}/...) and user flags from these.  A payload is
 * sent inside the transaction of the change it describes: PostgreSQL
 * delivers it only when that commits.
 *
 * Conversation events are collected in an event_batch while a transaction
 * runs; event_batch_commit then, as the last thing before COMMIT and in one
 * statement, numbers them from the change counter (parley_reserve_seq,
 * whose row lock is thus held only until the commit), stores them in
 * conv_events and sends each NOTIFY, in the order they were added.
 */
#ifndef PARLEY_API_EVENTS_H
#define PARLEY_API_EVENTS_H

#include <jansson.h>

#include "db.h"

/* Each returns a new compact JSON string (free()), or NULL. */
char *event_member_added(const char *conv, const char *user, const char *role);
char *event_member_removed(const char *conv, const char *user);
char *event_role_changed(const char *conv, const char *user, const char *role);
char *event_sessions_revoked(const char *user);
char *event_presence_changed(const char *user);
char *event_message_edited(const char *conv, const char *id);
char *event_message_deleted(const char *conv, const char *id);
char *event_message_hidden(const char *conv, const char *id);
char *event_user_banned(const char *user);
char *event_user_unbanned(const char *user);
/* kind: "read" or "delivered"; up_to: a message id; ts: unix ms. */
char *event_receipt(const char *conv, const char *user, const char *kind,
                    const char *up_to, long long ts);

/* Sends payload on parley_events within c's current transaction, then
 * frees payload (NULL, an allocation failure, counts as a failure).  For
 * events that are not conversation events.  Returns 0, or -1. */
int event_notify_new(db_conn *c, char *payload);

/* Conversation events of one transaction, in order. */
typedef struct event_batch {
    json_t *payloads; /* array of payload strings; NULL until the first */
} event_batch;

/* Appends payload (one of the event_* strings, freed here whatever
 * happens).  Returns 0, or -1 if payload is NULL or memory ran out. */
int event_batch_add_new(event_batch *b, char *payload);

/* Numbers, stores and announces the batch (if any), then commits c's
 * transaction.  The batch is empty afterwards.  Returns 0, or -1: the
 * caller then rolls back. */
int event_batch_commit(event_batch *b, db_conn *c);

/* Drops the batch's events.  Accepts an empty batch. */
void event_batch_clear(event_batch *b);

#endif
