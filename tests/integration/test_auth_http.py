"""test_auth_http.py - accounts and tokens over HTTP: register, login,
refresh (rotation and reuse detection), logout, /v1/me and /healthz.

Per DESIGN.md ("Identity and tokens", "HTTP API (v1)").
"""

import pytest

from chat_support import PASSWORD, expect, login, register, unique_name
from chat_support import http, new_user  # noqa: F401  (pytest fixtures)


def assert_error(answer, status):
    """answer is status with the error envelope {"error":{"code","message"}}."""
    assert answer.status == status, answer
    err = (answer.json or {}).get("error")
    assert isinstance(err, dict), answer
    assert isinstance(err.get("code"), str) and err["code"], answer
    assert isinstance(err.get("message"), str) and err["message"], answer


def refresh(http, token):
    return http.post("/v1/auth/refresh", {"refresh_token": token})


def assert_login_shape(body, user_id=None):
    for key in ("access_token", "refresh_token", "expires_in", "user"):
        assert key in body, body
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 32
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    if user_id is not None:
        assert body["user"]["id"] == user_id, body


# ------------------------------------------------------------------ health


def test_healthz_answers_200(http):
    assert http.get("/healthz").status == 200


# ------------------------------------------------------------------ register


def test_register_returns_201_and_the_user_object(http):
    name = unique_name("reg")
    answer = register(http, name, display_name="R\u00e9gine \U0001f31f")
    user = expect(answer, 201)
    assert user["username"] == name
    assert user["display_name"] == "R\u00e9gine \U0001f31f"
    assert isinstance(user["id"], str) and len(user["id"]) == 36
    assert "password" not in user and "password_hash" not in user


def test_register_same_username_differing_only_in_case_is_409(http):
    name = unique_name("dup")
    expect(register(http, name), 201)
    assert_error(register(http, name), 409)
    assert_error(register(http, name.upper()), 409)
    assert_error(register(http, name.swapcase()), 409)


@pytest.mark.parametrize("body", [
    {"username": "ab", "password": PASSWORD},  # too short
    {"username": "no spaces allowed", "password": PASSWORD},
    {"password": PASSWORD},
    {"username": "validname_pw"},
    {"username": "validname_pw2", "password": "short"},
    {"username": 12345, "password": PASSWORD},
], ids=["short_name", "bad_chars", "no_username", "no_password", "short_password", "number"])
def test_register_with_invalid_fields_is_400(http, body):
    assert_error(http.post("/v1/auth/register", body), 400)


# ------------------------------------------------------------------ login


def test_login_returns_tokens_and_user(http):
    name = unique_name("login")
    user = expect(register(http, name), 201)
    assert_login_shape(expect(login(http, name), 200), user["id"])


def test_login_username_is_case_insensitive(http):
    name = unique_name("Case")
    user = expect(register(http, name), 201)
    assert_login_shape(expect(login(http, name.upper()), 200), user["id"])


def test_login_with_wrong_password_is_401(http):
    name = unique_name("wrongpw")
    expect(register(http, name), 201)
    assert_error(login(http, name, "not the password at all"), 401)


def test_login_of_unknown_user_is_401(http):
    assert_error(login(http, unique_name("ghost")), 401)


# ------------------------------------------------------------------ malformed requests


@pytest.mark.parametrize("path", ["/v1/auth/register", "/v1/auth/login", "/v1/auth/refresh"])
@pytest.mark.parametrize("raw", [b'{"username": "x", ', b"not json", b'{"a":1}{"b":2}',
                                 b'{"username":"a","username":"b","password":"pppppppppp"}'],
                         ids=["truncated", "text", "two_values", "duplicate_key"])
def test_malformed_json_is_400_with_an_error_object(http, path, raw):
    assert_error(http.request("POST", path, raw=raw), 400)


def test_non_object_json_is_400(http):
    assert_error(http.request("POST", "/v1/auth/login", raw=b"[1,2]"), 400)


# ------------------------------------------------------------------ bearer


def test_me_returns_the_logged_in_user(http, new_user):
    a = new_user("me")
    me = expect(http.get("/v1/me", token=a.token), 200)
    assert me["id"] == a.id and me["username"] == a.username, me


@pytest.mark.parametrize("path", ["/v1/me", "/v1/conversations"])
def test_missing_bearer_is_401(http, path):
    assert_error(http.get(path), 401)


@pytest.mark.parametrize("header", ["Bearer", "Bearer not.a.token", "Basic dXNlcjpwYXNz",
                                    "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_invalid_bearer_is_401(http, header):
    assert_error(http.get("/v1/me", headers={"Authorization": header}), 401)


def test_refresh_token_is_not_an_access_token(http, new_user):
    a = new_user("rt_as_at")
    assert_error(http.get("/v1/me", token=a.refresh_token), 401)


# ------------------------------------------------------------------ refresh


def test_refresh_returns_new_tokens_that_work(http, new_user):
    a = new_user("refresh")
    body = expect(refresh(http, a.refresh_token), 200)
    assert_login_shape(body, a.id)
    assert body["refresh_token"] != a.refresh_token
    me = expect(http.get("/v1/me", token=body["access_token"]), 200)
    assert me["id"] == a.id


def test_refresh_rotates_so_the_old_token_is_refused(http, new_user):
    a = new_user("rotate")
    expect(refresh(http, a.refresh_token), 200)
    assert_error(refresh(http, a.refresh_token), 401)


def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(http, new_user):
    a = new_user("reuse")
    second = expect(refresh(http, a.refresh_token), 200)["refresh_token"]
    third = expect(refresh(http, second), 200)["refresh_token"]
    # A thief replays the first token: refused, and the session is over.
    assert_error(refresh(http, a.refresh_token), 401)
    assert_error(refresh(http, third), 401)


def test_reuse_revokes_only_that_session(http, new_user):
    a = new_user("twosess")
    other = expect(login(http, a.username, device="laptop"), 200)["refresh_token"]
    expect(refresh(http, a.refresh_token), 200)
    assert_error(refresh(http, a.refresh_token), 401)
    assert_login_shape(expect(refresh(http, other), 200), a.id)


def test_unknown_refresh_token_is_401(http):
    assert_error(refresh(http, "A" * 43), 401)


# ------------------------------------------------------------------ logout


def test_logout_revokes_the_refresh_token(http, new_user):
    a = new_user("logout")
    answer = http.post("/v1/auth/logout", {"refresh_token": a.refresh_token}, token=a.token)
    assert answer.status == 204, answer
    assert_error(refresh(http, a.refresh_token), 401)


def test_logout_everywhere_revokes_every_session(http, new_user):
    a = new_user("logoutall")
    other = expect(login(http, a.username, device="tablet"), 200)["refresh_token"]
    answer = http.post("/v1/auth/logout", {"everywhere": True}, token=a.token)
    assert answer.status == 204, answer
    assert_error(refresh(http, a.refresh_token), 401)
    assert_error(refresh(http, other), 401)



def test_logout_everywhere_revokes_the_access_token_on_every_route(http, new_user):
    # The history route checks the account in its own statement; a revoked
    # token must fare there as on the others, bad parameters included.
    a = new_user("revoked")
    conv = expect(http.post("/v1/conversations", {"kind": "group", "members": []},
                            token=a.token), 201)["id"]
    routes = {"/v1/me": 200, "/v1/conversations": 200, f"/v1/conversations/{conv}": 200,
              f"/v1/conversations/{conv}/messages": 200,
              f"/v1/conversations/{conv}/messages?limit=0": 400,
              "/v1/conversations/00000000-0000-4000-8000-000000000000/messages": 404}
    for path, status in routes.items():
        assert http.get(path, token=a.token).status == status, path
    answer = http.post("/v1/auth/logout", {"everywhere": True}, token=a.token)
    assert answer.status == 204, answer
    for path in routes:
        answer = http.get(path, token=a.token)
        assert_error(answer, 401)
        assert answer.json["error"]["message"] == "token revoked", (path, answer)
        assert "WWW-Authenticate" in answer.headers, (path, answer)
    fresh = expect(login(http, a.username), 200)["access_token"]
    for path, status in routes.items():
        assert http.get(path, token=fresh).status == status, path
