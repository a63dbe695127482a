"""test_history_json.py - the message object as PostgreSQL builds it for
history pages.

GET /v1/conversations/{c}/messages is answered by one statement that checks
membership and builds the whole reply as JSON text with
parley_message_json_text (schema/006_history.sql), which parley-api sends
without parsing.  parley_message_json (schema/004) stays the reference that
sync, conversation lists and the broker's edit events use, so the two must
give the same object for a row in any state: plain, with the sender's extra
fields (also extra keys that try to forge the server's), without a body,
edited, deleted, hidden and their combinations, text that needs escaping,
times that round.  Rows are written straight into the messages table so
that every state is covered, including ones the API cannot produce in a
test's time (an edit long after sending, a hidden message).

Sync, the conversation list and edits (message_object_new in parley-api)
read the same text form, so they are checked against the reference too.

Then the page itself over HTTP: its shape, order and has_more at the page
boundaries in the three directions, and the refusals.
"""

import json
import secrets

import pytest

import parley
from live_support import id_at, now_ms
from sync_support import sync_all

SERVER_KEYS = ["id", "conv", "from", "ts", "txn", "type"]


def strict_json(text):
    """Parses JSON text, failing on a key that appears twice in an object
    (a jsonb cast would silently keep the last one)."""

    def pairs(items):
        keys = [k for k, _ in items]
        assert len(keys) == len(set(keys)), f"duplicate keys in {text!r}"
        return dict(items)

    return json.loads(text, object_pairs_hook=pairs)


def ordered_keys(text):
    """The keys of the JSON object text, in the order they appear."""
    return [k for k, _ in json.loads(text, object_pairs_hook=lambda items: items)]


@pytest.fixture(scope="module")
def _owner(api):
    return api.register()


@pytest.fixture(scope="module")
def _outsider(api):
    return api.register()


# The accounts live as long as the module; api.fresh() renews an access token
# that a slow run of the module would otherwise see expire.
@pytest.fixture
def owner(api, _owner):
    return api.fresh(_owner)


@pytest.fixture
def outsider(api, _outsider):
    return api.fresh(_outsider)


def new_conversation(api, owner):
    return api.create_conversation(owner, [])["id"]


def id_base():
    """A block of message ids no other test uses (below the ids the broker
    mints today, so these read as old messages)."""
    return (1 << 40) + secrets.randbelow(1 << 30) * 1000


# A number jansson cannot read (the broker refuses such a payload, so only
# a row written by hand holds one): the page, built in SQL, still shows it.
BEYOND_INT64 = "a number beyond 64 bits"

# (label, type, body, extra (JSON text), ts, edited_at, deleted_at, hidden_at)
# Times are SQL timestamptz literals or None.
T0 = "2026-03-01 12:00:00+00"
ROW_STATES = [
    ("plain", "text", "hello", "{}", T0, None, None, None),
    ("reply", "text", "a reply", '{"reply_to": "123"}', T0, None, None, None),
    ("media without body", "media", None,
     '{"attachments": [{"media": "m1"}, {"media": "m2"}]}', T0, None, None, None),
    ("e2e", "e2e", None, '{"e2e": {"v": 1, "ct": "abc", "iv": "xyz"}}', T0,
     None, None, None),
    ("device data", "data", None,
     '{"data": {"t": 21.5, "n": null, "big": 9007199254740993, "min": -9223372036854775808,'
     ' "small": 1.0e-7, "neg": -0, "arr": [1, "two", true, false, null, {}, []]}}',
     T0, None, None, None),
    (BEYOND_INT64, "data", None, '{"data": {"huge": 123456789012345678901234567890}}',
     T0, None, None, None),
    ("extra forging the server's keys", "text", "real",
     '{"id": "forged", "conv": "x", "from": "y", "ts": 1, "txn": "z",'
     ' "type": "data", "body": "forged", "edited_at": 5, "deleted": true,'
     ' "deleted_at": 6, "hidden": true, "reply_to": "9"}', T0, None, None, None),
    ("extra made only of server keys", "text", "b",
     '{"body": "x", "id": "y", "hidden": false}', T0, None, None, None),
    ("extra ending in braces", "text", "b",
     '{"z": {"a": {"b": "}"}}, "k": "{"}', T0, None, None, None),
    ("escapes in body", "text",
     'quote " backslash \\ slash / newline \n tab \t cr \r bell \x07 esc \x1b'
     ' ls \u2028 ps \u2029 e\u0301 \u00e9 \u4e2d \U0001F600 </script> \\u0041',
     '{"note": "x\\"y\\\\z\\n\\u0001 \u00e9 \U0001F600"}', T0, None, None, None),
    ("empty body", "text", "", "{}", T0, None, None, None),
    ("text without body", "text", None, "{}", T0, None, None, None),
    ("edited", "text", "v2", "{}", T0, "2026-03-01 12:05:00.123456+00", None, None),
    ("edited with extra", "text", "v2", '{"reply_to": "77"}', T0,
     "2026-03-01 12:05:00.5+00", None, None),
    ("deleted (as the API deletes)", "text", None, "{}", T0, None,
     "2026-03-01 12:06:00.000999+00", None),
    ("deleted with body and extra left", "text", "gone", '{"reply_to": "1"}', T0,
     None, "2026-03-01 12:06:00+00", None),
    ("hidden", "text", "bad words", '{"reply_to": "1"}', T0, None, None,
     "2026-03-01 12:07:00+00"),
    ("hidden and edited", "text", "bad v2", "{}", T0,
     "2026-03-01 12:05:00+00", None, "2026-03-01 12:07:00+00"),
    ("deleted and hidden", "text", None, "{}", T0, None,
     "2026-03-01 12:06:00+00", "2026-03-01 12:07:00+00"),
    ("deleted after an edit", "text", None, "{}", T0, "2026-03-01 12:05:00+00",
     "2026-03-01 12:06:00+00", None),
    ("half a millisecond", "text", "h", "{}", "2026-03-01 12:00:00.0005+00",
     "2026-03-01 12:00:00.0015+00", None, None),
    ("just under half", "text", "h", "{}", "2026-03-01 12:00:00.000499+00",
     None, None, None),
    ("before 1970", "text", "old", "{}", "1969-12-31 23:59:59.9995+00", None,
     None, None),
    ("deleted half a millisecond", "media", None, "{}", T0, None,
     "2026-03-01 12:06:00.0005+00", None),
]


def insert_rows(stack, conv, sender, states, base=None, with_seq=False):
    """Writes one message per state into conv (ids base+1, base+2, ...,
    oldest first); returns the ids as strings, in that order.  With
    with_seq, each takes a change seq, so that GET /v1/sync returns it."""
    base = id_base() if base is None else base
    values, variables = [], {}
    for i, (_, type_, body, extra, ts, edited, deleted, hidden) in enumerate(states):
        n = i + 1
        variables.update({f"b{n}": body if body is not None else "",
                          f"e{n}": extra, f"x{n}": f"txn-{base}-{n}"})
        body_sql = f":'b{n}'" if body is not None else "NULL"
        values.append(
            f"({base + n}, :'conv', :'sender', :'x{n}', '{type_}', {body_sql},"
            f" :'e{n}'::jsonb, '{ts}',"
            f" {repr(edited) if edited else 'NULL'}::timestamptz,"
            f" {repr(deleted) if deleted else 'NULL'}::timestamptz,"
            f" {repr(hidden) if hidden else 'NULL'}::timestamptz)")
    stack.sql("INSERT INTO messages (id, conv_id, sender_id, txn, type, body,"
              " extra, ts, edited_at, deleted_at, hidden_at) VALUES "
              + ", ".join(values), conv=conv, sender=sender, **variables)
    if with_seq:
        stack.sql("UPDATE messages SET seq = parley_reserve_seq(1)"
                  " WHERE conv_id = :'conv'", conv=conv)
    return [str(base + i + 1) for i in range(len(states))]


def both_forms(stack, conv):
    """{id: (new text, old text)} of every message of conv."""
    rows = stack.sql("SELECT m.id::text, parley_message_json_text(m),"
                     " parley_message_json(m)::text FROM messages m"
                     " WHERE m.conv_id = :'conv'", conv=conv)
    return {r[0]: (r[1], r[2]) for r in rows}


def test_the_text_form_is_the_same_object_for_every_row_state(stack, api, owner):
    conv = new_conversation(api, owner)
    ids = insert_rows(stack, conv, owner.id, ROW_STATES)
    forms = both_forms(stack, conv)
    assert len(forms) == len(ROW_STATES)
    for state, mid in zip(ROW_STATES, ids):
        new, old = forms[mid]
        assert strict_json(new) == strict_json(old), state[0]


def test_the_server_fields_come_first_in_the_order_subscribers_see(stack, api, owner):
    conv = new_conversation(api, owner)
    ids = insert_rows(stack, conv, owner.id, ROW_STATES)
    forms = both_forms(stack, conv)
    for state, mid in zip(ROW_STATES, ids):
        keys = ordered_keys(forms[mid][0])
        assert keys[:6] == SERVER_KEYS, state[0]
        obj = strict_json(forms[mid][0])
        if "body" in obj:
            assert keys[6] == "body", state[0]
        assert obj["id"] == mid and obj["conv"] == conv and obj["from"] == owner.id


def test_what_the_sender_cannot_forge(stack, api, owner):
    conv = new_conversation(api, owner)
    forging = [s for s in ROW_STATES if s[0] == "extra forging the server's keys"]
    [mid] = insert_rows(stack, conv, owner.id, forging)
    obj = strict_json(both_forms(stack, conv)[mid][0])
    assert obj["id"] == mid and obj["conv"] == conv and obj["from"] == owner.id
    assert obj["type"] == "text" and obj["body"] == "real" and obj["txn"] != "z"
    assert obj["ts"] == 1772366400000
    assert obj["reply_to"] == "9"
    for key in ("edited_at", "deleted", "deleted_at", "hidden"):
        assert key not in obj


def test_tombstones_carry_no_content(stack, api, owner):
    conv = new_conversation(api, owner)
    states = [s for s in ROW_STATES if s[6] or s[7]]
    ids = insert_rows(stack, conv, owner.id, states)
    forms = both_forms(stack, conv)
    for state, mid in zip(states, ids):
        obj = strict_json(forms[mid][0])
        extra_keys = set(obj) - set(SERVER_KEYS)
        if state[6]:
            assert extra_keys == {"deleted", "deleted_at"}, state[0]
            assert obj["deleted"] is True and isinstance(obj["deleted_at"], int)
        else:
            assert extra_keys == {"hidden"}, state[0]
            assert obj["hidden"] is True


def test_times_round_to_the_millisecond_as_before(stack, api, owner):
    conv = new_conversation(api, owner)
    states = [s for s in ROW_STATES if s[0] in ("half a millisecond", "just under half",
                                               "before 1970", "deleted half a millisecond")]
    ids = insert_rows(stack, conv, owner.id, states)
    objs = {mid: strict_json(both_forms(stack, conv)[mid][0]) for mid in ids}
    half, under, old, deleted = (objs[i] for i in ids)
    assert half["ts"] == 1772366400001 and half["edited_at"] == 1772366400002
    assert under["ts"] == 1772366400000
    assert old["ts"] == -1
    assert deleted["deleted_at"] == 1772366760001


def test_a_non_object_extra_still_gives_an_object(stack, api, owner):
    """The broker stores extra as an object; a row that holds something
    else (written by hand) must not break the page (parley_message_json
    fails on a scalar, so such rows are removed again at the end)."""
    conv = new_conversation(api, owner)
    states = [("array extra", "text", "b", "[1, 2]", T0, None, None, None),
              ("string extra", "text", "b", '"s"', T0, None, None, None),
              ("number extra", "text", "b", "7", T0, None, None, None)]
    ids = insert_rows(stack, conv, owner.id, states)
    try:
        rows = stack.sql("SELECT m.id::text, parley_message_json_text(m)"
                         " FROM messages m WHERE m.conv_id = :'conv'", conv=conv)
        assert len(rows) == len(states)
        for _, text in rows:
            assert set(strict_json(text)) == set(SERVER_KEYS) | {"body"}
        page = api.call("GET", f"/v1/conversations/{conv}/messages", expect=200,
                        token=owner)
        assert [m["id"] for m in page["messages"]] == ids[::-1]
    finally:
        stack.sql("DELETE FROM messages WHERE conv_id = :'conv'", conv=conv)


def test_every_stored_message_agrees(stack):
    """Over the whole database, whatever the other tests stored through the
    broker and the API (sent, edited, deleted): the two functions agree."""
    rows = stack.sql("SELECT count(*), count(*) FILTER (WHERE"
                     " parley_message_json_text(m)::jsonb"
                     " IS DISTINCT FROM parley_message_json(m))"
                     " FROM messages m WHERE jsonb_typeof(m.extra) = 'object'")
    total, differ = (int(v) for v in rows[0])
    assert differ == 0, f"{differ} of {total} messages differ"
    # and none gives a text that is not one JSON object
    bad = stack.sql("SELECT count(*) FROM messages m"
                    " WHERE jsonb_typeof(parley_message_json_text(m)::jsonb) <> 'object'")
    assert bad == [["0"]]


def reference_objects(stack, conv):
    """{id: object} of conv's messages by parley_message_json."""
    return {mid: json.loads(texts[1]) for mid, texts in both_forms(stack, conv).items()}


def test_sync_and_the_conversation_list_carry_the_same_objects(stack, api):
    owner = api.register()
    conv = new_conversation(api, owner)
    states = [s for s in ROW_STATES if s[0] != BEYOND_INT64]
    ids = insert_rows(stack, conv, owner.id, states, with_seq=True)
    reference = reference_objects(stack, conv)
    events, _, _ = sync_all(api, owner)
    carried = {ev["message"]["id"]: ev["message"] for ev in events
               if ev.get("conv") == conv and isinstance(ev.get("message"), dict)}
    assert set(carried) == set(ids)
    for mid in ids:
        assert carried[mid] == reference[mid]
        assert list(carried[mid])[:6] == SERVER_KEYS
    listed = api.call("GET", "/v1/conversations", expect=200, token=owner)
    [entry] = [c for c in listed["conversations"] if c["id"] == conv]
    assert entry["last_message"] == reference[ids[-1]]
    one = api.call("GET", f"/v1/conversations/{conv}", expect=200, token=owner)
    assert one["last_message"] == reference[ids[-1]]


def test_an_edit_answers_the_same_object(stack, api, owner):
    conv = new_conversation(api, owner)
    # Sent now (within the edit window), with an id minted now, as the
    # broker would: other tests count recent messages by their ids.
    base = int(id_at(now_ms())) + secrets.randbelow(1 << 20)
    [mid] = insert_rows(stack, conv, owner.id, [("recent", "text", "v1",
                                                  '{"reply_to": "5"}', "now", None,
                                                  None, None)], base=base)
    edited = api.call("PATCH", f"/v1/messages/{mid}", expect=200, token=owner,
                      json={"body": "v2 \"quoted\" \u00e9"})
    assert edited == reference_objects(stack, conv)[mid]
    assert edited["body"] == 'v2 "quoted" \u00e9' and edited["reply_to"] == "5"
    assert isinstance(edited["edited_at"], int)


# ------------------------------------------------------------------ the page


def get_page(api, user, conv, **params):
    resp = api.get(f"/v1/conversations/{conv}/messages", token=user, params=params)
    return resp


def page_of(api, user, conv, **params):
    resp = get_page(api, user, conv, **params)
    assert resp.status == 200, resp
    assert resp.headers["Content-Type"] == "application/json"
    page = strict_json(resp.body.decode())
    assert list(page) == ["messages", "has_more"]
    assert isinstance(page["has_more"], bool)
    return page


def test_the_page_holds_the_objects_of_parley_message_json(stack, api, owner):
    conv = new_conversation(api, owner)
    ids = insert_rows(stack, conv, owner.id, ROW_STATES)
    page = page_of(api, owner, conv, limit=200)
    assert [m["id"] for m in page["messages"]] == ids[::-1]
    assert page["has_more"] is False
    old = {mid: json.loads(texts[1]) for mid, texts in both_forms(stack, conv).items()}
    for m in page["messages"]:
        assert m == old[m["id"]]


def test_an_empty_conversation(api, owner):
    conv = new_conversation(api, owner)
    for params in ({}, {"limit": 1}, {"before": "1000"}, {"after": "0"}):
        assert page_of(api, owner, conv, **params) == {"messages": [], "has_more": False}


def test_has_more_at_the_page_boundaries(stack, api, owner):
    conv = new_conversation(api, owner)
    plain = ROW_STATES[0]
    ids = insert_rows(stack, conv, owner.id, [plain] * 5)  # oldest first

    def page_ids(**params):
        page = page_of(api, owner, conv, **params)
        return [m["id"] for m in page["messages"]], page["has_more"]

    # newest
    assert page_ids(limit=5) == (ids[::-1], False)
    assert page_ids(limit=6) == (ids[::-1], False)
    assert page_ids(limit=4) == (ids[:0:-1], True)
    assert page_ids(limit=1) == ([ids[4]], True)
    assert page_ids() == (ids[::-1], False)
    # before: older than the bound, newest first
    assert page_ids(before=ids[4], limit=4) == (ids[3::-1], False)
    assert page_ids(before=ids[4], limit=3) == (ids[3:0:-1], True)
    assert page_ids(before=ids[1], limit=1) == ([ids[0]], False)
    assert page_ids(before=ids[0]) == ([], False)
    # after: the page right after the bound, still newest first
    assert page_ids(after=ids[0], limit=4) == (ids[:0:-1], False)
    assert page_ids(after=ids[0], limit=3) == (ids[3:0:-1], True)
    assert page_ids(after=ids[3], limit=1) == ([ids[4]], False)
    assert page_ids(after=ids[4]) == ([], False)
    assert page_ids(after="0", limit=2) == ([ids[1], ids[0]], True)


def test_paging_back_and_forth_visits_every_message_once(stack, api, owner):
    conv = new_conversation(api, owner)
    ids = insert_rows(stack, conv, owner.id, [ROW_STATES[0]] * 23)
    seen, before = [], None
    while True:
        params = {"limit": 5} if before is None else {"limit": 5, "before": before}
        page = page_of(api, owner, conv, **params)
        seen += [m["id"] for m in page["messages"]]
        if not page["has_more"]:
            break
        before = page["messages"][-1]["id"]
    assert seen == ids[::-1]
    seen, after = [], "0"
    while True:
        page = page_of(api, owner, conv, limit=5, after=after)
        seen += [m["id"] for m in page["messages"]][::-1]
        if not page["has_more"]:
            break
        after = page["messages"][0]["id"]
    assert seen == ids


def test_a_non_member_gets_the_answer_for_a_missing_conversation(stack, api, owner,
                                                                 outsider):
    conv = new_conversation(api, owner)
    insert_rows(stack, conv, owner.id, [ROW_STATES[0]])
    missing = "00000000-0000-4000-8000-" + secrets.token_hex(6)
    theirs = get_page(api, outsider, conv)
    nothing = get_page(api, outsider, missing)
    assert theirs.status == nothing.status == 404
    assert theirs.body == nothing.body
    assert theirs.json == {"error": {"code": "not_found", "message": "not found"}}
    for params in ({"limit": 1}, {"before": "99999999"}, {"after": "1"}):
        assert get_page(api, outsider, conv, **params).body == nothing.body


def test_a_removed_member_no_longer_reads(stack, api, owner, outsider):
    conv = api.create_conversation(owner, [outsider])["id"]
    insert_rows(stack, conv, owner.id, [ROW_STATES[0]])
    assert len(page_of(api, outsider, conv)["messages"]) == 1
    api.call("DELETE", f"/v1/conversations/{conv}/members/{outsider.id}", token=owner)
    assert get_page(api, outsider, conv).status == 404


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "201"}, {"limit": "-1"}, {"limit": "x"},
    {"before": "1", "after": "2"}, {"before": "abc"}, {"after": "-5"},
    {"before": "9223372036854775808"}, {"limit": ""},
])
def test_bad_parameters_are_refused(api, owner, params):
    conv = new_conversation(api, owner)
    resp = get_page(api, owner, conv, **params)
    assert resp.status == 400
    assert resp.json["error"]["code"] == "bad_request"


def test_a_token_is_required(api, owner):
    conv = new_conversation(api, owner)
    resp = api.get(f"/v1/conversations/{conv}/messages")
    assert resp.status == 401


# ------------------------------------------------------- the reader's account
#
# The history route checks the reader's account (it exists, the token was
# not revoked, no ban holds) in its page statement instead of in a lookup
# of its own (AUTH_ACCOUNT_IN_HANDLER in httpapi/server.c).  Its answers
# must stay those of every other route: compared here with GET /v1/me's for
# the same token, for a conversation the reader is in, one they are not in,
# one that does not exist, and parameters that would be refused (the
# account is refused first, as elsewhere).


def history_answers(api, user, convs):
    """The answers to user's history requests: each of convs with no
    bound, before, after and a bad limit."""
    answers = []
    for conv in convs:
        for params in ({}, {"limit": 1}, {"before": "99999999"}, {"after": "1"},
                       {"limit": "0"}):
            answers.append(get_page(api, user, conv, **params))
    return answers


def assert_refused_like_me(api, user, convs, status, code):
    """Every history request of user is refused as GET /v1/me is: the same
    status, body and WWW-Authenticate header."""
    me = api.get("/v1/me", token=user)
    assert (me.status, me.error_code) == (status, code), me
    for resp in history_answers(api, user, convs):
        assert (resp.status, resp.body) == (me.status, me.body), resp
        assert resp.headers.get("WWW-Authenticate") == me.headers.get("WWW-Authenticate")
        assert (resp.status == 401) == (resp.headers.get("WWW-Authenticate") is not None)


def assert_reads(api, user, conv, count):
    assert len(page_of(api, user, conv)["messages"]) == count
    assert page_of(api, user, conv, limit=1, after="0")["messages"]


@pytest.fixture
def reader_room(stack, api, owner):
    """A fresh reader who is a member of a conversation holding two
    messages, and conversations it cannot read."""
    reader = api.register()
    conv = api.create_conversation(owner, [reader])["id"]
    insert_rows(stack, conv, owner.id, [ROW_STATES[0]] * 2)
    assert_reads(api, reader, conv, 2)
    theirs = new_conversation(api, owner)
    missing = "00000000-0000-4000-8000-" + secrets.token_hex(6)
    return reader, conv, [conv, theirs, missing]


def test_a_banned_reader_is_refused_until_the_ban_ends(stack, api, admin, reader_room):
    reader, conv, convs = reader_room
    resp = api.post(f"/v1/admin/users/{reader.id}/ban", admin, json={})
    assert resp.status == 204, resp
    assert_refused_like_me(api, reader, convs, 403, "banned")
    assert api.delete(f"/v1/admin/users/{reader.id}/ban", admin).status == 204
    assert_reads(api, reader, conv, 2)
    # A ban counts while banned_until lies ahead, and no longer after it.
    stack.sql("UPDATE users SET banned_until = now() + interval '1 hour'"
              " WHERE id = :'u'", u=reader.id)
    assert_refused_like_me(api, reader, convs, 403, "banned")
    stack.sql("UPDATE users SET banned_until = now() - interval '1 second'"
              " WHERE id = :'u'", u=reader.id)
    assert_reads(api, reader, conv, 2)


def test_a_logout_everywhere_revokes_the_token_for_history(api, reader_room):
    reader, conv, convs = reader_room
    api.logout(reader, everywhere=True)
    assert_refused_like_me(api, reader, convs, 401, "unauthorized")
    assert get_page(api, reader, conv).json["error"]["message"] == "token revoked"
    again = api.login(reader.username, reader.password)
    assert_reads(api, again, conv, 2)


def test_a_password_change_revokes_the_token_for_history(api, reader_room):
    reader, conv, convs = reader_room
    new_password = "pw-" + secrets.token_hex(8)
    resp = api.patch("/v1/me", reader, json={"password": new_password,
                                             "current_password": reader.password})
    assert resp.status == 200, resp
    assert_refused_like_me(api, reader, convs, 401, "unauthorized")
    again = api.login(reader.username, new_password)
    assert_reads(api, again, conv, 2)


def test_a_token_issued_before_tokens_valid_after_is_revoked(stack, api, reader_room):
    # The rule at the second's edge: revoked when tokens_valid_after (in
    # whole seconds) is at or after iat, accepted one second before it.
    reader, conv, convs = reader_room
    iat = parley.jwt_claims(reader.token)["iat"]
    stack.sql("UPDATE users SET tokens_valid_after = to_timestamp(:'t')"
              " WHERE id = :'u'", t=str(iat - 1) + ".999", u=reader.id)
    assert_reads(api, reader, conv, 2)
    stack.sql("UPDATE users SET tokens_valid_after = to_timestamp(:'t')"
              " WHERE id = :'u'", t=str(iat), u=reader.id)
    assert_refused_like_me(api, reader, convs, 401, "unauthorized")


def test_a_deleted_account_reads_nothing(stack, api, reader_room):
    reader, conv, convs = reader_room
    stack.sql("DELETE FROM users WHERE id = :'u'", u=reader.id)
    assert_refused_like_me(api, reader, convs, 401, "unauthorized")
    assert (get_page(api, reader, conv).json["error"]["message"]
            == "this account no longer exists")


def test_a_forged_or_expired_token_is_refused_before_any_lookup(api, owner):
    conv = new_conversation(api, owner)
    head, body, sig = owner.token.split(".")
    forged = ".".join([head, body, sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")])
    for token in (forged, "not.a.token"):
        resp = api.get(f"/v1/conversations/{conv}/messages", token=token)
        assert resp.status == 401, resp
        assert resp.headers.get("WWW-Authenticate") is not None
