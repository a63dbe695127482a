/*
 * ids.c - time-ordered 64-bit message ids (see ids.h).
 */
#include "ids.h"

#include <stddef.h>

int id_minter_init(id_minter *m, uint32_t node)
{
    if (node > PARLEY_ID_NODE_MAX)
        return -1;
    m->node = node;
    m->last_ms = 0;
    m->seq = 0;
    return 0;
}

uint64_t id_minter_next(id_minter *m, uint64_t now_unix_ms)
{
    uint64_t ms = now_unix_ms > PARLEY_ID_EPOCH_MS ? now_unix_ms - PARLEY_ID_EPOCH_MS : 0;

    if (ms > m->last_ms) {
        m->last_ms = ms;
        m->seq = 0;
    } else if (m->seq < PARLEY_ID_SEQ_MAX) {
        /* Same millisecond, or the clock stepped back: keep counting. */
        m->seq++;
    } else {
        /* Sequence exhausted: borrow the next millisecond. */
        m->last_ms++;
        m->seq = 0;
    }
    return (m->last_ms << (PARLEY_ID_NODE_BITS + PARLEY_ID_SEQ_BITS)) |
           ((uint64_t)m->node << PARLEY_ID_SEQ_BITS) | m->seq;
}

uint64_t id_unix_ms(uint64_t id)
{
    return (id >> (PARLEY_ID_NODE_BITS + PARLEY_ID_SEQ_BITS)) + PARLEY_ID_EPOCH_MS;
}

uint32_t id_node(uint64_t id)
{
    return (uint32_t)((id >> PARLEY_ID_SEQ_BITS) & PARLEY_ID_NODE_MAX);
}

int id_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;

    if (s == NULL || s[0] == '\0' || (s[0] == '0' && s[1] != '\0'))
        return -1;
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 19)
            return -1;
        v = v * 10 + (uint64_t)(s[n] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = v;
    return 0;
}
