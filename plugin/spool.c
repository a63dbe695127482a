/*
 * spool.c - the local log that makes an accepted message survive the
 * broker's death before the writer has stored it.
 *
 * Each rewritten message is appended as one line to the current segment file
 * (spool-NNNNNNNN.log) before the broker acknowledges the publish.  A
 * segment's blocks are allocated when it is created and the file is mapped
 * into memory, so an append is a copy into the page cache, with no system
 * call: what the process wrote is in the file even if it is killed the next
 * instant (the same guarantee as write(2), which is the fallback when the
 * file cannot be mapped).  The unused tail of a segment reads as zero bytes;
 * a segment is cut to its used length when it is closed.
 *
 * The writer reports stored records back per segment; a segment whose
 * records are all stored is deleted (the current one too, once it has grown:
 * new records then go to a fresh segment).  At start, segments left by an
 * earlier run are replayed into the writer, whose inserts are idempotent.
 * Main thread only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_ctx.h"

/* A new segment's size (more if one record needs it). */
#define SEGMENT_BYTES (8 * 1024 * 1024)
/* A current segment whose records are all stored is replaced by a fresh one
 * once it holds this much. */
#define SEGMENT_RECYCLE_BYTES (1024 * 1024)

typedef struct spool_segment {
    uint32_t number;
    uint64_t pending; /* records appended or replayed, not yet stored */
    struct spool_segment *next;
} spool_segment;

struct spool {
    char *dir;
    int fd;            /* current segment */
    uint32_t current;  /* its number */
    char *map;         /* its mapping, or NULL: appended with write(2) */
    size_t capacity;   /* bytes allocated (and mapped) */
    size_t used;       /* bytes holding records */
    spool_segment *segments;
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

static void segment_drop(spool *s, uint32_t number)
{
    char path[PATH_MAX];

    for (spool_segment **p = &s->segments; *p != NULL; p = &(*p)->next) {
        if ((*p)->number == number) {
            spool_segment *g = *p;
            *p = g->next;
            free(g);
            break;
        }
    }
    segment_path(s, number, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "parley: cannot remove %s: %s",
                             path, strerror(errno));
}

/* Unmaps and closes the current segment, cut to the length it uses (the
 * mapping is gone first, so the cut cannot fault a later access). */
static void close_current(spool *s)
{
    if (s->fd < 0)
        return;
    if (s->map != NULL)
        munmap(s->map, s->capacity);
    if (ftruncate(s->fd, (off_t)s->used) != 0) {
        /* The zero tail then stays; replay stops at it either way. */
    }
    close(s->fd);
    s->fd = -1;
    s->map = NULL;
    s->capacity = s->used = 0;
}

/* Makes segment number the current one, with room for at least need
 * bytes: its blocks allocated up front (so a full disk refuses here, not
 * in the middle of a copy) and the file mapped. */
static int open_segment(spool *s, uint32_t number, size_t need)
{
    char path[PATH_MAX];
    long page = sysconf(_SC_PAGESIZE);
    size_t capacity = need > SEGMENT_BYTES ? need : SEGMENT_BYTES;
    int fd, rc;
    char *map;

    capacity = (capacity + (size_t)page - 1) / (size_t)page * (size_t)page;
    segment_path(s, number, path, sizeof path);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: cannot open spool %s: %s",
                             path, strerror(errno));
        return -1;
    }
    rc = posix_fallocate(fd, 0, (off_t)capacity);
    if (rc != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR,
                             "parley: cannot allocate spool %s: %s", path,
                             strerror(rc));
        close(fd);
        unlink(path);
        return -1;
    }
    map = mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "parley: cannot map spool %s (%s); writing it",
                             path, strerror(errno));
        map = NULL;
    }
    if (segment_find(s, number) == NULL && segment_add(s, number) == NULL) {
        if (map != NULL)
            munmap(map, capacity);
        close(fd);
        unlink(path);
        return -1;
    }
    close_current(s);
    s->fd = fd;
    s->current = number;
    s->map = map;
    s->capacity = capacity;
    s->used = 0;
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

/* The fallback append: the whole line in one pwrite(2), so a killed
 * process leaves it whole or, at worst, torn without its newline. */
static int append_write(spool *s, const char *json, size_t len)
{
    char stack_buf[4096];
    char *line = len + 1 <= sizeof stack_buf ? stack_buf : malloc(len + 1);
    ssize_t n;

    if (line == NULL)
        return -1;
    memcpy(line, json, len);
    line[len] = '\n';
    do {
        n = pwrite(s->fd, line, len + 1, (off_t)s->used);
    } while (n < 0 && errno == EINTR);
    if (line != stack_buf)
        free(line);
    if (n != (ssize_t)(len + 1)) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "parley: spool write failed: %s",
                             n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

spool *spool_open(const char *dir)
{
    spool *s = calloc(1, sizeof *s);
    DIR *d = NULL;
    struct dirent *e;
    uint32_t highest = 0;

    if (s == NULL)
        return NULL;
    s->fd = -1;
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
    if (open_segment(s, highest + 1, 0) != 0)
        goto error;
    return s;

error:
    if (d != NULL)
        closedir(d);
    spool_close(s);
    return NULL;
}

uint32_t spool_append(spool *s, const char *json, size_t len)
{
    size_t need = len + 1;
    spool_segment *g;

    if (s->used + need > s->capacity &&
        open_segment(s, s->current + 1, need) != 0)
        return 0;
    if (s->map != NULL) {
        memcpy(s->map + s->used, json, len);
        /* The newline goes in after the record (the compiler may not move
         * it earlier): a process killed halfway leaves a line without one,
         * which replay skips (its publish was never acknowledged). */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        s->map[s->used + len] = '\n';
    } else if (append_write(s, json, len) != 0) {
        return 0;
    }
    s->used += need;
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
    } else if (s->used >= SEGMENT_RECYCLE_BYTES &&
               open_segment(s, s->current + 1, 0) == 0) {
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
        /* The end: zeros (the unused tail of a segment) or a torn last
         * line, whose publish was never acknowledged. */
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
    if (s->fd >= 0) {
        /* A current segment with nothing left to store is not worth
         * keeping. */
        g = segment_find(s, s->current);
        close_current(s);
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
    free(s->dir);
    free(s);
}
