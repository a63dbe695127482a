/*
 * events.h - the NOTIFY parley_events payloads parley-api emits, and
 * sending them.  The broker plugin LISTENs on parley_events and updates its
 * membership cache (and so who may use conv/{c}/...) from these, so a
 * payload is sent inside the same transaction as the change it describes:
 * PostgreSQL delivers it only if that transaction commits.
 *
 *   {"type":"member_added","conv":"<uuid>","user":"<uuid>","role":"member"}
 *   {"type":"member_removed","conv":"<uuid>","user":"<uuid>"}
 *   {"type":"role_changed","conv":"<uuid>","user":"<uuid>","role":"admin"}
 *   {"type":"sessions_revoked","user":"<uuid>"}   (logout everywhere)
 */
#ifndef PARLEY_API_EVENTS_H
#define PARLEY_API_EVENTS_H

#include "db.h"

#define EVENTS_CHANNEL "parley_events"

/* Each returns a new compact JSON string (free()), or NULL. */
char *event_member_added(const char *conv, const char *user, const char *role);
char *event_member_removed(const char *conv, const char *user);
char *event_role_changed(const char *conv, const char *user, const char *role);
char *event_sessions_revoked(const char *user);

/* Sends payload on parley_events within c's current transaction, then
 * frees payload (which may be NULL: an allocation failure, reported as a
 * failure).  Returns 0, or -1. */
int event_notify_new(db_conn *c, char *payload);

#endif
