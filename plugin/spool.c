/*
 * spool.c - the local log that makes an accepted message survive the
 * broker's death before the writer has stored it.
 *
 * Each rewritten message is appended as one line to the current segment file
 * (spool-NNNNNNNN.log) with a plain write(2) before the broker acknowledges
 * the publish.  The writer reports stored records back per segment; a
 * segment whose records are all stored is deleted, and a current one whose
 * records are all stored is replaced by a new one once it has grown.  The
 * files are deleted by a thread of the spool's own (unlinking a few
 * megabytes takes ext4 milliseconds, which the broker's thread must not
 * wait for); a file the broker dies before deleting is replayed at the next
 * start, which stores nothing twice.  At start, segments left by an earlier
 * run are replayed into the writer, whose inserts are idempotent.  The
 * functions are for the main thread only.
 *
 * A write(2) survives the broker's death, not the machine's.  With a sync
 * interval (spool_sync_ms), the same thread also flushes what was appended
 * to disk with fdatasync, at most once per interval and only when something
 * was: a power loss then loses at most the last interval's acknowledged
 * messages, and the broker's thread never waits for the disk.  It syncs
 * through its own duplicates of the segments' descriptors, so a segment the
 * main thread moves on from is still flushed before it is closed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plugin_ctx.h"

#define SEGMENT_ROTATE_BYTES (8 * 1024 * 1024)
/* A current segment whose records are all stored is replaced from this
 * size on (smaller ones are kept, not to make a file per few messages). */
#define SEGMENT_REPLACE_BYTES (1024 * 1024)

typedef struct spool_segment {
    uint32_t number;
    uint64_t pending; /* records appended or replayed, not yet stored */
    struct spool_segment *next;
} spool_segment;

/* Segments to delete, or descriptors of segments left behind to flush and
 * close, for the spool's thread. */
typedef struct doomed {
    uint32_t number;
    int fd;
    struct doomed *next;
} doomed;

struct spool {
    char *dir;
    int fd;            /* current segment, O_APPEND */
    uint32_t current;  /* its number */
    off_t current_size;
    spool_segment *segments;
    long sync_ms;      /* 0: never fdatasync */
    /* The spool's thread and what it shares with the main thread: */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t work, idle;
    doomed *doomed_head, *doomed_tail; /* segments to delete */
    doomed *retired;   /* descriptors to flush and close */
    int sync_fd;       /* the thread's duplicate of the current segment's */
    atomic_bool dirty; /* appended to since the last flush began */
    uint64_t syncs;    /* flushes done */
    bool removing;     /* the thread is deleting or flushing a file */
    bool stopping;
};

static void segment_path(const spool *s, uint32_t number, char *out,
                         size_t size)
{
    snprintf(out, size, "%s/spool-%08u.log", s->dir, number);
}

static spool_segment *segment_find(spool *s, uint32_t number)
{
    for (spool_segment *g = s->segments; g != NULL; g = g->next) {
        if (g->number == number)
            return g;
    }
    return NULL;
}

/* Adds a segment to the list, which is kept in ascending order so that
 * replay goes through them in the order they were written. */
static spool_segment *segment_add(spool *s, uint32_t number)
{
    spool_segment *g = calloc(1, sizeof *g), **p = &s->segments;

    if (g == NULL)
        return NULL;
    g->number = number;
    while (*p != NULL && (*p)->number < number)
        p = &(*p)->next;
    g->next = *p;
    *p = g;
    return g;
}

static void segment_unlink(const spool *s, uint32_t number)
{
    char path[PATH_MAX];

    segment_path(s, number, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: cannot remove %s: %s",
                             path, strerror(errno));
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec ||
           (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void flush_fd(int fd)
{
    if (fd >= 0 && fdatasync(fd) != 0)
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: cannot flush the spool: %s",
                             strerror(errno));
}

/* The spool's thread: deletes stored segments, flushes and closes the
 * descriptors of segments left behind, and flushes the current segment at
 * most once per sync interval while appends come.  Before it stops it does
 * what is queued and a last flush. */
static void *spool_thread_main(void *arg)
{
    spool *s = arg;
    struct timespec next_sync;

    clock_gettime(CLOCK_MONOTONIC, &next_sync);
    pthread_mutex_lock(&s->lock);
    for (;;) {
        doomed *d = s->doomed_head;
        if (d != NULL) {
            s->doomed_head = d->next;
            if (s->doomed_head == NULL)
                s->doomed_tail = NULL;
            s->removing = true;
            pthread_mutex_unlock(&s->lock);
            segment_unlink(s, d->number);
            free(d);
            pthread_mutex_lock(&s->lock);
            s->removing = false;
            continue;
        }
        if ((d = s->retired) != NULL) {
            s->retired = d->next;
            s->removing = true;
            pthread_mutex_unlock(&s->lock);
            flush_fd(d->fd);
            close(d->fd);
            free(d);
            pthread_mutex_lock(&s->lock);
            s->removing = false;
            s->syncs++;
            continue;
        }
        if (s->sync_ms > 0 && atomic_load(&s->dirty)) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!s->stopping && before(&now, &next_sync)) {
                pthread_cond_timedwait(&s->work, &s->lock, &next_sync);
                continue;
            }
            atomic_store(&s->dirty, false);
            int fd = s->sync_fd;
            s->removing = true;
            pthread_mutex_unlock(&s->lock);
            flush_fd(fd);
            pthread_mutex_lock(&s->lock);
            s->removing = false;
            s->syncs++;
            next_sync = now;
            timespec_add_ms(&next_sync, s->sync_ms);
            continue;
        }
        pthread_cond_broadcast(&s->idle);
        if (s->stopping)
            break;
        pthread_cond_wait(&s->work, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Forgets a segment and has its file deleted: by the spool's thread, or
 * here if there is none (before it starts, or if it could not). */
static void segment_drop(spool *s, uint32_t number)
{
    doomed *d = NULL;

    for (spool_segment **p = &s->segments; *p != NULL; p = &(*p)->next) {
        if ((*p)->number == number) {
            spool_segment *g = *p;
            *p = g->next;
            free(g);
            break;
        }
    }
    if (s->thread_started)
        d = malloc(sizeof *d);
    if (d == NULL) {
        segment_unlink(s, number);
        return;
    }
    d->number = number;
    d->fd = -1;
    d->next = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->doomed_tail != NULL)
        s->doomed_tail->next = d;
    else
        s->doomed_head = d;
    s->doomed_tail = d;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
}

void spool_wait_removals(spool *s)
{
    if (s == NULL || !s->thread_started)
        return;
    pthread_mutex_lock(&s->lock);
    while (s->doomed_head != NULL || s->retired != NULL || s->removing)
        pthread_cond_wait(&s->idle, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

uint64_t spool_syncs(spool *s)
{
    uint64_t n;

    pthread_mutex_lock(&s->lock);
    n = s->syncs;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Gives the spool's thread a duplicate of the new current segment's
 * descriptor to flush; the previous one is flushed and closed. */
static void hand_sync_fd(spool *s, int fd)
{
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    doomed *d = calloc(1, sizeof *d);

    if (dup_fd < 0)
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: cannot keep a spool descriptor to "
                             "flush; the new segment is not synced: %s",
                             strerror(errno));
    pthread_mutex_lock(&s->lock);
    if (s->sync_fd >= 0) {
        if (d != NULL) {
            d->fd = s->sync_fd;
            d->next = s->retired;
            s->retired = d;
            d = NULL;
        } else {
            /* Without memory to queue it, flushed here, once. */
            flush_fd(s->sync_fd);
            close(s->sync_fd);
        }
    }
    s->sync_fd = dup_fd;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    free(d);
}

static int open_segment(spool *s, uint32_t number)
{
    char path[PATH_MAX];
    int fd;

    segment_path(s, number, path, sizeof path);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot open spool %s: %s",
                             path, strerror(errno));
        return -1;
    }
    if (segment_find(s, number) == NULL && segment_add(s, number) == NULL) {
        close(fd);
        return -1;
    }
    if (s->sync_ms > 0)
        hand_sync_fd(s, fd);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = fd;
    s->current = number;
    s->current_size = lseek(fd, 0, SEEK_END);
    return 0;
}

static int parse_segment_name(const char *name, uint32_t *number)
{
    unsigned int n;
    char tail[8];

    if (sscanf(name, "spool-%8u.%4s", &n, tail) != 2 ||
        strcmp(tail, "log") != 0 || n == 0)
        return -1;
    *number = n;
    return 0;
}

spool *spool_open(const char *dir, long sync_ms)
{
    spool *s = calloc(1, sizeof *s);
    DIR *d = NULL;
    struct dirent *e;
    uint32_t highest = 0;

    if (s == NULL)
        return NULL;
    s->fd = -1;
    s->sync_fd = -1;
    s->sync_ms = sync_ms > 0 ? sync_ms : 0;
    atomic_init(&s->dirty, false);
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    /* The thread's timed waits for the next flush are on the monotonic
     * clock its deadlines are taken from. */
    if (plugin_cond_init_monotonic(&s->work) != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    pthread_cond_init(&s->idle, NULL);
    s->dir = strdup(dir);
    if (s->dir == NULL)
        goto error;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot create %s: %s", dir,
                             strerror(errno));
        goto error;
    }
    d = opendir(dir);
    if (d == NULL) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot read %s: %s", dir,
                             strerror(errno));
        goto error;
    }
    while ((e = readdir(d)) != NULL) {
        uint32_t number;
        if (parse_segment_name(e->d_name, &number) != 0)
            continue;
        if (segment_add(s, number) == NULL)
            goto error;
        if (number > highest)
            highest = number;
    }
    closedir(d);
    d = NULL;
    /* New records go to a fresh segment after the ones left to replay. */
    if (open_segment(s, highest + 1) != 0)
        goto error;
    s->thread_started = plugin_thread_start(&s->thread, spool_thread_main, s) == 0;
    if (!s->thread_started)
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: no spool thread; stored spool segments "
                             "are deleted by the broker's thread and none "
                             "is flushed");
    return s;

error:
    if (d != NULL)
        closedir(d);
    spool_close(s);
    return NULL;
}

uint32_t spool_append(spool *s, const char *json, size_t len)
{
    char stack_buf[4096];
    char *line = len + 1 <= sizeof stack_buf ? stack_buf : malloc(len + 1);
    spool_segment *g;
    ssize_t n;

    if (line == NULL)
        return 0;
    if (s->current_size >= SEGMENT_ROTATE_BYTES &&
        open_segment(s, s->current + 1) != 0) {
        if (line != stack_buf)
            free(line);
        return 0;
    }
    memcpy(line, json, len);
    line[len] = '\n';
    /* One write(2) of the whole line: a killed process leaves the line
     * whole or, at worst, a torn last line that replay skips (and whose
     * publish was never acknowledged). */
    do {
        n = write(s->fd, line, len + 1);
    } while (n < 0 && errno == EINTR);
    if (line != stack_buf)
        free(line);
    if (n != (ssize_t)(len + 1)) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: spool write failed: %s",
                             n < 0 ? strerror(errno) : "short write");
        if (n > 0 && write(s->fd, "\n", 1) != 1) {
            /* Replay skips the torn line either way. */
        }
        return 0;
    }
    s->current_size += n;
    /* The first append since the last flush wakes the spool's thread. */
    if (s->sync_ms > 0 && !atomic_exchange(&s->dirty, true)) {
        pthread_mutex_lock(&s->lock);
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->lock);
    }
    g = segment_find(s, s->current);
    if (g != NULL)
        g->pending++;
    return s->current;
}

void spool_release(spool *s, uint32_t segment, uint32_t count)
{
    spool_segment *g = segment_find(s, segment);

    if (g == NULL)
        return;
    g->pending = g->pending > count ? g->pending - count : 0;
    if (g->pending > 0)
        return;
    if (segment != s->current) {
        segment_drop(s, segment);
    } else if (s->current_size >= SEGMENT_REPLACE_BYTES) {
        /* New records go to a new file; this one goes when the spool's
         * thread gets to it (or is replayed, harmlessly, if the broker
         * dies). */
        if (open_segment(s, segment + 1) == 0)
            segment_drop(s, segment);
    }
}

static int replay_file(spool *s, spool_segment *g,
                       int (*fn)(void *, uint32_t, const char *, size_t),
                       void *arg)
{
    char path[PATH_MAX];
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    segment_path(s, g->number, path, sizeof path);
    f = fopen(path, "re");
    if (f == NULL)
        return errno == ENOENT ? 0 : -1;
    while ((n = getline(&line, &cap, f)) > 0) {
        /* The end: a torn last line (or stray zeros after a crash of the
         * machine), whose publish was never acknowledged. */
        if (line[n - 1] != '\n' || memchr(line, '\0', (size_t)n) != NULL)
            break;
        line[--n] = '\0';
        if (n == 0)
            continue;
        g->pending++;
        if (fn(arg, g->number, line, (size_t)n) != 0) {
            rc = -1;
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

int spool_replay(spool *s, int (*fn)(void *, uint32_t, const char *, size_t),
                 void *arg)
{
    spool_segment *g, *next;

    for (g = s->segments; g != NULL; g = next) {
        next = g->next;
        if (g->number == s->current)
            continue;
        if (replay_file(s, g, fn, arg) != 0)
            return -1;
        if (g->pending == 0)
            segment_drop(s, g->number);
    }
    return 0;
}

void spool_close(spool *s)
{
    spool_segment *g, *next;

    if (s == NULL)
        return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL); /* after doing what is queued */
        s->thread_started = false;
    }
    while (s->retired != NULL) { /* only if the thread never ran */
        doomed *d = s->retired;
        s->retired = d->next;
        flush_fd(d->fd);
        close(d->fd);
        free(d);
    }
    if (s->sync_fd >= 0) {
        if (atomic_load(&s->dirty))
            flush_fd(s->sync_fd);
        close(s->sync_fd);
        s->sync_fd = -1;
    }
    if (s->fd >= 0) {
        /* An empty current segment is not worth keeping. */
        g = segment_find(s, s->current);
        close(s->fd);
        if (g != NULL && g->pending == 0) {
            char path[PATH_MAX];
            segment_path(s, s->current, path, sizeof path);
            unlink(path);
        }
    }
    for (g = s->segments; g != NULL; g = next) {
        next = g->next;
        free(g);
    }
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s->dir);
    free(s);
}
