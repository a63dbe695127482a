/*
 * validate.h - pure checks of the names and strings clients send: usernames,
 * device names, passwords, display names, conversation titles, message
 * bodies and account roles (conversation roles: common/roles.h).
 * Every function takes an explicit length, so embedded NULs are refused
 * rather than silently truncating the value.
 */
#ifndef PARLEY_API_VALIDATE_H
#define PARLEY_API_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "roles.h"

#define USERNAME_MIN 3
#define USERNAME_MAX 32
#define DEVICE_MAX 64
#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024
#define DISPLAY_NAME_MAX 64   /* characters (code points), as the schema */
#define TITLE_MAX 128         /* characters (code points), as the schema */
#define MESSAGE_BODY_MAX 4000 /* characters, as the broker's default */

/* ^[A-Za-z0-9_.-]{3,32}$ */
bool username_valid(const char *s, size_t len);

/* ^[A-Za-z0-9_-]{1,64}$ (the device part of an MQTT client id) */
bool device_valid(const char *s, size_t len);

/* 8..1024 bytes, no NUL. */
bool password_valid(const char *s, size_t len);

/* Valid UTF-8 of 1..max_chars code points, no control characters (C0, DEL,
 * C1), not only spaces.  Used for display names and titles. */
bool text_label_valid(const char *s, size_t len, size_t max_chars);

/* A message body as an edit sets it: valid UTF-8 of 1..MESSAGE_BODY_MAX
 * code points, no NUL.  The broker's rule for a text message's body. */
bool message_body_valid(const char *s, size_t len);

typedef enum user_role {
    USER_ROLE_USER,
    USER_ROLE_ADMIN,
    USER_ROLE_DEVICE,
} user_role;

/* Parses "user", "admin" or "device".  Returns 0, or -1. */
int user_role_parse(const char *s, user_role *out);


#endif
