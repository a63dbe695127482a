/*
 * mainq.c - hand-off from the plugin's threads to the broker's main thread.
 *
 * Worker threads append items under a mutex; the main thread takes the whole
 * list in the tick callback.  An idle broker sleeps up to 100 ms between
 * ticks, so when the queue goes from empty to non-empty the poster sends the
 * main thread a real-time signal whose handler does nothing: it only cuts
 * epoll_wait short, and the tick follows at once.  The plugin's threads are
 * started here too, with every signal blocked, so that the broker's signals
 * reach its main thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_ctx.h"

static void wake_handler(int sig)
{
    (void)sig;
}

int mainq_init(mainq *q)
{
    struct sigaction sa, old;

    memset(q, 0, sizeof *q);
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        return -1;
    q->main_thread = pthread_self();
    q->wake_signal = SIGRTMIN + 7;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = wake_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the point is to interrupt epoll_wait */
    if (sigaction(q->wake_signal, NULL, &old) == 0 &&
        old.sa_handler != SIG_DFL && old.sa_handler != wake_handler) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: signal %d already has a handler; acks "
                             "will wait for the broker's next tick",
                             q->wake_signal);
        q->wake_signal = 0;
    } else if (sigaction(q->wake_signal, &sa, NULL) != 0) {
        q->wake_signal = 0;
    }
    return 0;
}

void mainq_post(mainq *q, mainq_item *item)
{
    bool was_empty;

    item->next = NULL;
    pthread_mutex_lock(&q->lock);
    was_empty = q->head == NULL;
    if (q->tail != NULL)
        q->tail->next = item;
    else
        q->head = item;
    q->tail = item;
    pthread_mutex_unlock(&q->lock);
    if (was_empty && q->wake_signal != 0)
        pthread_kill(q->main_thread, q->wake_signal);
}

void mainq_post_list(mainq *q, mainq_item *items)
{
    mainq_item *last = items;
    bool was_empty;

    if (items == NULL)
        return;
    while (last->next != NULL)
        last = last->next;
    pthread_mutex_lock(&q->lock);
    was_empty = q->head == NULL;
    if (q->tail != NULL)
        q->tail->next = items;
    else
        q->head = items;
    q->tail = last;
    pthread_mutex_unlock(&q->lock);
    if (was_empty && q->wake_signal != 0)
        pthread_kill(q->main_thread, q->wake_signal);
}

int mainq_post_publish(mainq *q, const char *topic, const char *payload,
                       size_t len)
{
    mainq_item *item = calloc(1, sizeof *item);

    if (item == NULL)
        return -1;
    item->kind = MAINQ_PUBLISH;
    item->topic = strdup(topic);
    item->payload = malloc(len + 1);
    if (item->topic == NULL || item->payload == NULL) {
        mainq_item_free(item);
        return -1;
    }
    memcpy(item->payload, payload, len);
    item->payload[len] = '\0';
    item->payload_len = len;
    item->qos = 1;
    mainq_post(q, item);
    return 0;
}

mainq_item *mainq_take_all(mainq *q)
{
    mainq_item *list;

    pthread_mutex_lock(&q->lock);
    list = q->head;
    q->head = q->tail = NULL;
    pthread_mutex_unlock(&q->lock);
    return list;
}

void mainq_item_free(mainq_item *item)
{
    if (item == NULL)
        return;
    free(item->topic);
    free(item->payload);
    membership_cache_free(item->snapshot);
    user_flags_free(item->flags_snapshot);
    free(item->stamps);
    free(item);
}

void mainq_destroy(mainq *q)
{
    mainq_item *item = mainq_take_all(q), *next;

    for (; item != NULL; item = next) {
        next = item->next;
        mainq_item_free(item);
    }
    pthread_mutex_destroy(&q->lock);
    if (q->wake_signal != 0)
        signal(q->wake_signal, SIG_IGN);
}

int plugin_thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    int rc;

    /* The broker's signals belong to its main thread: the new thread
     * starts with every signal blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}

int plugin_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);

    if (rc == 0) {
        rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        if (rc == 0)
            rc = pthread_cond_init(cond, &attr);
        pthread_condattr_destroy(&attr);
    }
    return rc == 0 ? 0 : -1;
}

void timespec_add_ms(struct timespec *t, long ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}
