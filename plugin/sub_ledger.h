/*
 * sub_ledger.h - the topic filters the broker holds for each client id, so
 * that a SUBSCRIBE to a filter the client already holds can be told from a
 * new one.
 *
 * mosquitto 2.0.11 as Debian 12 ships it leaks a small block each time a
 * client subscribes again to a filter it holds (docs/SECURITY.md); the ACL
 * check charges such repeats to a per-user budget.  Filters are kept as
 * 64-bit hashes, per client id rather than per connection because a
 * persistent session keeps its subscriptions across reconnects.  Pure: the
 * caller passes what the broker reports and the clock.  Main thread only.
 */
#ifndef PARLEY_SUB_LEDGER_H
#define PARLEY_SUB_LEDGER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sub_ledger sub_ledger;

typedef enum sub_ledger_verdict {
    SUB_LEDGER_NEW,    /* not held before; now recorded */
    SUB_LEDGER_REPEAT, /* the client already holds this filter */
} sub_ledger_verdict;

/* A ledger of at most max_clients client ids and max_filters filters in
 * all (both >= 1); beyond either the client ids used least recently are
 * forgotten.  NULL on bad arguments or when out of memory. */
sub_ledger *sub_ledger_new(size_t max_clients, size_t max_filters);
void sub_ledger_free(sub_ledger *l);

/* A SUBSCRIBE of filter by client_id that the ACL allows.  broker_subs is
 * what mosquitto_client_sub_count reports for the client: 0 means the
 * broker holds nothing for it (a clean or expired session), so whatever
 * was recorded before is dropped.  Out of memory, the filter counts as
 * new and is not recorded. */
sub_ledger_verdict sub_ledger_subscribe(sub_ledger *l, const char *client_id,
                                        int broker_subs, const char *filter,
                                        int64_t now_ms);
/* An UNSUBSCRIBE of filter by client_id. */
void sub_ledger_unsubscribe(sub_ledger *l, const char *client_id,
                            const char *filter, int64_t now_ms);
/* The session of client_id ended with its subscriptions. */
void sub_ledger_forget(sub_ledger *l, const char *client_id);
/* Forgets the client ids that neither subscribed nor unsubscribed for
 * idle_ms (sessions long gone, or whose end the broker does not report);
 * returns how many. */
size_t sub_ledger_prune(sub_ledger *l, int64_t now_ms, int64_t idle_ms);

size_t sub_ledger_clients(const sub_ledger *l);
/* How many filters are recorded in all. */
size_t sub_ledger_total(const sub_ledger *l);
/* How many filters are recorded for client_id. */
size_t sub_ledger_filters(const sub_ledger *l, const char *client_id);

#endif
