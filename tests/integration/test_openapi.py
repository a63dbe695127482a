"""httpapi/openapi.yaml is the HTTP contract: these tests keep it true.

- Every operation parley-api routes (the table in httpapi/router.c) is
  documented in openapi.yaml, and every documented operation is routed.
- Against the running parley-api, each documented operation answers a bare
  request (no token, no body, ids that exist nowhere) with a status its
  documentation lists, and every error body has the documented envelope.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "post", "put", "patch", "delete")
NOWHERE = "00000000-0000-4000-8000-00000000dead"


def _normalise(path):
    """/v1/conversations/{c} and /v1/conversations/:conv -> /v1/conversations/{}"""
    return re.sub(r"\{[^}/]+\}|:[a-z]+", "{}", path)


def documented_operations():
    """{(METHOD, path as written): set of documented status codes}, read
    from the `paths:` section by indentation (two spaces a level)."""
    ops, path, method, in_paths = {}, None, None, False
    for line in (ROOT / "httpapi" / "openapi.yaml").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            in_paths = line.startswith("paths:")
            path = method = None
            continue
        if not in_paths:
            continue
        if indent == 2 and line.strip().endswith(":"):
            path, method = line.strip()[:-1], None
        elif indent == 4 and path is not None:
            word = line.strip().split(":")[0]
            method = word.upper() if word in METHODS else None
            if method is not None:
                ops[(method, path)] = set()
        elif indent == 8 and method is not None:
            m = re.match(r'"(\d{3})":', line.strip())
            if m:
                ops[(method, path)].add(int(m.group(1)))
    return ops


def routed_operations():
    """{(METHOD, normalised path)} from the route table in httpapi/router.c."""
    text = (ROOT / "httpapi" / "router.c").read_text()
    table = text[text.index("routes[] = {"):]
    table = table[: table.index("};")]
    return {
        (m, _normalise(p))
        for m, p in re.findall(r'\{HTTP_([A-Z]+),\s*"([^"]+)"', table)
    }


def test_the_contract_is_read():
    ops = documented_operations()
    # A parser that reads nothing would make the other tests vacuous.
    assert ("POST", "/v1/auth/login") in ops
    assert 200 in ops[("POST", "/v1/auth/login")]
    assert len(ops) >= 25
    assert all(codes for codes in ops.values()), [
        op for op, codes in ops.items() if not codes]


def test_every_routed_operation_is_documented_and_every_documented_one_routed():
    documented = {(m, _normalise(p)) for m, p in documented_operations()}
    routed = routed_operations()
    assert len(routed) >= 25
    assert routed - documented == set(), "routed but not in openapi.yaml"
    assert documented - routed == set(), "in openapi.yaml but not routed"


@pytest.mark.parametrize(
    "method,path", sorted(documented_operations()),
    ids=lambda v: v if isinstance(v, str) else None)
def test_a_bare_request_gets_a_documented_answer(api, method, path):
    codes = documented_operations()[(method, path)]
    concrete = re.sub(r"\{[^}/]+\}", NOWHERE, path)
    res = api.request(method, concrete)
    assert res.status in codes, (
        f"{method} {concrete} answered {res.status}; documented: "
        f"{sorted(codes)}")
    if res.status >= 400:
        error = res.json["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
