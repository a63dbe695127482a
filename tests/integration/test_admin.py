"""test_admin.py - moderation and admin over HTTP: reports, bans, hidden
messages, the audit trail and the counts (DESIGN.md "HTTP API",
httpapi/handlers_admin.h, httpapi/handlers_reports.h).

Each rule is tried from the side that would break it: every admin
endpoint with a user's, a device's, a demoted admin's and no token (403 or
401, and the database unchanged), bad bodies (400, unchanged), a banned
user's old access token, refresh token and MQTT session, reports about
messages the reporter cannot see (404 like a missing one), and the audit
trail written with each action and never rewritten.
"""

import secrets
import time
from pathlib import Path

import pytest

import parley
from live_support import (
    CONNACK_REFUSED,
    id_at,
    mint_token,
    now_ms,
    open_room,
    stack_jwt_secret,
)
from sync_support import history, history_message, message_events, sync_all, wait_past

ROOT = Path(__file__).resolve().parents[2]
NO_USER = "00000000-0000-4000-8000-000000000000"
NO_MESSAGE = "9000000000000000000"
NO_REPORT = "9000000000000000000"


# ------------------------------------------------------------------ helpers


def state(stack):
    """What an admin action could change, read straight from the database:
    bans, hidden messages and their seq, reports and the audit trail."""
    return {
        "bans": stack.sql("SELECT id, banned_until FROM users"
                          " WHERE banned_until IS NOT NULL ORDER BY id"),
        "hidden": stack.sql("SELECT id, hidden_at, seq FROM messages"
                            " WHERE hidden_at IS NOT NULL ORDER BY id"),
        "reports": stack.sql("SELECT id, status, resolved_by FROM reports ORDER BY id"),
        "audit": stack.sql("SELECT count(*), max(id) FROM audit_log"),
        "seq": stack.sql("SELECT value FROM change_counter"),
    }


def audit_rows(stack, target):
    """The audit_log rows about target, oldest first."""
    return stack.sql("SELECT actor_id, action, target, reason FROM audit_log"
                     " WHERE target = :'t' ORDER BY id", t=target)


def ban(api, admin, user, **body):
    return api.post(f"/v1/admin/users/{parley._user_id(user)}/ban", admin, json=body)


def unban(api, admin, user):
    return api.delete(f"/v1/admin/users/{parley._user_id(user)}/ban", admin)


def hide(api, admin, message_id, **body):
    return api.post(f"/v1/admin/messages/{message_id}/hide", admin, json=body)


def report(api, reporter, **body):
    return api.post("/v1/reports", reporter, json=body)


def with_role(stack, api, role):
    """A new account whose role in the database is role, logged in after
    the change (so its token claims it too)."""
    acct = api.register()
    stack.sql("UPDATE users SET role = :'r' WHERE id = :'u'", r=role, u=acct.id)
    return api.login(acct.username, acct.password)


def room_with_message(api, mqtt, body="look at this"):
    """A room of a and b, both subscribed to conv/{c}/#, with one message
    from a; returns (room, message id)."""
    room = open_room(api, mqtt, {"a": ["d1"], "b": ["d1"]})
    return room, room.send("a", body)


# ------------------------------------------------------------------ who may


def admin_calls(target_user, message_id, report_id):
    """Every admin endpoint, with a body it would accept from an admin."""
    return [
        ("GET", "/v1/admin/reports", None),
        ("PATCH", f"/v1/admin/reports/{report_id}", {"status": "dismissed"}),
        ("POST", f"/v1/admin/users/{target_user}/ban", {"reason": "spam"}),
        ("DELETE", f"/v1/admin/users/{target_user}/ban", None),
        ("POST", f"/v1/admin/messages/{message_id}/hide", {"reason": "abuse"}),
        ("GET", "/v1/admin/audit", None),
        ("GET", "/v1/admin/stats", None),
    ]


@pytest.fixture
def targets(stack, api, mqtt, admin):
    """A banned user, a plain user, a message and an open report, for the
    endpoints to be refused on (each call would change something)."""
    room, mid = room_with_message(api, mqtt)
    banned = api.register()
    assert ban(api, admin, banned).status == 204
    rep = report(api, room.users["b"], message=mid, reason="rude")
    assert rep.status == 201, rep
    return {"room": room, "message": mid, "banned": banned,
            "plain": room.users["b"], "report": rep.json["id"]}


@pytest.mark.parametrize("who", ["user", "device", "user_promoted_after_login",
                                 "admin_demoted_after_login", "user_with_minted_admin_claim"])
def test_non_admins_are_refused_on_every_admin_endpoint(stack, api, admin, targets, who):
    if who == "user":
        token = api.register().token
    elif who == "device":
        token = with_role(stack, api, "device").token
        assert parley.jwt_claims(token)["role"] == "device"
    elif who == "user_promoted_after_login":
        # The token still says "user": the claim alone decides against.
        acct = api.register()
        stack.sql("UPDATE users SET role = 'admin' WHERE id = :'u'", u=acct.id)
        token = acct.token
    elif who == "admin_demoted_after_login":
        acct = with_role(stack, api, "admin")
        assert api.get("/v1/admin/stats", acct).status == 200
        stack.sql("UPDATE users SET role = 'user' WHERE id = :'u'", u=acct.id)
        token = acct.token
    else:
        acct = api.register()
        token = mint_token(stack_jwt_secret(stack), acct.id, now_ms() // 1000 + 300,
                           role="admin")
    calls = admin_calls(targets["banned"].id, targets["message"], targets["report"])
    # Banning the plain user is as refused as unbanning the banned one.
    calls.append(("POST", f"/v1/admin/users/{targets['plain'].id}/ban", {}))
    before = state(stack)
    for method, path, body in calls:
        resp = api.request(method, path, token=token, json=body)
        assert (resp.status, resp.error_code) == (403, "forbidden"), (method, path, resp)
        # A body that would be refused as bad is not even looked at.
        resp = api.request(method, path, token=token, raw_body="{not json")
        assert resp.status == 403, (method, path, resp)
    assert state(stack) == before
    # The plain user can still log in; the message is still there.
    assert api.get("/v1/me", targets["plain"]).status == 200
    shown = history_message(api, targets["plain"], targets["room"].conv, targets["message"])
    assert shown["body"] == "look at this"


def test_admin_endpoints_without_a_token_are_401(stack, api, admin, targets):
    before = state(stack)
    for method, path, body in admin_calls(targets["banned"].id, targets["message"],
                                          targets["report"]):
        resp = api.request(method, path, json=body)
        assert (resp.status, resp.error_code) == (401, "unauthorized"), (method, path, resp)
    assert state(stack) == before


def test_admin_endpoints_are_in_openapi_yaml():
    text = (ROOT / "httpapi" / "openapi.yaml").read_text()
    for path, methods in {
        "/v1/reports": ["post"],
        "/v1/admin/reports": ["get"],
        "/v1/admin/reports/{id}": ["patch"],
        "/v1/admin/users/{u}/ban": ["post", "delete"],
        "/v1/admin/messages/{id}/hide": ["post"],
        "/v1/admin/audit": ["get"],
        "/v1/admin/stats": ["get"],
    }.items():
        assert f"\n  {path}:\n" in text, path
        block = text.split(f"\n  {path}:\n", 1)[1].split("\n  /", 1)[0]
        for m in methods:
            assert f"\n    {m}:\n" in "\n" + block, (path, m)


# ------------------------------------------------------------------ bans


def test_ban_cuts_off_http_refresh_login_and_mqtt_and_unban_restores_login(
        stack, api, mqtt, admin):
    room = open_room(api, mqtt, {"a": ["phone", "desktop"], "b": ["d1"]})
    a = room.users["a"]
    old_refresh = a.refresh_token
    assert api.get("/v1/me", a).status == 200

    resp = ban(api, admin, a, reason="spam links")

    assert resp.status == 204, resp
    for device in ("phone", "desktop"):
        room.client("a", device).wait_disconnected()
    assert room.client("b").connected
    assert mqtt.refused(a, device="phone") in CONNACK_REFUSED
    me = api.get("/v1/me", a)
    assert (me.status, me.error_code) == (403, "banned"), me
    refreshed = api.post("/v1/auth/refresh", json={"refresh_token": old_refresh})
    assert (refreshed.status, refreshed.error_code) == (403, "banned"), refreshed
    login = api.post("/v1/auth/login", json={"username": a.username, "password": a.password})
    assert (login.status, login.error_code) == (403, "banned"), login
    assert "access_token" not in (login.json or {})
    # The other member is untouched.
    room.send("b", "b still talks")

    assert audit_rows(stack, a.id) == [[admin.id, "ban", a.id, "spam links"]]
    # Banning again is accepted, and recorded again.
    assert ban(api, admin, a).status == 204
    assert len(audit_rows(stack, a.id)) == 2
    assert mqtt.refused(a, device="phone") in CONNACK_REFUSED

    assert unban(api, admin, a).status == 204

    assert [r[1] for r in audit_rows(stack, a.id)] == ["ban", "ban", "unban"]
    again = api.login(a.username, a.password)
    assert api.get("/v1/me", again).status == 200
    client = mqtt.connect(again, device="phone")
    assert client.connected
    # The refresh token of before the ban works again too (the ban ended
    # no login session).
    assert api.post("/v1/auth/refresh", json={"refresh_token": old_refresh}).status == 200
    # Unbanning someone not banned changes and records nothing.
    before = state(stack)
    assert unban(api, admin, a).status == 204
    assert state(stack) == before


BAN_FOR_MS = 3000  # a short ban: long enough to see it in force, short enough to wait out


def test_ban_until_stores_the_end_and_ends_by_itself(stack, api, admin):
    # The ban must still be in force when it is checked; a machine that
    # stalls for the whole ban between banning and checking breaks that
    # premise, and then the scenario is tried again with a fresh user.
    for _ in range(5):
        u = api.register()
        until = now_ms() + BAN_FOR_MS

        banned = ban(api, admin, u, until=until, reason="cool off")
        me = api.get("/v1/me", u)
        if now_ms() < until:
            break
    else:
        pytest.skip(f"banning and checking never fitted in {BAN_FOR_MS} ms on this machine")
    assert banned.status == 204, banned
    assert me.status == 403, me

    stored = stack.sql("SELECT (extract(epoch FROM banned_until) * 1000)::bigint"
                       " FROM users WHERE id = :'u'", u=u.id)
    assert stored == [[str(until)]]
    detail = stack.sql("SELECT detail->>'until' FROM audit_log WHERE target = :'u'", u=u.id)
    assert detail == [[str(until)]]
    wait_past(until + 1000, "the end of the ban")
    assert api.get("/v1/me", u).status == 200
    api.login(u.username, u.password)


def test_ban_without_until_has_no_end(stack, api, admin):
    u = api.register()
    assert ban(api, admin, u).status == 204
    year = stack.sql("SELECT extract(year FROM banned_until) FROM users WHERE id = :'u'", u=u.id)
    assert year == [["9999"]]


def test_admin_cannot_ban_themself_and_unknown_users_are_404(stack, api, admin):
    before = state(stack)
    resp = ban(api, admin, admin, reason="oops")
    assert (resp.status, resp.error_code) == (400, "bad_request"), resp
    for resp in (ban(api, admin, NO_USER), unban(api, admin, NO_USER)):
        assert (resp.status, resp.error_code) == (404, "not_found"), resp
    assert state(stack) == before
    assert api.get("/v1/me", admin).status == 200


@pytest.mark.parametrize("body", [
    {"until": 1000},  # long past
    {"until": "tomorrow"},
    {"until": 1.5e13},
    {"until": True},
    {"until": 253402300799001},  # after 9999
    {"reason": ""},
    {"reason": "   \n"},
    {"reason": 42},
    {"reason": "x" * 1001},
    ["not", "an", "object"],
])
def test_bad_ban_bodies_are_400_and_change_nothing(stack, api, admin, body):
    u = api.register()
    before = state(stack)
    resp = api.post(f"/v1/admin/users/{u.id}/ban", admin, json=body)
    assert (resp.status, resp.error_code) == (400, "bad_request"), resp
    assert state(stack) == before
    assert api.get("/v1/me", u).status == 200


def test_ban_accepts_the_longest_reason_and_malformed_json_is_400(stack, api, admin):
    u = api.register()
    before = state(stack)
    resp = api.post(f"/v1/admin/users/{u.id}/ban", admin, raw_body='{"reason":')
    assert (resp.status, resp.error_code) == (400, "invalid_json"), resp
    assert state(stack) == before
    reason = "é" * 1000  # characters, not bytes
    assert ban(api, admin, u, reason=reason).status == 204
    assert audit_rows(stack, u.id)[0][3] == reason


# ------------------------------------------------------------------ hiding


def test_hide_reaches_subscribers_history_and_sync(stack, api, mqtt, admin):
    room, mid = room_with_message(api, mqtt, "something nasty")
    kept = room.send("b", "something fine")
    b = room.client("b")
    B = room.users["b"]

    resp = hide(api, admin, mid, reason="harassment")

    assert resp.status == 204, resp
    for client in (b, room.client("a")):
        ev = client.wait_message(room.topic("event"), {"type": "hidden", "id": mid}).json
        assert ev["conv"] == room.conv, ev
        assert ev["message"]["hidden"] is True, ev
        assert "body" not in ev["message"], ev
    tomb = history_message(api, B, room.conv, mid)
    assert tomb["hidden"] is True and "body" not in tomb, tomb
    assert history_message(api, B, room.conv, kept)["body"] == "something fine"
    events, _, _ = sync_all(api, B)
    about = [ev for ev in message_events(events) if ev["message"]["id"] == mid]
    assert len(about) == 1, about
    assert about[0]["message"]["hidden"] is True and "body" not in about[0]["message"]
    assert audit_rows(stack, mid) == [[admin.id, "hide", mid, "harassment"]]
    detail = stack.sql("SELECT detail->>'conv' FROM audit_log WHERE target = :'m'", m=mid)
    assert detail == [[room.conv]]
    # The author cannot edit it back.
    edit = api.patch(f"/v1/messages/{mid}", room.users["a"], json={"body": "back"})
    assert edit.status == 409, edit

    # Hiding it again changes and records nothing.
    before = state(stack)
    assert hide(api, admin, mid).status == 204
    assert state(stack) == before
    assert [m["id"] for m in history(api, B, room.conv)] == [kept, mid]


def test_hide_of_unknown_message_is_404_and_bad_bodies_400(stack, api, mqtt, admin):
    room, mid = room_with_message(api, mqtt)
    before = state(stack)
    resp = hide(api, admin, NO_MESSAGE)
    assert (resp.status, resp.error_code) == (404, "not_found"), resp
    for body in ({"reason": ""}, {"reason": ["x"]}, {"reason": "y" * 1001}):
        resp = hide(api, admin, mid, **body)
        assert (resp.status, resp.error_code) == (400, "bad_request"), (body, resp)
    resp = api.post(f"/v1/admin/messages/{mid}/hide", admin, raw_body="[1]")
    assert resp.status == 400, resp
    assert state(stack) == before
    assert history_message(api, room.users["b"], room.conv, mid)["body"] == "look at this"


# ------------------------------------------------------------------ reports


def test_member_reports_a_message_and_admin_sees_it(stack, api, mqtt, admin):
    room, mid = room_with_message(api, mqtt, "buy cheap watches")
    A, B = room.users["a"], room.users["b"]

    resp = report(api, B, message=mid, reason="spam")

    assert resp.status == 201, resp
    rep = resp.json
    assert rep["reporter"] == B.id and rep["message"] == mid
    assert rep["reason"] == "spam" and rep["status"] == "open"
    assert "user" not in rep and rep["id"] and rep["created_at"].endswith("Z")
    listed = api.call("GET", "/v1/admin/reports", token=admin, params={"status": "open"})
    found = [r for r in listed["reports"] if r["id"] == rep["id"]]
    assert len(found) == 1
    assert found[0]["conv"] == room.conv
    assert found[0]["message_object"]["body"] == "buy cheap watches"
    assert found[0]["message_object"]["from"] == A.id
    # The evidence stays when the author deletes the message.
    assert api.delete(f"/v1/messages/{mid}", A).status == 204
    listed = api.call("GET", "/v1/admin/reports", token=admin, params={"status": "open"})
    assert [r for r in listed["reports"] if r["id"] == rep["id"]][0][
        "message_object"]["body"] == "buy cheap watches"

    both = report(api, B, message=mid, user=A.id, reason="and the sender")
    assert both.status == 201 and both.json["user"] == A.id, both
    about_user = report(api, B, user=A.id, reason="keeps messaging me")
    assert about_user.status == 201 and "message" not in about_user.json, about_user


def test_reports_on_invisible_or_missing_things_are_404(stack, api, mqtt):
    room, mid = room_with_message(api, mqtt)
    outsider = api.register()
    before = state(stack)
    for body in ({"message": mid, "reason": "curious"},
                 {"message": NO_MESSAGE, "reason": "ghost"},
                 {"user": NO_USER, "reason": "ghost"},
                 {"message": mid, "user": room.users["a"].id, "reason": "both"}):
        resp = report(api, outsider, **body)
        assert (resp.status, resp.error_code) == (404, "not_found"), (body, resp)
    # A member's report naming an unknown user is refused whole.
    resp = report(api, room.users["b"], message=mid, user=NO_USER, reason="x")
    assert resp.status == 404, resp
    assert state(stack) == before
    # A former member no longer sees the message.
    b = room.users["b"]
    assert api.delete(f"/v1/conversations/{room.conv}/members/{b.id}", b).status == 204
    before = state(stack)
    assert report(api, b, message=mid, reason="late").status == 404
    assert state(stack) == before


@pytest.mark.parametrize("body", [
    {"message": None, "reason": "nothing named"},
    {"reason": "nothing named"},
    {"message": 123, "reason": "a number, not a string"},
    {"message": "0123", "reason": "leading zero"},
    {"message": "-1", "reason": "sign"},
    {"user": "ABCDEF00-0000-4000-8000-000000000000", "reason": "upper case"},
    {"user": "nobody", "reason": "not a uuid"},
    {"user": NO_USER},
    {"user": NO_USER, "reason": ""},
    {"user": NO_USER, "reason": "\t "},
    {"user": NO_USER, "reason": "r" * 1001},
    {"user": NO_USER, "reason": None},
])
def test_bad_report_bodies_are_400_and_change_nothing(stack, api, body):
    u = api.register()
    before = state(stack)
    resp = report(api, u, **body)
    assert (resp.status, resp.error_code) == (400, "bad_request"), resp
    assert state(stack) == before


def test_reports_page_newest_first_and_filter_by_status(stack, api, admin):
    reporter, target = api.register(), api.register()
    ids = [report(api, reporter, user=target.id, reason=f"r{i}").json["id"] for i in range(5)]
    assert sorted(ids, key=int) == ids

    seen, before = [], None
    for _ in range(20):
        params = {"limit": 2}
        if before:
            params["before"] = before
        page = api.call("GET", "/v1/admin/reports", token=admin, params=params)
        assert len(page["reports"]) <= 2
        seen += [r["id"] for r in page["reports"]]
        if not page["has_more"]:
            break
        before = page["reports"][-1]["id"]
    mine = [i for i in seen if i in ids]
    assert mine == list(reversed(ids))
    assert [int(i) for i in seen] == sorted((int(i) for i in seen), reverse=True)

    resolved = api.patch(f"/v1/admin/reports/{ids[0]}", admin,
                         json={"status": "resolved", "reason": "warned them"})
    assert resolved.status == 200, resolved
    assert resolved.json["status"] == "resolved" and resolved.json["resolved_by"] == admin.id
    dismissed = api.patch(f"/v1/admin/reports/{ids[1]}", admin, json={"status": "dismissed"})
    assert dismissed.status == 200 and dismissed.json["status"] == "dismissed", dismissed

    def listed(status):
        out, before = [], None
        while True:
            params = {"status": status, "limit": 200}
            if before:
                params["before"] = before
            page = api.call("GET", "/v1/admin/reports", token=admin, params=params)
            out += [r["id"] for r in page["reports"]]
            if not page["has_more"]:
                return out
            before = page["reports"][-1]["id"]

    assert ids[0] in listed("resolved") and ids[0] not in listed("open")
    assert ids[1] in listed("dismissed") and ids[1] not in listed("open")
    assert set(ids[2:]) <= set(listed("open"))
    assert audit_rows(stack, ids[0]) == [[admin.id, "report_resolved", ids[0], "warned them"]]
    assert audit_rows(stack, ids[1]) == [[admin.id, "report_dismissed", ids[1], None]]

    # A closed report stays closed; unknown ones and bad statuses are refused.
    before = state(stack)
    again = api.patch(f"/v1/admin/reports/{ids[0]}", admin, json={"status": "dismissed"})
    assert (again.status, again.error_code) == (409, "report_closed"), again
    missing = api.patch(f"/v1/admin/reports/{NO_REPORT}", admin, json={"status": "resolved"})
    assert missing.status == 404, missing
    for body in ({"status": "open"}, {"status": "RESOLVED"}, {}, {"status": 1},
                 {"status": "resolved", "reason": ""}):
        resp = api.patch(f"/v1/admin/reports/{ids[2]}", admin, json=body)
        assert (resp.status, resp.error_code) == (400, "bad_request"), (body, resp)
    for params in ({"status": "closed"}, {"limit": "0"}, {"limit": "201"},
                   {"before": "x"}, {"before": "-5"}):
        resp = api.get("/v1/admin/reports", admin, params=params)
        assert (resp.status, resp.error_code) == (400, "bad_request"), (params, resp)
    assert state(stack) == before


# ------------------------------------------------------------------ audit


def test_audit_lists_actions_newest_first_and_is_append_only(stack, api, mqtt, admin):
    room, mid = room_with_message(api, mqtt)
    u = api.register()
    assert ban(api, admin, u, reason="first").status == 204
    assert unban(api, admin, u).status == 204
    assert hide(api, admin, mid, reason="second").status == 204

    page = api.call("GET", "/v1/admin/audit", token=admin, params={"limit": 3})
    entries = page["entries"]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("hide", mid), ("unban", u.id), ("ban", u.id)]
    for e in entries:
        assert e["actor"] == admin.id and e["created_at"].endswith("Z"), e
    assert entries[0]["reason"] == "second" and entries[1]["reason"] is None
    assert entries[0]["detail"] == {"conv": room.conv}
    nxt = api.call("GET", "/v1/admin/audit", token=admin,
                   params={"limit": 1, "before": entries[1]["id"]})
    assert [e["id"] for e in nxt["entries"]] == [entries[2]["id"]]

    for sql in ("UPDATE audit_log SET reason = 'rewritten'",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log"):
        with pytest.raises(AssertionError, match="append-only"):
            stack.sql(sql)
    assert audit_rows(stack, u.id)[0][3] == "first"


# ------------------------------------------------------------------ stats


def test_stats_count_from_the_database(stack, api, mqtt, admin):
    def expected():
        row = stack.sql(
            "SELECT (SELECT count(*) FROM users),"
            " (SELECT count(*) FROM users WHERE banned_until > now()),"
            " (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),"
            " (SELECT count(*) FROM messages WHERE ts >= now() - interval '24 hours'),"
            " (SELECT count(*) FROM reports WHERE status = 'open')")[0]
        keys = ("users", "banned_users", "conversations", "messages",
                "messages_24h", "open_reports")
        return dict(zip(keys, map(int, row)))

    def stats():
        """The API's figures, which must equal the database's, taken while
        nothing else changes them (messages of earlier tests may still be
        on their way to the database)."""
        for _ in range(50):
            before = expected()
            got = api.call("GET", "/v1/admin/stats", token=admin)
            if expected() == before:
                assert got == before
                return got
            time.sleep(0.2)
        pytest.fail("the database's counts never held still")

    first = stats()

    room, mid = room_with_message(api, mqtt)
    assert report(api, room.users["b"], message=mid, reason="hm").status == 201
    assert ban(api, admin, room.users["a"]).status == 204
    # A message of two days ago counts among messages, not the last 24 h.
    two_days_ago = now_ms() - 2 * 86400 * 1000
    stack.sql("INSERT INTO messages (id, conv_id, sender_id, txn, type, body, ts)"
              " VALUES (:'id', :'c', :'u', :'t', 'text', 'old', to_timestamp(:'ms' / 1000.0))",
              id=str(id_at(two_days_ago)), c=room.conv, u=room.users["b"].id,
              t="old" + secrets.token_hex(6), ms=str(two_days_ago))
    second = stats()
    assert second["users"] == first["users"] + 2
    assert second["banned_users"] == first["banned_users"] + 1
    assert second["conversations"] == first["conversations"] + 1
    assert second["messages"] == first["messages"] + 2
    assert second["messages_24h"] == first["messages_24h"] + 1
    assert second["open_reports"] == first["open_reports"] + 1
