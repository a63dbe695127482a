/*
 * log.c - stderr logging (see log.h).
 *
 * Every request writes an access line, so a line costs one write(2) and
 * little else: the stamp is written digit by digit rather than through
 * strftime and stdio, and the line goes out whole in one call, so lines
 * from different threads never interleave.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_MAX 1024 /* a message longer than this is cut */
#define LOG_PREFIX "parley-api: "

/* Writes the n-digit decimal v (zero-padded) at p; returns p + n. */
static char *digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ " for ts at p; returns the end. */
static char *stamp(char *p, const struct timespec *ts)
{
    struct tm tm;

    gmtime_r(&ts->tv_sec, &tm);
    p = digits(p, (unsigned)(tm.tm_year + 1900) % 10000, 4);
    *p++ = '-';
    p = digits(p, (unsigned)tm.tm_mon + 1, 2);
    *p++ = '-';
    p = digits(p, (unsigned)tm.tm_mday, 2);
    *p++ = 'T';
    p = digits(p, (unsigned)tm.tm_hour, 2);
    *p++ = ':';
    p = digits(p, (unsigned)tm.tm_min, 2);
    *p++ = ':';
    p = digits(p, (unsigned)tm.tm_sec, 2);
    *p++ = '.';
    p = digits(p, (unsigned)(ts->tv_nsec / 1000000), 3);
    *p++ = 'Z';
    *p++ = ' ';
    return p;
}

void api_log(const char *fmt, ...)
{
    char line[32 + sizeof LOG_PREFIX + LOG_MSG_MAX];
    struct timespec ts;
    va_list ap;
    size_t n, off = 0;
    int m;

    clock_gettime(CLOCK_REALTIME, &ts);
    n = (size_t)(stamp(line, &ts) - line);
    for (const char *s = LOG_PREFIX; *s != '\0'; s++)
        line[n++] = *s;
    va_start(ap, fmt);
    m = vsnprintf(line + n, LOG_MSG_MAX, fmt, ap);
    va_end(ap);
    if (m > 0)
        n += (size_t)m < LOG_MSG_MAX ? (size_t)m : LOG_MSG_MAX - 1;
    line[n++] = '\n';
    while (off < n) {
        ssize_t w = write(STDERR_FILENO, line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report it */
        off += (size_t)w;
    }
}
