/*
 * identity.c - the identity rules of an MQTT CONNECT (see identity.h).
 */
#include "identity.h"

#include <string.h>

bool device_id_valid(const char *device)
{
    size_t n = 0;

    if (device == NULL)
        return false;
    for (; device[n] != '\0'; n++) {
        char c = device[n];
        if (n >= DEVICE_ID_MAX ||
            !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

bool client_id_matches(const char *client_id, const char *sub)
{
    size_t n;

    if (client_id == NULL || sub == NULL)
        return false;
    n = strlen(sub);
    return n > 0 && strncmp(client_id, sub, n) == 0 && client_id[n] == ':' &&
           device_id_valid(client_id + n + 1);
}
