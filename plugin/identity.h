/*
 * identity.h - the identity rules of an MQTT CONNECT: username is the
 * token's sub, client id is "<sub>:<device>".  Pure functions.
 */
#ifndef PARLEY_IDENTITY_H
#define PARLEY_IDENTITY_H

#include <stdbool.h>

#define DEVICE_ID_MAX 64

/* True if device matches [A-Za-z0-9_-]{1,64}. */
bool device_id_valid(const char *device);

/* True if client_id is exactly sub, ':', and a valid device id. */
bool client_id_matches(const char *client_id, const char *sub);

#endif
