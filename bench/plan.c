/*
 * plan.c - reading the load generator's plan (see plan.h).
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 4096

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

long plan_topic_find(const plan *p, const char *topic)
{
    if (p->n_slots == 0)
        return -1;
    for (size_t i = hash_str(topic) & (p->n_slots - 1);;
         i = (i + 1) & (p->n_slots - 1)) {
        size_t v = p->slots[i];
        if (v == 0)
            return -1;
        if (strcmp(p->topics[v - 1], topic) == 0)
            return (long)(v - 1);
    }
}

/* Rebuilds the lookup table with room for twice the topics. */
static int grow_slots(plan *p)
{
    size_t n = p->n_slots ? p->n_slots * 2 : 64;
    size_t *slots = calloc(n, sizeof *slots);

    if (slots == NULL)
        return -1;
    for (size_t t = 0; t < p->n_topics; t++) {
        size_t i = hash_str(p->topics[t]) & (n - 1);
        while (slots[i] != 0)
            i = (i + 1) & (n - 1);
        slots[i] = t + 1;
    }
    free(p->slots);
    p->slots = slots;
    p->n_slots = n;
    return 0;
}

/* The index of topic, added if new; -1 when out of memory. */
static long intern_topic(plan *p, const char *topic)
{
    long found = plan_topic_find(p, topic);
    size_t i;

    if (found >= 0)
        return found;
    if (p->n_topics == p->cap_topics) {
        size_t cap = p->cap_topics ? p->cap_topics * 2 : 16;
        char **topics = realloc(p->topics, cap * sizeof *topics);
        if (topics == NULL)
            return -1;
        p->topics = topics;
        uint32_t *subs = realloc(p->subscribers, cap * sizeof *subs);
        if (subs == NULL)
            return -1;
        p->subscribers = subs;
        p->cap_topics = cap;
    }
    if ((p->n_topics + 1) * 2 > p->n_slots && grow_slots(p) != 0)
        return -1;
    p->topics[p->n_topics] = strdup(topic);
    if (p->topics[p->n_topics] == NULL)
        return -1;
    p->subscribers[p->n_topics] = 0;
    i = hash_str(topic) & (p->n_slots - 1);
    while (p->slots[i] != 0)
        i = (i + 1) & (p->n_slots - 1);
    p->slots[i] = ++p->n_topics;
    return (long)(p->n_topics - 1);
}

static int push_index(size_t **list, size_t *n, size_t value)
{
    /* Lists are short; grow in powers of two. */
    if ((*n & (*n - 1)) == 0 || *n == 0) {
        size_t cap = *n ? *n * 2 : 1;
        size_t *l = realloc(*list, cap * sizeof *l);
        if (l == NULL)
            return -1;
        *list = l;
    }
    (*list)[(*n)++] = value;
    return 0;
}

static char *dup_credential(const char *s)
{
    return strcmp(s, "-") == 0 ? NULL : strdup(s);
}

static int add_client(plan *p, const char *id, const char *user,
                      const char *pass)
{
    plan_client *c;

    if (p->n_clients == p->cap_clients) {
        size_t cap = p->cap_clients ? p->cap_clients * 2 : 16;
        plan_client *cl = realloc(p->clients, cap * sizeof *cl);
        if (cl == NULL)
            return -1;
        p->clients = cl;
        p->cap_clients = cap;
    }
    c = &p->clients[p->n_clients++];
    memset(c, 0, sizeof *c);
    c->inbox = -1;
    c->client_id = strdup(id);
    c->username = dup_credential(user);
    c->password = dup_credential(pass);
    if (c->client_id == NULL || (strcmp(user, "-") != 0 && !c->username) ||
        (strcmp(pass, "-") != 0 && !c->password))
        return -1;
    return 0;
}

static int fail(char *err, size_t errsize, unsigned line, const char *why)
{
    snprintf(err, errsize, "plan line %u: %s", line, why);
    return -1;
}

int plan_read(FILE *f, plan *p, char *err, size_t errsize)
{
    char line[LINE_MAX_BYTES];
    unsigned lineno = 0;

    memset(p, 0, sizeof *p);
    while (fgets(line, sizeof line, f) != NULL) {
        char *words[5], *save = NULL, *w;
        int n = 0;

        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            plan_free(p);
            return fail(err, errsize, lineno, "line too long");
        }
        for (w = strtok_r(line, " \t\r\n", &save); w != NULL && n < 5;
             w = strtok_r(NULL, " \t\r\n", &save))
            words[n++] = w;
        if (n == 0 || words[0][0] == '#')
            continue;
        if (strcmp(words[0], "client") == 0) {
            if (n != 4) {
                plan_free(p);
                return fail(err, errsize, lineno,
                            "client <id> <username|-> <password|->");
            }
            if (add_client(p, words[1], words[2], words[3]) != 0) {
                plan_free(p);
                return fail(err, errsize, lineno, "out of memory");
            }
            continue;
        }
        if (n != 2 || (strcmp(words[0], "sub") != 0 &&
                       strcmp(words[0], "pub") != 0 &&
                       strcmp(words[0], "inbox") != 0)) {
            plan_free(p);
            return fail(err, errsize, lineno, "unknown directive");
        }
        if (p->n_clients == 0) {
            plan_free(p);
            return fail(err, errsize, lineno, "no client line before it");
        }
        plan_client *c = &p->clients[p->n_clients - 1];
        long t = intern_topic(p, words[1]);
        int rc = 0;
        if (t < 0) {
            plan_free(p);
            return fail(err, errsize, lineno, "out of memory");
        }
        if (words[0][0] == 's') {
            rc = push_index(&c->subs, &c->n_subs, (size_t)t);
            p->subscribers[t]++;
        } else if (words[0][0] == 'p') {
            rc = push_index(&c->pubs, &c->n_pubs, (size_t)t);
        } else {
            c->inbox = t;
        }
        if (rc != 0) {
            plan_free(p);
            return fail(err, errsize, lineno, "out of memory");
        }
    }
    if (ferror(f)) {
        plan_free(p);
        return fail(err, errsize, lineno, "read error");
    }
    return 0;
}

void plan_free(plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_clients; i++) {
        free(p->clients[i].client_id);
        free(p->clients[i].username);
        free(p->clients[i].password);
        free(p->clients[i].subs);
        free(p->clients[i].pubs);
    }
    for (size_t t = 0; t < p->n_topics; t++)
        free(p->topics[t]);
    free(p->clients);
    free(p->topics);
    free(p->subscribers);
    free(p->slots);
    memset(p, 0, sizeof *p);
}

size_t plan_publishers(const plan *p)
{
    size_t n = 0;

    for (size_t i = 0; i < p->n_clients; i++)
        n += p->clients[i].n_pubs > 0;
    return n;
}
