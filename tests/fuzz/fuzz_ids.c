/*
 * fuzz_ids.c - libFuzzer target for common/ids.c.
 *
 * The first input byte picks a mode:
 *   even  parse:  the rest, as a C string, goes to id_parse.  It must accept
 *                 exactly the canonical decimals 0..INT64_MAX (no sign,
 *                 space or leading zero), and what it accepts must print back
 *                 identically with snprintf("%llu").
 *   odd   mint:   the rest drives an id_minter: two bytes of node id, then
 *                 8-byte clock readings (kept within the 41-bit range the
 *                 format allows, going backwards as often as forwards).
 *                 Every id must be greater than the one before, carry the
 *                 node, encode a time no earlier than the latest clock
 *                 reading, and round-trip through its decimal form.
 */
#include <inttypes.h>

#include "common/ids.h"
#include "fuzz_common.h"

static void check_parse(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    char back[32];
    uint64_t v = 0;
    int rc = id_parse(s, &v);

    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == ref_decimal_id(s));
    if (rc == 0) {
        FUZZ_CHECK(v <= (uint64_t)INT64_MAX);
        snprintf(back, sizeof back, "%llu", (unsigned long long)v);
        FUZZ_CHECK(strcmp(back, s) == 0);
    }
    free(s);
}

static void check_mint(const uint8_t *data, size_t size)
{
    /* Clock readings from a little before the epoch to 2^40 ms after it:
     * the minter may run ahead of the clock by one ms per 4096 ids, which
     * stays far below the 41-bit limit. */
    const uint64_t lo = PARLEY_ID_EPOCH_MS - 1000000, span = 1ULL << 40;
    id_minter m;
    uint32_t node;
    uint64_t prev = 0, latest_ms = 0;
    bool first = true;
    size_t budget = 5000; /* ids per input, to keep executions fast */

    if (size < 2)
        return;
    node = ((uint32_t)data[0] << 8 | data[1]) & 0x7ff; /* may be too big */
    if (id_minter_init(&m, node) != 0) {
        FUZZ_CHECK(node > PARLEY_ID_NODE_MAX);
        return;
    }
    FUZZ_CHECK(node <= PARLEY_ID_NODE_MAX);
    data += 2;
    size -= 2;
    while (size >= 8 && budget > 0) {
        uint64_t raw = 0, now, id;
        char buf[32];
        uint64_t parsed;
        /* Several ids per reading; 15 asks for more than a millisecond's
         * 4096 sequence numbers, so the minter must borrow the next one. */
        int repeat = (data[0] & 0x0f) == 0x0f ? 4200 : data[0] & 0x0f;

        for (int i = 0; i < 8; i++)
            raw = raw << 8 | data[i];
        data += 8;
        size -= 8;
        now = lo + raw % span;
        if (now > latest_ms)
            latest_ms = now;
        for (int r = 0; r <= repeat; r++) {
            id = id_minter_next(&m, now);
            FUZZ_CHECK(first || id > prev);
            FUZZ_CHECK(id <= (uint64_t)INT64_MAX);
            FUZZ_CHECK(id_node(id) == node);
            FUZZ_CHECK(latest_ms < PARLEY_ID_EPOCH_MS ||
                       id_unix_ms(id) >= latest_ms);
            if (r % 64 == 0 || r == repeat) {
                snprintf(buf, sizeof buf, "%" PRIu64, id);
                FUZZ_CHECK(strlen(buf) <= PARLEY_ID_STR_MAX);
                FUZZ_CHECK(id_parse(buf, &parsed) == 0 && parsed == id);
            }
            prev = id;
            first = false;
            if (--budget == 0)
                break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if ((data[0] & 1) == 0)
        check_parse(data + 1, size - 1);
    else
        check_mint(data + 1, size - 1);
    return 0;
}
