/*
 * broker_stubs.c - stand-ins for the mosquitto broker functions that plugin
 * code calls, so unit tests can link the plugin's objects without a broker.
 *
 * Every stub is deterministic and does no I/O beyond optional logging:
 *
 * - mosquitto_log_printf prints to stderr only when the environment variable
 *   PARLEY_TEST_LOG is set, so test output stays quiet by default.
 * - The allocator calls forward to libc (what the broker does too, minus its
 *   memory accounting).
 * - A client is a struct stub_client (below) cast to struct mosquitto *:
 *
 *       struct stub_client c = {.id = "u:phone", .username = "u",
 *                               .protocol_version = 5};
 *       plugin_fn((struct mosquitto *)&c);
 *
 *   mosquitto_client_id/username/protocol_version/address read its fields
 *   (NULL or 0 for a NULL client); mosquitto_set_username copies into
 *   username_buf and points username at it.
 *   mosquitto_client_sub_count and mosquitto_client_clean_session answer
 *   stub_sub_count (1) and stub_clean_session (true) for every client.
 * - mosquitto_broker_publish records its last call in stub_publish (the
 *   payload is copied, up to STUB_PAYLOAD_MAX bytes) and, like the broker on
 *   success, takes ownership of the payload by freeing it.  A test may set
 *   stub_publish_result to a MOSQ_ERR_* code to make the next calls fail;
 *   then, as in the broker, the payload stays the caller's.
 *   mosquitto_broker_publish_copy records the same way and never frees.
 * - The kick and callback calls count and record their arguments.
 * - parley_now_ms (plugin/plugin.c, which unit tests do not link) is given a
 *   weak definition: the wall clock, or stub_now_ms when a test sets it
 *   non-zero.  A real definition linked in wins over it.
 *
 * stub_reset() puts every recorded value back to its initial state.  Tests
 * declare what they use themselves (there is no header), e.g.:
 *
 *     struct stub_client { const char *id; const char *username;
 *                          int protocol_version; const char *address;
 *                          char username_buf[256]; };
 *     extern struct stub_publish_record stub_publish;
 *     void stub_reset(void);
 */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STUB_STR_MAX 256
#define STUB_PAYLOAD_MAX 65536

/* What a test passes, cast to struct mosquitto *, as a client. */
struct stub_client {
    const char *id;
    const char *username;
    int protocol_version; /* 3, 4 or 5; 0 for unknown */
    const char *address;  /* e.g. "127.0.0.1" */
    char username_buf[STUB_STR_MAX]; /* written by mosquitto_set_username */
};

/* The last mosquitto_broker_publish call. */
struct stub_publish_record {
    int count; /* calls since stub_reset, failed ones included */
    int has_clientid;
    char clientid[STUB_STR_MAX];
    char topic[STUB_STR_MAX];
    int payloadlen;
    unsigned char payload[STUB_PAYLOAD_MAX + 1]; /* NUL-terminated copy */
    int qos;
    bool retain;
    mosquitto_property *properties; /* recorded, never freed */
};

struct stub_publish_record stub_publish;
int stub_publish_result = MOSQ_ERR_SUCCESS;

int stub_kick_count;
int stub_kick_with_will;
char stub_kick_username[STUB_STR_MAX]; /* "" when the last kick was by id */
char stub_kick_clientid[STUB_STR_MAX]; /* "" when the last kick was by name */

int stub_callbacks_registered; /* registrations minus unregistrations */
int stub_callback_last_event;

int64_t stub_now_ms; /* 0: parley_now_ms reads the wall clock */

void stub_reset(void);

void stub_reset(void)
{
    memset(&stub_publish, 0, sizeof stub_publish);
    stub_publish_result = MOSQ_ERR_SUCCESS;
    stub_kick_count = 0;
    stub_kick_with_will = 0;
    stub_kick_username[0] = '\0';
    stub_kick_clientid[0] = '\0';
    stub_callbacks_registered = 0;
    stub_callback_last_event = 0;
    stub_now_ms = 0;
}

int64_t parley_now_ms(void) __attribute__((weak));
int64_t parley_now_ms(void)
{
    struct timespec ts;

    if (stub_now_ms != 0)
        return stub_now_ms;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_str(char *dst, const char *src)
{
    snprintf(dst, STUB_STR_MAX, "%s", src != NULL ? src : "");
}

void mosquitto_log_printf(int level, const char *fmt, ...)
{
    va_list ap;

    if (getenv("PARLEY_TEST_LOG") == NULL)
        return;
    fprintf(stderr, "[log %d] ", level);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void *mosquitto_malloc(size_t size)
{
    return malloc(size);
}

void *mosquitto_calloc(size_t nmemb, size_t size)
{
    return calloc(nmemb, size);
}

void *mosquitto_realloc(void *ptr, size_t size)
{
    return realloc(ptr, size);
}

void mosquitto_free(void *mem)
{
    free(mem);
}

char *mosquitto_strdup(const char *s)
{
    return strdup(s);
}

const char *mosquitto_client_id(const struct mosquitto *client)
{
    const struct stub_client *c = (const struct stub_client *)client;

    return c != NULL ? c->id : NULL;
}

int stub_sub_count = 1;
bool stub_clean_session = true;

int mosquitto_client_sub_count(const struct mosquitto *client)
{
    (void)client;
    return stub_sub_count;
}

bool mosquitto_client_clean_session(const struct mosquitto *client)
{
    (void)client;
    return stub_clean_session;
}

const char *mosquitto_client_username(const struct mosquitto *client)
{
    const struct stub_client *c = (const struct stub_client *)client;

    return c != NULL ? c->username : NULL;
}

int mosquitto_client_protocol_version(const struct mosquitto *client)
{
    const struct stub_client *c = (const struct stub_client *)client;

    return c != NULL ? c->protocol_version : 0;
}

const char *mosquitto_client_address(const struct mosquitto *client)
{
    const struct stub_client *c = (const struct stub_client *)client;

    return c != NULL ? c->address : NULL;
}

int mosquitto_set_username(struct mosquitto *client, const char *username)
{
    struct stub_client *c = (struct stub_client *)client;

    if (c == NULL || (username != NULL && username[0] == '\0'))
        return MOSQ_ERR_INVAL;
    if (username == NULL) {
        c->username = NULL;
        return MOSQ_ERR_SUCCESS;
    }
    if (strlen(username) >= sizeof c->username_buf)
        return MOSQ_ERR_NOMEM;
    strcpy(c->username_buf, username);
    c->username = c->username_buf;
    return MOSQ_ERR_SUCCESS;
}

static void record_publish(const char *clientid, const char *topic,
                           int payloadlen, const void *payload, int qos,
                           bool retain, mosquitto_property *properties)
{
    size_t n;

    stub_publish.count++;
    stub_publish.has_clientid = clientid != NULL;
    copy_str(stub_publish.clientid, clientid);
    copy_str(stub_publish.topic, topic);
    stub_publish.payloadlen = payloadlen;
    n = payloadlen > 0 ? (size_t)payloadlen : 0;
    if (n > STUB_PAYLOAD_MAX)
        n = STUB_PAYLOAD_MAX;
    if (n > 0 && payload != NULL)
        memcpy(stub_publish.payload, payload, n);
    stub_publish.payload[n] = '\0';
    stub_publish.qos = qos;
    stub_publish.retain = retain;
    stub_publish.properties = properties;
}

/* The broker's own argument checks, then the result a test asked for. */
static int publish_result(const char *topic, int payloadlen,
                          const void *payload, int qos)
{
    if (stub_publish_result != MOSQ_ERR_SUCCESS)
        return stub_publish_result;
    if (topic == NULL || payloadlen < 0 || (payloadlen > 0 && payload == NULL) ||
        qos < 0 || qos > 2)
        return MOSQ_ERR_INVAL;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_broker_publish(const char *clientid, const char *topic,
                             int payloadlen, void *payload, int qos,
                             bool retain, mosquitto_property *properties)
{
    int rc;

    record_publish(clientid, topic, payloadlen, payload, qos, retain,
                   properties);
    rc = publish_result(topic, payloadlen, payload, qos);
    if (rc == MOSQ_ERR_SUCCESS)
        free(payload); /* the broker's on success only */
    return rc;
}

int mosquitto_broker_publish_copy(const char *clientid, const char *topic,
                                  int payloadlen, const void *payload, int qos,
                                  bool retain, mosquitto_property *properties)
{
    record_publish(clientid, topic, payloadlen, payload, qos, retain,
                   properties);
    return publish_result(topic, payloadlen, payload, qos);
}

int mosquitto_kick_client_by_username(const char *username, bool with_will)
{
    stub_kick_count++;
    stub_kick_with_will = with_will;
    copy_str(stub_kick_username, username);
    stub_kick_clientid[0] = '\0';
    return MOSQ_ERR_SUCCESS;
}

void mosquitto_property_free_all(mosquitto_property **properties)
{
    /* Unit tests never build property lists. */
    if (properties != NULL)
        *properties = NULL;
}

int mosquitto_kick_client_by_clientid(const char *clientid, bool with_will)
{
    stub_kick_count++;
    stub_kick_with_will = with_will;
    copy_str(stub_kick_clientid, clientid);
    stub_kick_username[0] = '\0';
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_callback_register(mosquitto_plugin_id_t *identifier, int event,
                                MOSQ_FUNC_generic_callback cb_func,
                                const void *event_data, void *userdata)
{
    (void)identifier;
    (void)event_data;
    (void)userdata;
    if (cb_func == NULL)
        return MOSQ_ERR_INVAL;
    stub_callbacks_registered++;
    stub_callback_last_event = event;
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_callback_unregister(mosquitto_plugin_id_t *identifier, int event,
                                  MOSQ_FUNC_generic_callback cb_func,
                                  const void *event_data)
{
    (void)identifier;
    (void)event_data;
    if (cb_func == NULL)
        return MOSQ_ERR_INVAL;
    stub_callbacks_registered--;
    stub_callback_last_event = event;
    return MOSQ_ERR_SUCCESS;
}
