/*
 * acl.c - MOSQ_EVT_ACL_CHECK: every publish, subscription and delivery is
 * decided by topic_acl.c against the membership cache, for the user that
 * auth recorded for this connection.  A client without a session (which
 * auth never let in, or one already gone, as when the broker sends a will
 * after a disconnect) gets nothing.
 */
#include "plugin_ctx.h"
#include "topic_acl.h"

int parley_on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    parley_ctx *ctx = userdata;
    const client_session *s = sessions_get(ctx, ed->client);
    acl_subject who;
    acl_verdict v = ACL_DENY;

    (void)event;
    if (s == NULL)
        return MOSQ_ERR_ACL_DENIED;
    /* A connection being taken over or kicked publishes nothing more: this
     * is what stops the will the broker sends on its behalf. */
    if (session_is_closing(s) && ed->access == MOSQ_ACL_WRITE)
        return MOSQ_ERR_ACL_DENIED;
    who.user = *session_user(s);
    who.is_admin = session_is_admin(s);
    switch (ed->access) {
    case MOSQ_ACL_SUBSCRIBE:
        v = acl_may_subscribe(&who, ed->topic, ctx->members);
        break;
    case MOSQ_ACL_UNSUBSCRIBE:
        v = ACL_ALLOW;
        break;
    case MOSQ_ACL_WRITE:
        v = acl_may_publish(&who, ed->topic, ed->retain, ctx->members);
        break;
    case MOSQ_ACL_READ:
        v = acl_may_read(&who, ed->topic, ctx->members);
        break;
    default:
        v = ACL_DENY;
    }
    return v == ACL_ALLOW ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}
