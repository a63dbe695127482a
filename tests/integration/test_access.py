"""test_access.py - who may connect, subscribe and publish where.

Per DESIGN.md ("Identity and tokens", "Topics (v1)"): a conversation's
topics are for its members only; wide filters, shared subscriptions,
$SYS, other users' inboxes and retained publishes are refused; membership
changes made through the API reach the broker without reconnecting; and a
CONNECT whose username, client id or password does not fit its token is
refused.
"""

import json
import types

import pytest

from chat_support import (
    CONNACK_NOT_AUTHORIZED,
    MEMBERSHIP_WAIT,
    RC_BAD_USERNAME_OR_PASSWORD,
    RC_NOT_AUTHORIZED,
    SUBACK_FAILURE,
    V311,
    V5,
    add_member,
    barrier,
    create_conversation,
    history,
    history_messages,
    new_txn,
    remove_member,
    text_message,
    wait_broker_dropped,
)
from chat_support import http, new_user, open_peer, try_connect  # noqa: F401  (pytest fixtures)


@pytest.fixture
def group(http, new_user, open_peer):
    """A group of owner and member, both subscribed to its messages and
    their inboxes, and an outsider connected over MQTT who is in no
    conversation with them."""
    owner, member, outsider = new_user("owner"), new_user("member"), new_user("outsider")
    conv = create_conversation(http, owner, "group", [member], title="members only")["id"]
    topic = f"conv/{conv}/m"
    return types.SimpleNamespace(
        conv=conv, topic=topic, owner=owner, member=member, outsider=outsider,
        o=open_peer(owner, subscribe=[topic, owner.inbox]),
        m=open_peer(member, subscribe=[topic, member.inbox]),
    )


def refused(code, protocol=V311):
    return code == SUBACK_FAILURE if protocol == V311 else code >= 0x80


def only_marker_arrived(peer, topic, marker):
    got = [m.json.get("txn") if isinstance(m.json, dict) else m.payload for m in peer.messages(topic)]
    return got == [marker]


# ------------------------------------------------------------------ outsiders


@pytest.mark.parametrize("protocol", [V311, V5], ids=["v311", "v5"])
@pytest.mark.parametrize("leaf", ["m", "typing", "receipt", "event", "#", "+"])
def test_non_member_cannot_subscribe_to_a_conversation(group, open_peer, protocol, leaf):
    x = open_peer(group.outsider, protocol=protocol)
    code = x.subscribe(f"conv/{group.conv}/{leaf}")
    assert refused(code, protocol), f"outsider's subscription granted: {code:#x}"


def test_non_member_publish_reaches_no_member_and_is_not_stored(http, group, open_peer):
    g = group
    x = open_peer(g.outsider, subscribe=[g.outsider.inbox])
    x.publish(g.topic, text_message(new_txn("intruder"), "let me in"))
    marker = barrier(g.o, g.owner, g.m, g.conv)
    assert only_marker_arrived(g.m, g.topic, marker), g.m.messages(g.topic)
    assert only_marker_arrived(g.o, g.topic, marker), g.o.messages(g.topic)
    g.o.wait_ack(g.owner.inbox, marker)
    assert [m["txn"] for m in history_messages(http, g.owner, g.conv)] == [marker]


def test_non_member_mqtt5_publish_gets_not_authorized(group, open_peer):
    g = group
    x = open_peer(g.outsider, protocol=V5)
    assert x.publish(g.topic, text_message(new_txn("intruder"), "hi")) == RC_NOT_AUTHORIZED
    assert x.publish(f"conv/{g.conv}/typing", json.dumps({"state": "typing"})) == RC_NOT_AUTHORIZED
    marker = barrier(g.o, g.owner, g.m, g.conv)
    assert only_marker_arrived(g.m, g.topic, marker)


@pytest.mark.parametrize("case", ["non_member", "retained"])
def test_refused_publish_gets_an_error_on_the_publishers_inbox(group, open_peer, case):
    """DESIGN.md, "Payloads": every refused publisher gets an error on its
    inbox; a v3.1.1 client has no other way to learn that a message in its
    outbox will never be acked."""
    g = group
    who = g.outsider if case == "non_member" else g.member
    peer = open_peer(who, subscribe=[who.inbox])
    txn = new_txn(case)
    peer.publish(g.topic, text_message(txn, "refused"), retain=case == "retained")
    err = peer.wait_error(who.inbox, 0)
    assert isinstance(err.get("code"), str) and err["code"], err
    assert err.get("txn", txn) == txn, err


def test_non_member_cannot_read_history_over_http(http, group):
    answer = history(http, group.outsider, group.conv)
    assert answer.status == 404, answer
    assert answer.error_code(), answer


def test_non_member_cannot_get_the_conversation_over_http(http, group):
    answer = http.get(f"/v1/conversations/{group.conv}", token=group.outsider.token)
    assert answer.status == 404, answer
    assert answer.error_code(), answer


def test_member_can_get_the_conversation_and_its_history(http, group):
    # The positive control for the two refusals above.
    conv = http.get(f"/v1/conversations/{group.conv}", token=group.member.token)
    assert conv.status == 200 and conv.json["id"] == group.conv, conv
    assert history(http, group.member, group.conv).status == 200


# ------------------------------------------------------------------ filters

WIDE_FILTERS = ["#", "+", "+/+/+", "conv/#", "conv/+/m", "conv/+/#", "user/#",
                "user/+/inbox", "$SYS/#", "$SYS/broker/clients/connected"]


@pytest.mark.parametrize("protocol", [V311, V5], ids=["v311", "v5"])
@pytest.mark.parametrize("pattern", WIDE_FILTERS + ["$share/g/conv/{c}/m", "$share/g/#"])
def test_wide_shared_and_sys_filters_are_refused_for_a_member(group, open_peer, protocol, pattern):
    peer = open_peer(group.member, protocol=protocol)
    topic = pattern.replace("{c}", group.conv)
    code = peer.subscribe(topic)
    assert refused(code, protocol), f"{topic} granted to a normal user: {code:#x}"


@pytest.mark.parametrize("leaf", ["inbox", "#", "+"])
def test_subscribing_to_another_users_inbox_is_refused(group, open_peer, leaf):
    # Even for someone who shares a conversation with its owner.
    peer = open_peer(group.member)
    code = peer.subscribe(f"user/{group.owner.id}/{leaf}")
    assert refused(code), f"user/{group.owner.id}/{leaf} granted to another user: {code:#x}"


def test_presence_of_a_user_is_refused_to_someone_sharing_no_conversation(group, open_peer):
    peer = open_peer(group.outsider)
    code = peer.subscribe(f"user/{group.owner.id}/presence")
    assert refused(code), f"presence granted to a stranger: {code:#x}"


@pytest.mark.parametrize("pattern", ["conv/{c}/#", "conv/{c}/+", "user/{me}/#", "user/{me}/+"])
def test_a_trailing_wildcard_under_own_prefix_is_granted(group, open_peer, pattern):
    peer = open_peer(group.member)
    topic = pattern.replace("{c}", group.conv).replace("{me}", group.member.id)
    assert not refused(peer.subscribe(topic)), topic


# ------------------------------------------------------------------ retain


def test_retained_publish_is_neither_delivered_nor_kept_for_later_members(
        http, new_user, group, open_peer):
    g = group
    g.m.publish(g.topic, text_message(new_txn("retained"), "keep me"), retain=True)
    marker = barrier(g.m, g.member, g.o, g.conv)
    assert only_marker_arrived(g.o, g.topic, marker), g.o.messages(g.topic)

    late = new_user("late")
    late_peer = open_peer(late, subscribe=[late.inbox])
    add_member(http, g.owner, g.conv, late)
    late_peer.subscribe_ok(g.topic)  # retried until the membership arrives
    second = barrier(g.o, g.owner, late_peer, g.conv)
    got = late_peer.messages(g.topic)
    assert [m.json.get("txn") for m in got] == [second], got
    assert not any(m.retain for m in got), got


def test_mqtt5_retained_publish_gets_not_authorized(group, open_peer):
    g = group
    m5 = open_peer(g.member, protocol=V5)
    code = m5.publish(g.topic, text_message(new_txn("retained"), "keep me"), retain=True)
    assert code == RC_NOT_AUTHORIZED


# ------------------------------------------------------------------ wills

WILLS = {
    # name: (who sets it, payload)
    "member_spoofing_fields": ("member", lambda g: text_message(
        "will-spoof", "I did not write this", id="1", ts=5, **{"from": g.owner.id})),
    "member_invalid_payload": ("member", lambda g: b"not json at all"),
    "non_member": ("outsider", lambda g: text_message("will-outsider", "let me in")),
}


@pytest.mark.parametrize("case", sorted(WILLS))
def test_will_message_gets_no_further_than_a_publish_would(stack, group, open_peer, case):
    """DESIGN.md: a will message must pass the same checks as a publish.
    Whatever arrives on the conversation is the server's rewrite, from the
    client that set the will."""
    g = group
    role, payload = WILLS[case]
    who = getattr(g, role)
    peer = open_peer(who, will={"topic": g.topic, "payload": payload(g), "qos": 1})
    peer.drop()
    wait_broker_dropped(stack, peer.client_id)
    marker = barrier(g.o, g.owner, g.o, g.conv)
    others = [m for m in g.o.messages(g.topic) if m.json is None or m.json.get("txn") != marker]
    if role == "outsider" or case == "member_invalid_payload":
        assert others == [], others
    for m in others:
        assert m.json["from"] == who.id and m.json["id"] != "1" and m.json["ts"] != 5, m


# ------------------------------------------------------------------ membership changes


def test_member_added_through_api_gains_access_without_reconnecting(http, new_user, group, open_peer):
    g = group
    newcomer = new_user("newcomer")
    n = open_peer(newcomer, subscribe=[newcomer.inbox])
    assert refused(n.subscribe(g.topic)), "subscribed before being added"

    add_member(http, g.owner, g.conv, newcomer)
    n.subscribe_ok(g.topic)  # retried until the membership arrives
    event = n.wait_json(newcomer.inbox, type="member_added", conv=g.conv,
                        timeout=MEMBERSHIP_WAIT, what="the member_added event")
    assert event.get("user") == newcomer.id, event

    txn = new_txn("hello")
    n.publish_ok(g.topic, text_message(txn, "hi all, I'm new"))
    got = g.o.wait_json(g.topic, txn=txn, what="the newcomer's message")
    assert got["from"] == newcomer.id
    assert n.wait_ack(newcomer.inbox, txn) == got["id"]
    barrier(g.o, g.owner, n, g.conv)  # and the newcomer receives the owner's


def test_member_removed_through_api_stops_receiving_without_reconnecting(
        http, group, open_peer):
    g = group
    # A direct conversation of owner and member gives a barrier the removed
    # member still receives.
    side = create_conversation(http, g.owner, "direct", [g.member])["id"]
    g.m.subscribe_ok(f"conv/{side}/m")

    remove_member(http, g.owner, g.conv, g.member)
    g.m.wait_json(g.member.inbox, type="member_removed", conv=g.conv,
                  timeout=MEMBERSHIP_WAIT, what="the member_removed event")

    secret = new_txn("after-removal")
    g.o.publish_ok(g.topic, text_message(secret, "not for you"))
    g.o.wait_json(g.topic, txn=secret)
    barrier(g.o, g.owner, g.m, side)
    assert secret not in [m.json.get("txn") for m in g.m.messages(g.topic)]


def test_member_removed_through_api_cannot_publish_without_reconnecting(
        http, group, open_peer):
    g = group
    m5 = open_peer(g.member, protocol=V5, subscribe=[g.member.inbox])
    before = new_txn("before-removal")
    m5.publish_ok(g.topic, text_message(before, "still here"))
    g.o.wait_json(g.topic, txn=before)

    remove_member(http, g.owner, g.conv, g.member)
    m5.wait_json(g.member.inbox, type="member_removed", conv=g.conv,
                 timeout=MEMBERSHIP_WAIT, what="the member_removed event")

    after = new_txn("after-removal")
    assert m5.publish(g.topic, text_message(after, "let me back")) == RC_NOT_AUTHORIZED
    marker = barrier(g.o, g.owner, g.o, g.conv)
    assert [m.json.get("txn") for m in g.o.messages(g.topic)] == [before, marker]
    g.o.wait_ack(g.owner.inbox, marker)
    assert after not in [m["txn"] for m in history_messages(http, g.owner, g.conv)]


# ------------------------------------------------------------------ CONNECT


def connect_cases():
    """(name, peer_for overrides given (a, b)) for CONNECTs that must fail."""
    return {
        "token_of_a_username_b": lambda a, b: dict(username=b.id),
        "client_id_of_b": lambda a, b: dict(client_id=f"{b.id}:x"),
        "client_id_without_device": lambda a, b: dict(client_id=a.id),
        "client_id_with_empty_device": lambda a, b: dict(client_id=f"{a.id}:"),
        "client_id_with_bad_device": lambda a, b: dict(client_id=f"{a.id}:bad device!"),
        "client_id_with_long_device": lambda a, b: dict(client_id=f"{a.id}:{'d' * 65}"),
        "garbage_password": lambda a, b: dict(password="not-a-token"),
        "token_of_b_as_a": lambda a, b: dict(password=b.token),
        "empty_password": lambda a, b: dict(password=""),
    }


@pytest.mark.parametrize("protocol", [V311, V5], ids=["v311", "v5"])
@pytest.mark.parametrize("case", sorted(connect_cases()))
def test_connect_with_mismatched_identity_is_refused(new_user, try_connect, case, protocol):
    a, b = new_user("conna"), new_user("connb")
    code = try_connect(a, protocol=protocol, **connect_cases()[case](a, b))
    if protocol == V311:
        assert code == CONNACK_NOT_AUTHORIZED, f"CONNACK {code}"
    else:
        assert code in (RC_BAD_USERNAME_OR_PASSWORD, RC_NOT_AUTHORIZED), f"CONNACK {code}"


def test_connect_without_credentials_is_refused(stack, new_user):
    from chat_support import Peer, stack_value
    a = new_user("anon")
    peer = Peer(stack_value(stack, "PARLEY_MQTT_HOST"), stack_value(stack, "PARLEY_MQTT_PORT"),
                f"{a.id}:d1", None, None)
    try:
        assert peer.connect() == CONNACK_NOT_AUTHORIZED
    finally:
        peer.close()


@pytest.mark.parametrize("transport", ["tcp", "websockets"])
def test_connect_with_matching_identity_is_accepted(new_user, try_connect, transport):
    a = new_user("connok")
    assert try_connect(a, transport=transport, device="phone_1-A") == 0
