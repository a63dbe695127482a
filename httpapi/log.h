/*
 * log.h - one-line log messages on stderr, prefixed with the time and
 * "parley-api".  Safe from any thread (one fprintf per message).  Never
 * pass tokens, passwords or secrets.
 */
#ifndef PARLEY_API_LOG_H
#define PARLEY_API_LOG_H

void api_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
