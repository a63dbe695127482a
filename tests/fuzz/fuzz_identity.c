/*
 * fuzz_identity.c - libFuzzer target for plugin/identity.c, the CONNECT
 * identity rules: device_id_valid and client_id_matches.
 *
 * The input is "<client id>\0<sub>" (without a NUL, the sub is a fixed
 * user uuid).  Both functions must agree with the rules in identity.h
 * written out again here: a device id is [A-Za-z0-9_-]{1,64}, and a client
 * id matches a non-empty sub when it is exactly sub, ':', and a valid
 * device id.  The device part of every client id is checked on its own too.
 */
#include "fuzz_common.h"
#include "plugin/identity.h"

#define DEFAULT_SUB "3f2b8c1e-9a4d-4e2f-8b1c-0d9e8f7a6b5c"

static bool ref_device(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= DEVICE_ID_MAX && ref_all_in(s, n, "_-");
}

static bool ref_matches(const char *cid, const char *sub)
{
    size_t n = strlen(sub);

    return n > 0 && strlen(cid) > n && memcmp(cid, sub, n) == 0 &&
           cid[n] == ':' && ref_device(cid + n + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *cid = fuzz_cstr(data, size);
    const char *nul = memchr(data, '\0', size);
    char *sub = nul != NULL ? fuzz_cstr((const uint8_t *)nul + 1,
                                        size - (size_t)(nul - (const char *)data) - 1)
                            : fuzz_cstr((const uint8_t *)DEFAULT_SUB,
                                        strlen(DEFAULT_SUB));
    const char *colon = strchr(cid, ':');

    FUZZ_CHECK(device_id_valid(cid) == ref_device(cid));
    FUZZ_CHECK(device_id_valid(sub) == ref_device(sub));
    if (colon != NULL)
        FUZZ_CHECK(device_id_valid(colon + 1) == ref_device(colon + 1));
    FUZZ_CHECK(client_id_matches(cid, sub) == ref_matches(cid, sub));
    FUZZ_CHECK(!client_id_matches(NULL, sub) && !client_id_matches(cid, NULL));
    FUZZ_CHECK(!device_id_valid(NULL));
    free(cid);
    free(sub);
    return 0;
}
