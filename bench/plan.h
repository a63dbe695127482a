/*
 * plan.h - the load generator's plan: which clients connect with which
 * credentials, what each subscribes to and publishes on.  The orchestrator
 * (bench/run.py) writes it as text, one directive per line:
 *
 *   client <client id> <username|-> <password|->
 *   sub <topic>        the last client subscribes to topic
 *   pub <topic>        the last client publishes on topic (round-robin if
 *                      several)
 *   inbox <topic>      the last client subscribes to topic for acks and
 *                      errors (Parley's user/{u}/inbox)
 *
 * Blank lines and lines starting with '#' are ignored.  Topics are
 * interned: each distinct topic has one index, and the plan knows how many
 * clients subscribe to each (what every publish on it should deliver).
 */
#ifndef BENCH_PLAN_H
#define BENCH_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct plan_client {
    char *client_id;
    char *username; /* NULL for "-" */
    char *password; /* NULL for "-" */
    size_t *subs, n_subs; /* topic indices */
    size_t *pubs, n_pubs;
    long inbox; /* topic index, -1 for none */
} plan_client;

typedef struct plan {
    plan_client *clients;
    size_t n_clients, cap_clients;
    char **topics;
    uint32_t *subscribers; /* per topic: clients subscribed (sub, not inbox) */
    size_t n_topics, cap_topics;
    /* topic lookup: open addressing over indices + 1 (0 = empty) */
    size_t *slots, n_slots;
} plan;

/* Reads a plan from f.  Returns 0, or -1 with a message in err naming the
 * line.  On failure *p is freed.  Free a loaded plan with plan_free. */
int plan_read(FILE *f, plan *p, char *err, size_t errsize);

/* Frees what p holds (p itself is the caller's); accepts an empty plan. */
void plan_free(plan *p);

/* The index of topic, or -1 if the plan does not name it. */
long plan_topic_find(const plan *p, const char *topic);

/* How many clients publish (have at least one pub line). */
size_t plan_publishers(const plan *p);

#endif
