/*
 * test_spool.c - unit tests for plugin/spool.c, the local log that keeps
 * accepted messages across a crash of the broker: records appended and not
 * released are replayed by the next open, in order, whole; released ones are
 * not; a process killed with SIGKILL right after appending loses nothing;
 * a torn last record is skipped; segments are replayed in the order they
 * were written; stored segments are deleted (by the spool's
 * thread), and a grown current segment whose records are all stored is
 * replaced by a new one; with a sync interval, appends are flushed by the
 * spool's thread, and nothing is flushed when nothing was appended.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plugin/plugin_ctx.h"

#define MAX_RECORDS 64

typedef struct replayed {
    size_t n;
    char *records[MAX_RECORDS];
    uint32_t segments[MAX_RECORDS];
} replayed;

static int collect(void *arg, uint32_t segment, const char *json, size_t len)
{
    replayed *r = arg;

    assert_true(r->n < MAX_RECORDS);
    r->records[r->n] = strndup(json, len);
    r->segments[r->n] = segment;
    r->n++;
    return 0;
}

static void replayed_free(replayed *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->records[i]);
    r->n = 0;
}

static int make_dir(void **state)
{
    char tmpl[] = "/tmp/parley-spool-XXXXXX";
    char *dir = mkdtemp(tmpl);

    assert_non_null(dir);
    *state = strdup(dir);
    return 0;
}

static int remove_dir(void **state)
{
    char *dir = *state;
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(dir);
    free(dir);
    return 0;
}

/* Number of segment files in dir and their total size. */
static size_t segment_files(const char *dir, off_t *total)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    char path[512];
    struct stat st;

    *total = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "spool-", 6) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        assert_int_equal(stat(path, &st), 0);
        *total += st.st_size;
        n++;
    }
    closedir(d);
    return n;
}

static void replay_dir(const char *dir, replayed *r)
{
    spool *s = spool_open(dir, 0);

    assert_non_null(s);
    assert_int_equal(spool_replay(s, collect, r), 0);
    spool_close(s);
}

static void test_unreleased_records_come_back_in_order(void **state)
{
    const char *dir = *state;
    spool *s = spool_open(dir, 0);
    replayed r = {0};
    uint32_t seg;

    assert_non_null(s);
    seg = spool_append(s, "{\"n\":1}", 7);
    assert_true(seg >= 1);
    assert_int_equal(spool_append(s, "{\"n\":2}", 7), seg);
    assert_int_equal(spool_append(s, "{\"n\":3}", 7), seg);
    spool_close(s);

    replay_dir(dir, &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.records[0], "{\"n\":1}");
    assert_string_equal(r.records[1], "{\"n\":2}");
    assert_string_equal(r.records[2], "{\"n\":3}");
    replayed_free(&r);
}

static void test_released_records_are_gone(void **state)
{
    const char *dir = *state;
    spool *s = spool_open(dir, 0);
    replayed r = {0};
    uint32_t seg;
    off_t total;

    assert_non_null(s);
    seg = spool_append(s, "{\"n\":1}", 7);
    spool_append(s, "{\"n\":2}", 7);
    spool_release(s, seg, 2);
    spool_close(s);

    replay_dir(dir, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(segment_files(dir, &total), 0);
}

/* A replayed segment stays until every record in it is stored, and is
 * deleted then. */
static void test_replayed_segment_is_deleted_once_stored(void **state)
{
    const char *dir = *state;
    spool *s = spool_open(dir, 0);
    replayed r = {0};
    off_t total;

    assert_non_null(s);
    spool_append(s, "{\"n\":1}", 7);
    spool_append(s, "{\"n\":2}", 7);
    spool_close(s);

    s = spool_open(dir, 0);
    assert_non_null(s);
    assert_int_equal(spool_replay(s, collect, &r), 0);
    assert_int_equal(r.n, 2);
    spool_release(s, r.segments[0], 1);
    spool_wait_removals(s);
    assert_int_equal(segment_files(dir, &total), 2); /* old and current */
    spool_release(s, r.segments[1], 1);
    spool_wait_removals(s);
    assert_int_equal(segment_files(dir, &total), 1); /* current only */
    spool_close(s);
    assert_int_equal(segment_files(dir, &total), 0);
    replayed_free(&r);
}

/* The records are in the file the moment spool_append returns: a process
 * killed right after loses none of them. */
static void test_records_survive_sigkill(void **state)
{
    const char *dir = *state;
    int ready[2];
    pid_t child;
    replayed r = {0};
    char byte;

    assert_int_equal(pipe(ready), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        spool *s = spool_open(dir, 0);
        char rec[64];
        if (s == NULL)
            _exit(1);
        for (int i = 0; i < 40; i++) {
            int len = snprintf(rec, sizeof rec, "{\"n\":%d}", i);
            if (spool_append(s, rec, (size_t)len) == 0)
                _exit(2);
        }
        if (write(ready[1], "x", 1) != 1)
            _exit(3);
        for (;;)
            pause();
    }
    close(ready[1]);
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    replay_dir(dir, &r);
    assert_int_equal(r.n, 40);
    for (size_t i = 0; i < r.n; i++) {
        char want[64];
        snprintf(want, sizeof want, "{\"n\":%zu}", i);
        assert_string_equal(r.records[i], want);
    }
    replayed_free(&r);
}

/* A record cut short (no newline) is the last thing a killed process
 * wrote and was never acknowledged: replay skips it and what follows. */
static void test_torn_last_record_is_skipped(void **state)
{
    const char *dir = *state;
    char path[512];
    int fd;
    replayed r = {0};
    static const char content[] = "{\"n\":1}\n{\"n\":2}\n{\"n\":";

    snprintf(path, sizeof path, "%s/spool-00000007.log", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, sizeof content - 1),
                     (ssize_t)(sizeof content - 1));
    close(fd);

    replay_dir(dir, &r);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.records[0], "{\"n\":1}");
    assert_string_equal(r.records[1], "{\"n\":2}");
    replayed_free(&r);
}

/* Records left in several segments (one per run of the broker) come back
 * in the order they were written. */
static void test_segments_replay_in_order(void **state)
{
    const char *dir = *state;
    replayed r = {0};

    for (int run = 0; run < 12; run++) {
        spool *s = spool_open(dir, 0);
        char rec[32];
        int len = snprintf(rec, sizeof rec, "{\"run\":%d}", run);
        assert_non_null(s);
        assert_true(spool_append(s, rec, (size_t)len) >= 1);
        spool_close(s);
    }
    replay_dir(dir, &r);
    assert_int_equal(r.n, 12);
    for (size_t i = 0; i < r.n; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"run\":%zu}", i);
        assert_string_equal(r.records[i], want);
        if (i > 0)
            assert_true(r.segments[i] > r.segments[i - 1]);
    }
    replayed_free(&r);
}

/* Once the current segment has grown and all its records are stored, it
 * is replaced by a new one and deleted: what is appended next replays
 * alone. */
static void test_stored_current_segment_is_replaced(void **state)
{
    const char *dir = *state;
    spool *s = spool_open(dir, 0);
    char rec[1024];
    uint32_t first, seg = 0;
    size_t n = 0;
    off_t total;
    replayed r = {0};

    assert_non_null(s);
    memset(rec, 'y', sizeof rec);
    rec[0] = '"';
    rec[sizeof rec - 1] = '"';
    first = spool_append(s, rec, sizeof rec);
    n = 1;
    while (n < 2048) { /* 2 MiB, past the size that is worth emptying */
        seg = spool_append(s, rec, sizeof rec);
        assert_int_equal(seg, first);
        n++;
    }
    spool_release(s, first, (uint32_t)n);
    spool_wait_removals(s);
    assert_int_equal(segment_files(dir, &total), 1); /* the new one, empty */
    assert_int_equal(total, 0);
    seg = spool_append(s, "{\"n\":1}", 7);
    assert_true(seg > first);
    spool_close(s);

    replay_dir(dir, &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.records[0], "{\"n\":1}");
    replayed_free(&r);
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Waits (up to 20 s) until the spool's thread has flushed more than
 * `than` times; returns the count. */
static uint64_t wait_syncs(spool *s, uint64_t than)
{
    for (int i = 0; i < 2000 && spool_syncs(s) <= than; i++)
        sleep_ms(10);
    return spool_syncs(s);
}

/* With spool_sync_ms, what is appended is flushed by the spool's thread;
 * an idle spool is not flushed again; the records replay as always. */
static void test_appends_are_flushed_with_a_sync_interval(void **state)
{
    const char *dir = *state;
    spool *s = spool_open(dir, 20);
    replayed r = {0};
    uint64_t after;

    assert_non_null(s);
    assert_int_equal(spool_syncs(s), 0);
    spool_append(s, "{\"n\":1}", 7);
    spool_append(s, "{\"n\":2}", 7);
    after = wait_syncs(s, 0);
    assert_true(after >= 1);
    sleep_ms(200); /* ten intervals without appends */
    assert_int_equal(spool_syncs(s), after);
    spool_append(s, "{\"n\":3}", 7);
    assert_true(wait_syncs(s, after) > after);
    spool_close(s);

    replay_dir(dir, &r);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.records[2], "{\"n\":3}");
    replayed_free(&r);
}

/* Without it, the spool never flushes. */
static void test_no_flush_without_a_sync_interval(void **state)
{
    const char *dir = *state;
    spool *s = spool_open(dir, 0);

    assert_non_null(s);
    spool_append(s, "{\"n\":1}", 7);
    sleep_ms(100);
    assert_int_equal(spool_syncs(s), 0);
    spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_unreleased_records_come_back_in_order, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_released_records_are_gone,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(
            test_replayed_segment_is_deleted_once_stored, make_dir,
            remove_dir),
        cmocka_unit_test_setup_teardown(test_records_survive_sigkill, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(test_torn_last_record_is_skipped,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_segments_replay_in_order,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(
            test_stored_current_segment_is_replaced, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(
            test_appends_are_flushed_with_a_sync_interval, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_no_flush_without_a_sync_interval,
                                        make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
