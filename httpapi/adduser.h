/*
 * adduser.h - `parley-api adduser`: creates an account, or updates the
 * password and role (and display name, when given) of an existing one, so
 * deployment scripts can run it on every start.
 */
#ifndef PARLEY_API_ADDUSER_H
#define PARLEY_API_ADDUSER_H

#include <stdio.h>

#include "config.h"

/* Reads one line from in into buf (bufsize bytes) without its line end
 * ("\n" or "\r\n").  Returns the length, or -1 at end of input before any
 * byte, for a line that does not fit, or one holding a NUL. */
long password_read_line(FILE *in, char *buf, size_t bufsize);

/* Runs the command for cfg (username, role, display_name, database_url).
 * The password comes from PARLEY_NEW_PASSWORD, or else one line of stdin.
 * Prints the outcome.  Returns 0, or -1 (printed on stderr). */
int adduser_run(const api_config *cfg);

#endif
