#!/usr/bin/env python3
"""make_token_seeds.py - writes the seed corpus of fuzz_token.c
(tests/fuzz/corpus/token/): valid and subtly invalid tokens signed with the
harness's test keys, plus inputs for its "signed" mode.

Only needed to regenerate the seeds (needs the `cryptography` package).
The keys are test-only: the HS256 secret is the one in fuzz_token.c, and the
ES256 private scalar is SHA-256("parley fuzz test key") mod n, whose public
key fuzz_token.c embeds.  ES256 signatures are randomised, so the ES256
seeds differ on every run; every one of them is valid.
"""
import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "token")
SECRET = b"parley-fuzz-hs256-secret-0123456789abcdef"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
EC_KEY = ec.derive_private_key(
    int(hashlib.sha256(b"parley fuzz test key").hexdigest(), 16) % P256_N,
    ec.SECP256R1())

NOW = 1750000000  # TEST_NOW in fuzz_token.c
SUB = "3f2b8c1e-9a4d-4e2f-8b1c-0d9e8f7a6b5c"
CLAIMS = {"iss": "https://parley.test", "aud": "parley", "sub": SUB,
          "role": "user", "iat": NOW - 10, "exp": NOW + 900,
          "jti": "7d1f0c2a"}


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def hs256(header, claims, secret=SECRET):
    signing = b64(compact(header)) + "." + b64(compact(claims))
    mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(mac)


def es256(header, claims):
    signing = b64(compact(header)) + "." + b64(compact(claims))
    der = EC_KEY.sign(signing.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return signing + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def es256_parts(header, claims):
    """Mode "parts": the JSON texts and raw signature, NUL-separated."""
    h, c = compact(header), compact(claims)
    signing = b64(h) + "." + b64(c)
    der = EC_KEY.sign(signing.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return h + b"\0" + c + b"\0" + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    hs = {"alg": "HS256", "typ": "JWT"}
    raw = b"0"  # first byte mod 3 == 0: raw mode
    signed = b"1"  # 1: the harness signs
    parts = b"2"  # 2: the harness encodes header, claims and signature

    write("raw-valid-hs256", raw + hs256(hs, CLAIMS).encode())
    write("raw-valid-admin-aud-array", raw + hs256(
        hs, dict(CLAIMS, role="admin", aud=["other", "parley"])).encode())
    write("raw-valid-minimal", raw + hs256(
        {"alg": "HS256"},
        {k: CLAIMS[k] for k in ("iss", "aud", "sub", "exp")}).encode())
    write("raw-valid-es256", raw + es256(
        {"alg": "ES256", "typ": "JWT", "kid": "ec1"},
        dict(CLAIMS, role="device")).encode())
    write("raw-expired", raw + hs256(
        hs, dict(CLAIMS, exp=NOW - 61)).encode())
    write("raw-wrong-secret", raw + hs256(
        hs, CLAIMS, secret=b"another-secret-of-at-least-32-bytes!!").encode())
    write("raw-alg-none", raw + (b64(compact({"alg": "none"})) + "." +
                                 b64(compact(CLAIMS)) + ".").encode())
    write("raw-es256-header-hs256-key", raw + hs256(
        {"alg": "ES256", "kid": "ec1"}, CLAIMS).encode())
    write("raw-three-dots", raw + b"eyJhbGciOiJIUzI1NiJ9.e30.abc.def")

    write("signed-valid", signed + compact(CLAIMS))
    write("signed-kid-header", signed + compact(
        {"alg": "HS256", "kid": "ec1"}) + b"\0" + compact(CLAIMS))
    write("signed-not-yet", signed + compact(
        dict(CLAIMS, nbf=NOW + 3600, iat=NOW + 3600)))
    write("signed-bad-types", signed + compact(
        dict(CLAIMS, exp=str(NOW + 900), role=["admin"], jti=7)))
    write("signed-dup-header", signed +
          b'{"alg":"HS256","alg":"none"}\0' + compact(CLAIMS))

    es_header = {"alg": "ES256", "kid": "ec1"}
    write("parts-valid-es256", parts + es256_parts(es_header, CLAIMS))
    write("parts-es256-short-sig", parts + compact(es_header) + b"\0" +
          compact(CLAIMS) + b"\0" + bytes(range(63)))
    write("parts-es256-zero-sig", parts + compact(es_header) + b"\0" +
          compact(CLAIMS) + b"\0" + bytes(64))
    write("parts-hs256-garbage-sig", parts + compact(hs) + b"\0" +
          compact(CLAIMS) + b"\0" + b"\xff" * 32)


if __name__ == "__main__":
    main()
