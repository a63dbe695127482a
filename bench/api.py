"""api.py - the few parley-api calls the benchmarks need (httpapi/openapi.yaml
is the contract): register and log in users, create conversations.  urllib
only; registrations run a few at a time because each costs a scrypt hash
on the server.
"""

import concurrent.futures
import json
import secrets
import urllib.error
import urllib.request

from procs import BenchError


class Api:
    def __init__(self, base_url, timeout=30):
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, method, path, body=None, token=None, expect=(200, 201)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        if status not in expect:
            raise BenchError(f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def register_and_login(self, username, device="bench"):
        """Registers username with a random password and logs it in.
        Returns {"id", "username", "password", "token"}."""
        password = "pw-" + secrets.token_hex(12)
        self.call("POST", "/v1/auth/register",
                  {"username": username, "password": password}, expect=(201,))
        login = self.call("POST", "/v1/auth/login",
                          {"username": username, "password": password, "device": device})
        return {"id": login["user"]["id"], "username": username,
                "password": password, "token": login["access_token"]}

    def register_many(self, usernames, parallel=4):
        with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            return list(pool.map(self.register_and_login, usernames))

    def create_conversation(self, owner, member_ids, title):
        """A group conversation made by owner (a user dict) with the other
        members; returns its id."""
        conv = self.call("POST", "/v1/conversations",
                         {"kind": "group", "title": title,
                          "members": [m for m in member_ids if m != owner["id"]]},
                         token=owner["token"])
        return conv["id"]
