/*
 * fuzz_query.c - libFuzzer target for the API's query-string handling:
 * percent_decode and query_param_get (httpapi/request.c),
 * history_query_parse (httpapi/handlers_messages.c: before, after, limit)
 * and sync_query_parse (httpapi/handlers_sync.c: since, limit).
 *
 * The input is a raw query string (what follows '?').  It is percent-
 * decoded whole, then split into parameters the way libmicrohttpd hands
 * them over ('&' between pairs, the first '=' between key and value, no
 * '=' meaning no value), each decoded as request_collect_params does (at
 * most REQUEST_PARAMS_MAX; any bad escape makes the request a 400), and the
 * parameters go to history_query_parse and sync_query_parse.
 *
 * Invariants:
 *   - percent_decode agrees with a reference decoder (a bad escape, %00 or
 *     a raw NUL is refused), never writes past len + 1 bytes (the output
 *     buffer is exactly that size), NUL-terminates, and what it decodes
 *     re-encodes (every byte as %XX) and decodes back to the same bytes;
 *   - query_param_get finds the only occurrence of a key, or none;
 *   - history_query_parse and sync_query_parse accept exactly the queries
 *     the rules in handlers_messages.h and handlers_sync.h allow, and on
 *     success give the direction, bound, cursor and limit the query named.
 */
#include "fuzz_common.h"
#include "httpapi/handlers_messages.h"
#include "httpapi/handlers_sync.h"
#include "httpapi/request.h"

static int hexval(char c)
{
    const char *digits = "0123456789abcdef0123456789ABCDEF";
    const char *p = c != '\0' ? strchr(digits, c) : NULL;

    return p == NULL ? -1 : (int)((p - digits) % 16);
}

/* Reference decoder: returns a malloc'd buffer and *n, or NULL. */
static char *ref_decode(const char *in, size_t len, size_t *n)
{
    char *out = malloc(len + 1);
    size_t o = 0;

    FUZZ_CHECK(out != NULL);
    for (size_t i = 0; i < len; i++) {
        int v;
        if (in[i] == '\0')
            goto bad;
        if (in[i] != '%') {
            out[o++] = in[i];
            continue;
        }
        if (i + 2 >= len)
            goto bad;
        if (hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0)
            goto bad;
        v = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);
        if (v == 0)
            goto bad;
        out[o++] = (char)v;
        i += 2;
    }
    out[o] = '\0';
    *n = o;
    return out;
bad:
    free(out);
    return NULL;
}

/* percent_decode into an exact-size buffer, with the invariants above.
 * Returns the malloc'd result or NULL. */
static char *decode_checked(const char *in, size_t len, size_t *n)
{
    char *out = malloc(len + 1), *ref;
    size_t ref_n = 0;
    int rc;

    FUZZ_CHECK(out != NULL);
    rc = percent_decode(in, len, out, n);
    ref = ref_decode(in, len, &ref_n);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == (ref != NULL));
    if (rc != 0) {
        free(out);
        return NULL;
    }
    FUZZ_CHECK(*n == ref_n && memcmp(out, ref, ref_n) == 0);
    FUZZ_CHECK(out[*n] == '\0' && memchr(out, '\0', *n) == NULL);
    free(ref);
    return out;
}

static void check_roundtrip(const char *bytes, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char *enc = malloc(3 * n + 1), *dec;
    size_t m = 0;

    FUZZ_CHECK(enc != NULL);
    for (size_t i = 0; i < n; i++) {
        enc[3 * i] = '%';
        enc[3 * i + 1] = hex[(unsigned char)bytes[i] >> 4];
        enc[3 * i + 2] = hex[(unsigned char)bytes[i] & 15];
    }
    dec = decode_checked(enc, 3 * n, &m);
    FUZZ_CHECK(dec != NULL && m == n && memcmp(dec, bytes, n) == 0);
    free(dec);
    free(enc);
}

typedef struct ref_param {
    int count;
    const char *value; /* of the last occurrence; "" for no '=' */
} ref_param;

static ref_param lookup(const query_param *p, size_t n, const char *key)
{
    ref_param r = {0, NULL};

    for (size_t i = 0; i < n; i++) {
        if (strcmp(p[i].key, key) == 0) {
            r.count++;
            r.value = p[i].value != NULL ? p[i].value : "";
        }
    }
    return r;
}

static void check_get(const query_param *p, size_t n, const char *key)
{
    bool dup = true;
    const char *v = query_param_get(p, n, key, &dup);
    ref_param r = lookup(p, n, key);

    FUZZ_CHECK(dup == (r.count > 1));
    FUZZ_CHECK((v == NULL) == (r.count == 0));
    if (r.count == 1)
        FUZZ_CHECK(strcmp(v, r.value) == 0);
}

static void check_history(const query_param *p, size_t n)
{
    ref_param before = lookup(p, n, "before"), after = lookup(p, n, "after");
    ref_param limit = lookup(p, n, "limit");
    history_query q;
    const char *why = NULL;
    bool expect = true;
    unsigned long long lim = 0;
    int rc;

    if (before.count > 1 || after.count > 1 || limit.count > 1)
        expect = false;
    if (before.count == 1 && !ref_decimal_id(before.value))
        expect = false;
    if (after.count == 1 && !ref_decimal_id(after.value))
        expect = false;
    if (before.count > 0 && after.count > 0)
        expect = false;
    if (limit.count == 1) {
        lim = ref_decimal_id(limit.value) ? strtoull(limit.value, NULL, 10)
                                          : 0;
        if (lim < 1 || lim > HISTORY_LIMIT_MAX)
            expect = false;
    }

    rc = history_query_parse(p, n, &q, &why);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == expect);
    if (rc != 0) {
        FUZZ_CHECK(why != NULL && why[0] != '\0');
        return;
    }
    FUZZ_CHECK(q.limit == (limit.count == 1 ? lim : HISTORY_LIMIT_DEFAULT));
    FUZZ_CHECK(q.limit >= 1 && q.limit <= HISTORY_LIMIT_MAX);
    if (before.count == 1) {
        FUZZ_CHECK(q.direction == HISTORY_BEFORE);
        FUZZ_CHECK(q.bound == strtoull(before.value, NULL, 10));
    } else if (after.count == 1) {
        FUZZ_CHECK(q.direction == HISTORY_AFTER);
        FUZZ_CHECK(q.bound == strtoull(after.value, NULL, 10));
    } else {
        FUZZ_CHECK(q.direction == HISTORY_LATEST && q.bound == 0);
    }
    FUZZ_CHECK(q.bound <= (uint64_t)INT64_MAX);
}

static void check_sync(const query_param *p, size_t n)
{
    ref_param since = lookup(p, n, "since"), limit = lookup(p, n, "limit");
    sync_query q;
    const char *why = NULL;
    bool expect = since.count <= 1 && limit.count <= 1;
    unsigned long long lim = SYNC_LIMIT_DEFAULT;
    int rc;

    if (since.count == 1 && !ref_decimal_id(since.value))
        expect = false;
    if (limit.count == 1) {
        lim = ref_decimal_id(limit.value) ? strtoull(limit.value, NULL, 10)
                                          : 0;
        if (lim < 1 || lim > SYNC_LIMIT_MAX)
            expect = false;
    }
    rc = sync_query_parse(p, n, &q, &why);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == expect);
    if (rc != 0) {
        FUZZ_CHECK(why != NULL && why[0] != '\0');
        return;
    }
    FUZZ_CHECK(q.limit == lim);
    FUZZ_CHECK(q.since ==
               (since.count == 1 ? strtoull(since.value, NULL, 10) : 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *raw = malloc(size > 0 ? size : 1), *whole;
    query_param params[REQUEST_PARAMS_MAX];
    size_t n_params = 0, n = 0;
    bool bad = false;

    FUZZ_CHECK(raw != NULL);
    if (size > 0)
        memcpy(raw, data, size);

    whole = decode_checked(raw, size, &n);
    if (whole != NULL)
        check_roundtrip(whole, n);
    free(whole);

    /* Split and decode as libmicrohttpd and collect_one would. */
    for (size_t i = 0; i < size && !bad;) {
        size_t end = i, eq;
        while (end < size && raw[end] != '&')
            end++;
        eq = i;
        while (eq < end && raw[eq] != '=')
            eq++;
        if (n_params == REQUEST_PARAMS_MAX) {
            bad = true;
            break;
        }
        size_t kn = 0, vn = 0;
        char *k = decode_checked(raw + i, eq - i, &kn), *v = NULL;
        if (eq < end)
            v = decode_checked(raw + eq + 1, end - eq - 1, &vn);
        if (k == NULL || (eq < end && v == NULL)) {
            free(k);
            free(v);
            bad = true;
            break;
        }
        params[n_params].key = k;
        params[n_params].value = v;
        n_params++;
        i = end + 1;
    }
    if (!bad) {
        check_get(params, n_params, "before");
        check_get(params, n_params, "after");
        check_get(params, n_params, "limit");
        check_get(params, n_params, "since");
        check_history(params, n_params);
        check_sync(params, n_params);
    }
    for (size_t i = 0; i < n_params; i++) {
        free(params[i].key);
        free(params[i].value);
    }
    {
        char url[] = "/v1/me?a=%20b";
        FUZZ_CHECK(request_unescape_none(NULL, NULL, url) == strlen(url));
    }
    free(raw);
    return 0;
}
