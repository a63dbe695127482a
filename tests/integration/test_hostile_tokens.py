"""test_hostile_tokens.py - forged, mangled and misused access tokens at
MQTT CONNECT, end to end against the running broker.

Per DESIGN.md ("Identity and tokens"): the password of a CONNECT is an
access token whose `sub` is the username and the prefix of the client id
`<sub>:<device>`.  The verifier pins the algorithm to the key (chosen by
`kid`, the HS256 secret when there is none); `none`, another algorithm, an
unknown `kid`, a wrong `iss`/`aud`, an expired `exp`, a future `nbf`/`iat`,
mistyped or duplicate claims and tokens over 8 KiB are refused.  A refusal
is CONNACK 5 (MQTT 3.1.1) or 134/135 (MQTT 5).  Tokens never appear in logs.

Every token here is minted with the standard library (hmac, hashlib,
base64, json) and, for RS256, the `openssl` command.  Each attack is also
checked not to be refused for an unrelated reason: the same user, username
and client id connect with a correctly signed token (the positive controls).

Most attacks run against the session's stack (HS256 only).  The RS256 ones
need a key pair, so they share one private stack started for this module
with `plugin_opt_jwt_keys rsa1:RS256:<public key>`.  Headers that name a
key URL (`jku`, `x5u`) point at a server on 127.0.0.1 started here, which
must never be contacted.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import conftest
import parley

V311, V5 = parley.MQTTv311, parley.MQTTv5
PROTOCOLS = [pytest.param(V311, id="v311"), pytest.param(V5, id="v5")]
CONNACK_NOT_AUTHORIZED = 5  # MQTT 3.1.1
V5_REFUSALS = (134, 135)  # bad user name or password, not authorized
RSA_KID = "rsa1"


# ------------------------------------------------------------------ minting


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode_part(part):
    """A header or claims segment: a dict/list is compact JSON, a str is
    sent as written (hand-built JSON), bytes as they are."""
    if isinstance(part, (dict, list)):
        part = json.dumps(part, separators=(",", ":"))
    if isinstance(part, str):
        part = part.encode("utf-8")
    return b64url(part)


def hs256(key):
    """A signer: HMAC-SHA256 with key (bytes)."""
    return lambda signing_input: hmac.new(key, signing_input, hashlib.sha256).digest()


def hs512(key):
    return lambda signing_input: hmac.new(key, signing_input, hashlib.sha512).digest()


def rs256(private_pem):
    """A signer: RSASSA-PKCS1-v1_5 with SHA-256 by `openssl dgst -sign`."""
    def sign(signing_input):
        done = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(private_pem), "-binary"],
                              input=signing_input, capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout
    return sign


def unsigned(signing_input):
    return b""


def mint(header, claims, signer):
    """header.claims.signature, the signature computed over exactly the two
    encoded segments."""
    signing_input = encode_part(header) + "." + encode_part(claims)
    return signing_input + "." + b64url(signer(signing_input.encode("ascii")))


def claims_for(subject, /, **changes):
    """Claims as parley-api issues them for subject; a change replaces a
    claim (sub too), None removes it."""
    now = int(time.time())
    claims = {"iss": "parley", "aud": "parley", "sub": subject, "role": "user",
              "iat": now, "exp": now + 600, "jti": secrets.token_hex(16)}
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def claims_json_with(sub, *members, **raw):
    """Hand-built claims JSON: the usual claims, those named in raw replaced
    by raw JSON text (raw=None drops nothing; e.g. exp="1e10"), followed by
    the raw `"name":value` members (so a member may appear twice)."""
    claims = claims_for(sub)
    for name in raw:
        claims.pop(name, None)
    text = json.dumps(claims, separators=(",", ":"))[:-1]
    text += "".join(f',"{name}":{value}' for name, value in raw.items())
    return text + "".join("," + m for m in members) + "}"


def swap_claims(token, claims):
    """The token's header and signature around other claims."""
    header, _claims, signature = token.split(".")
    return f"{header}.{encode_part(claims)}.{signature}"


HS = {"alg": "HS256", "typ": "JWT"}


def stack_secret(stack):
    """The HS256 secret of a stack: DIR/jwt.secret without surrounding
    whitespace, as both the plugin and parley-api read it."""
    return (Path(stack.dir) / "jwt.secret").read_bytes().strip()


# ------------------------------------------------------------------ keys


def openssl(*args):
    done = subprocess.run(["openssl", *args], capture_output=True, timeout=120)
    assert done.returncode == 0, f"openssl {' '.join(args)}: {done.stderr.decode(errors='replace')}"
    return done.stdout


class RsaKey:
    """An RSA key pair made with the openssl CLI in directory."""

    def __init__(self, directory, name):
        self.private = Path(directory) / f"{name}.key.pem"
        self.public = Path(directory) / f"{name}.pub.pem"
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", str(self.private))
        openssl("pkey", "-in", str(self.private), "-pubout", "-out", str(self.public))
        self.public_pem = self.public.read_bytes()
        self.public_der = openssl("pkey", "-pubin", "-in", str(self.public), "-outform", "DER")
        modulus = openssl("rsa", "-pubin", "-in", str(self.public), "-noout", "-modulus")
        self.n = bytes.fromhex(modulus.decode().strip().split("=", 1)[1])

    def jwk(self, kid):
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                "n": b64url(self.n), "e": b64url((65537).to_bytes(3, "big"))}


@pytest.fixture(scope="module")
def keys():
    """The deployment's RSA key pair (kid rsa1 on the RSA stack) and an
    attacker's."""
    directory = Path(tempfile.mkdtemp(prefix="parley-keys-"))
    os.chmod(directory, 0o755)
    try:
        yield type("Keys", (), {"ours": RsaKey(directory, "ours"),
                                "attacker": RsaKey(directory, "attacker")})
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# ------------------------------------------------------------------ key server


class KeyServer:
    """A TCP server on 127.0.0.1 that answers anything with a JWKS and
    records every connection: a token's jku/x5u points here, and the
    broker must never come."""

    def __init__(self, jwks):
        self.body = json.dumps(jwks).encode()
        self.connections = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    request = conn.recv(4096)
                except OSError:
                    request = b""
                self.connections.append((addr, request[:200]))
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                                 % len(self.body) + self.body)
                except OSError:
                    pass

    def stop(self):
        self.stopping.set()
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def key_server(keys):
    server = KeyServer({"keys": [keys.attacker.jwk("attacker"), keys.attacker.jwk(RSA_KID)]})
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------ stacks


@pytest.fixture(scope="module")
def rsa_stack(request, keys):
    """A private stack whose broker also accepts RS256 tokens of kid rsa1
    (our public key); stopped after the module, its directory kept if a
    test failed."""
    tmp = Path(tempfile.mkdtemp(prefix="parley-rsa-"))
    env = parley.stack_environment()
    env["PARLEY_PLUGIN_OPTS"] = f"plugin_opt_jwt_keys {RSA_KID}:RS256:{keys.ours.public}"
    failed_before = request.session.testsfailed
    try:
        s = conftest.start_stack(tmp / "stack", run_env=env)
    except parley.StackError as e:
        pytest.fail(f"could not start the RS256 stack in {tmp}:\n{e}", pytrace=False)
    try:
        yield s
    finally:
        s.down()
        conftest.forget_stack(s)
        keep = os.environ.get("PARLEY_KEEP_STACK") == "1"
        if request.session.testsfailed > failed_before or keep:
            conftest._REPORT.append(f"RS256 stack directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def victim(stack):
    """A registered user whose identity the attacks try to take."""
    return stack.api().register()


@pytest.fixture(scope="module")
def rsa_victim(rsa_stack):
    return rsa_stack.api().register()


@pytest.fixture
def rsa_mqtt(rsa_stack):
    m = rsa_stack.mqtt()
    yield m
    m.close_all()


# ------------------------------------------------------------------ connecting


def connect_code(mqtt, user_id, token, protocol, username=None, client_id=None, **kw):
    """CONNECTs as user_id with token as the password; returns 0 if accepted
    (and disconnects), else the CONNACK code (None: closed without one).
    Other keywords go to parley.Mqtt.connect (password, properties)."""
    kw.setdefault("password", token)
    try:
        client = mqtt.connect(user_id, token=token, protocol=protocol,
                              username=username if username is not None else user_id,
                              client_id=client_id if client_id is not None else f"{user_id}:dev",
                              **kw)
    except parley.MqttRefused as e:
        return e.rc
    client.disconnect()
    return 0


def assert_refused(code, protocol, closing_allowed=False):
    if closing_allowed and code is None:
        return
    if protocol == V311:
        assert code == CONNACK_NOT_AUTHORIZED, f"expected CONNACK 5, got {code!r}"
    else:
        assert code in V5_REFUSALS, f"expected CONNACK 134 or 135, got {code!r}"


# ------------------------------------------------------------------ the attacks

# name -> function(secret, sub) returning the token, or a dict with
# "token" and the "username"/"client_id" to present with it.  Every token
# would be a valid one but for the one thing its name says.
HS256_ATTACKS = {
    # alg none, with and without a signature, in its spellings
    "alg_none_unsigned": lambda k, s: mint({"alg": "none", "typ": "JWT"}, claims_for(s), unsigned),
    "alg_NONE_unsigned": lambda k, s: mint({"alg": "NONE", "typ": "JWT"}, claims_for(s), unsigned),
    "alg_None_unsigned": lambda k, s: mint({"alg": "None", "typ": "JWT"}, claims_for(s), unsigned),
    "alg_nOnE_unsigned": lambda k, s: mint({"alg": "nOnE"}, claims_for(s), unsigned),
    "alg_none_signed": lambda k, s: mint({"alg": "none", "typ": "JWT"}, claims_for(s), hs256(k)),
    "alg_NONE_signed": lambda k, s: mint({"alg": "NONE", "typ": "JWT"}, claims_for(s), hs256(k)),
    "alg_None_signed": lambda k, s: mint({"alg": "None", "typ": "JWT"}, claims_for(s), hs256(k)),
    "alg_none_unsigned_without_trailing_dot": lambda k, s: mint(
        {"alg": "none"}, claims_for(s), unsigned).rstrip("."),
    # other algorithms than the key's, or none named
    "alg_missing": lambda k, s: mint({"typ": "JWT"}, claims_for(s), hs256(k)),
    "alg_null": lambda k, s: mint({"alg": None}, claims_for(s), hs256(k)),
    "alg_lowercase_hs256": lambda k, s: mint({"alg": "hs256"}, claims_for(s), hs256(k)),
    "alg_HS512_with_the_secret": lambda k, s: mint({"alg": "HS512"}, claims_for(s), hs512(k)),
    "alg_as_array": lambda k, s: mint({"alg": ["HS256"]}, claims_for(s), hs256(k)),
    "alg_twice_none_last": lambda k, s: mint('{"alg":"HS256","alg":"none"}', claims_for(s),
                                             hs256(k)),
    # the wrong key
    "signed_with_another_secret": lambda k, s: mint(HS, claims_for(s),
                                                    hs256(secrets.token_bytes(32))),
    "signed_with_an_empty_key": lambda k, s: mint(HS, claims_for(s), hs256(b"")),
    "signature_of_other_claims": lambda k, s: swap_claims(
        mint(HS, claims_for(s), hs256(k)), claims_for(s, role="admin")),
    "signature_truncated": lambda k, s: mint(HS, claims_for(s), lambda i: hs256(k)(i)[:16]),
    # time
    "expired": lambda k, s: mint(HS, claims_for(s, exp=int(time.time()) - 3600,
                                             iat=int(time.time()) - 4000), hs256(k)),
    "future_nbf": lambda k, s: mint(HS, claims_for(s, nbf=int(time.time()) + 3600), hs256(k)),
    "future_iat": lambda k, s: mint(HS, claims_for(s, iat=int(time.time()) + 3600), hs256(k)),
    # exp of the wrong type, or none
    "exp_string": lambda k, s: mint(HS, claims_for(s, exp=str(int(time.time()) + 600)), hs256(k)),
    "exp_float": lambda k, s: mint(HS, claims_for(s, exp=time.time() + 600.5), hs256(k)),
    "exp_float_integral": lambda k, s: mint(
        HS, claims_json_with(s, exp=f"{int(time.time()) + 600}.0"), hs256(k)),
    "exp_missing": lambda k, s: mint(HS, claims_for(s, exp=None), hs256(k)),
    "exp_null": lambda k, s: mint(HS, claims_json_with(s, exp="null"), hs256(k)),
    "exp_true": lambda k, s: mint(HS, claims_for(s, exp=True), hs256(k)),
    "exp_array": lambda k, s: mint(HS, claims_for(s, exp=[int(time.time()) + 600]), hs256(k)),
    "exp_exponent_notation": lambda k, s: mint(HS, claims_json_with(s, exp="1e10"), hs256(k)),
    "exp_beyond_int64": lambda k, s: mint(
        HS, claims_json_with(s, exp="99999999999999999999999"), hs256(k)),
    "iat_string": lambda k, s: mint(HS, claims_for(s, iat=str(int(time.time()))), hs256(k)),
    "nbf_string_in_the_future": lambda k, s: mint(
        HS, claims_for(s, nbf=str(int(time.time()) + 3600)), hs256(k)),
    # duplicate members (hand-built JSON)
    "duplicate_sub_victim_last": lambda k, s: mint(
        HS, claims_json_with(str(parley_uuid()), f'"sub":"{s}"'), hs256(k)),
    "duplicate_sub_victim_first": lambda k, s: mint(
        HS, claims_json_with(s, f'"sub":"{parley_uuid()}"'), hs256(k)),
    "duplicate_exp_expired_last": lambda k, s: mint(
        HS, claims_json_with(s, f'"exp":{int(time.time()) - 3600}'), hs256(k)),
    "duplicate_iss": lambda k, s: mint(HS, claims_json_with(s, '"iss":"evil"'), hs256(k)),
    "duplicate_kid_in_header": lambda k, s: mint('{"alg":"HS256","kid":"x","kid":"y"}',
                                                 claims_for(s), hs256(k)),
    # issuer and audience
    "foreign_iss": lambda k, s: mint(HS, claims_for(s, iss="https://evil.example"), hs256(k)),
    "iss_other_case": lambda k, s: mint(HS, claims_for(s, iss="Parley"), hs256(k)),
    "iss_missing": lambda k, s: mint(HS, claims_for(s, iss=None), hs256(k)),
    "iss_as_array": lambda k, s: mint(HS, claims_for(s, iss=["parley"]), hs256(k)),
    "aud_array_without_ours": lambda k, s: mint(HS, claims_for(s, aud=["evil", "parley-api"]),
                                                hs256(k)),
    "aud_empty_array": lambda k, s: mint(HS, claims_for(s, aud=[]), hs256(k)),
    "aud_foreign": lambda k, s: mint(HS, claims_for(s, aud="evil"), hs256(k)),
    "aud_missing": lambda k, s: mint(HS, claims_for(s, aud=None), hs256(k)),
    "aud_with_trailing_space": lambda k, s: mint(HS, claims_for(s, aud="parley "), hs256(k)),
    # sub that would be a topic pattern, or hide a NUL
    "sub_with_slash": lambda k, s: as_sub(k, s + "/x"),
    "sub_plus": lambda k, s: as_sub(k, "+"),
    "sub_hash": lambda k, s: as_sub(k, "#"),
    "sub_with_plus_level": lambda k, s: as_sub(k, s[:-1] + "+"),
    "sub_with_hash_level": lambda k, s: as_sub(k, s[:-1] + "#"),
    "sub_with_nul_after_the_victims_id": lambda k, s: {
        "token": mint(HS, claims_for(s + "\u0000junk"), hs256(k))},
    "sub_with_nul_before_the_victims_id": lambda k, s: {
        "token": mint(HS, claims_for("\u0000" + s), hs256(k))},
    "sub_upper_case": lambda k, s: as_sub(k, s.upper()),
    "sub_missing": lambda k, s: mint(HS, claims_for(s, sub=None), hs256(k)),
    "sub_as_number": lambda k, s: mint(HS, claims_for(s, sub=12345), hs256(k)),
    "role_unknown": lambda k, s: mint(HS, claims_for(s, role="superuser"), hs256(k)),
    # key ids: unknown, or a path to a file whose content the attacker knows
    "unknown_kid": lambda k, s: mint({"alg": "HS256", "kid": "k2"}, claims_for(s), hs256(k)),
    "kid_path_to_the_secret": lambda k, s: mint({"alg": "HS256", "kid": "../jwt.secret"},
                                                claims_for(s), hs256(k)),
    "kid_file_name_of_the_secret": lambda k, s: mint({"alg": "HS256", "kid": "jwt.secret"},
                                                     claims_for(s), hs256(k)),
    "kid_dev_null_with_an_empty_key": lambda k, s: mint(
        {"alg": "HS256", "kid": "../../../../../../dev/null"}, claims_for(s), hs256(b"")),
    "kid_absolute_path_with_an_empty_key": lambda k, s: mint(
        {"alg": "HS256", "kid": "/dev/null"}, claims_for(s), hs256(b"")),
    "kid_sql_injection": lambda k, s: mint({"alg": "HS256", "kid": "x' OR '1'='1"},
                                           claims_for(s), hs256(k)),
    "kid_as_number": lambda k, s: mint({"alg": "HS256", "kid": 0}, claims_for(s), hs256(k)),
    # an embedded key (CVE-2018-0114 style) signed by the attacker
    "embedded_jwk_with_attackers_secret": lambda k, s: mint(
        {"alg": "HS256", "jwk": {"kty": "oct", "k": b64url(b"A" * 32)}}, claims_for(s),
        hs256(b"A" * 32)),
    # size
    "password_of_64_KiB": lambda k, s: "A" * 65535,
    "signed_token_over_8_KiB": lambda k, s: mint(HS, claims_for(s, pad="p" * 9000), hs256(k)),
    "signed_token_of_60_KiB": lambda k, s: mint(HS, claims_for(s, pad="p" * 45000), hs256(k)),
    # shape
    "one_segment": lambda k, s: encode_part(claims_for(s)),
    "two_segments": lambda k, s: ".".join(mint(HS, claims_for(s), hs256(k)).split(".")[:2]),
    "four_segments": lambda k, s: mint(HS, claims_for(s), hs256(k)) + "." + b64url(b"x"),
    "four_segments_empty_last": lambda k, s: mint(HS, claims_for(s), hs256(k)) + ".",
    "five_segments_jwe_like": lambda k, s: ".".join(
        [encode_part({"alg": "dir", "enc": "A128GCM"}), "", b64url(b"iv"), b64url(b"ct"),
         b64url(b"tag")]),
    "empty_header_segment": lambda k, s: "." + mint(HS, claims_for(s), hs256(k)).split(".", 1)[1],
    "empty_claims_segment": lambda k, s: signed_raw(k, encode_part(HS), ""),
    "only_dots": lambda k, s: "..",
    "empty_password": lambda k, s: "",
    # base64 that is not base64url without padding
    "padded_base64": lambda k, s: signed_raw(k, encode_part(HS) + "==", encode_part(claims_for(s))),
    "standard_alphabet": lambda k, s: signed_raw(
        k, encode_part(HS), encode_part(claims_for(s)).replace("-", "+").replace("_", "/")
        + "+/"),
    "signature_with_padding": lambda k, s: mint(HS, claims_for(s), hs256(k)) + "=",
    "signature_standard_alphabet": lambda k, s: std_alphabet_signature(mint(HS, claims_for(s),
                                                                            hs256(k))),
    "whitespace_in_segment": lambda k, s: signed_raw(k, encode_part(HS),
                                                     " " + encode_part(claims_for(s))),
    "newline_after_token": lambda k, s: mint(HS, claims_for(s), hs256(k)) + "\n",
    "invalid_base64_character": lambda k, s: signed_raw(k, encode_part(HS) + "*",
                                                        encode_part(claims_for(s))),
    "non_canonical_trailing_bits": lambda k, s: signed_raw(
        k, non_canonical_header(), encode_part(claims_for(s))),
    "header_is_an_array": lambda k, s: mint(["HS256"], claims_for(s), hs256(k)),
    "claims_are_a_string": lambda k, s: mint(HS, '"' + s + '"', hs256(k)),
    "claims_not_json": lambda k, s: mint(HS, "{sub:" + s + "}", hs256(k)),
    "claims_invalid_utf8": lambda k, s: mint(
        HS, claims_json_with(s).encode()[:-1] + b',"x":"\xff\xfe"}', hs256(k)),
    "claims_trailing_garbage": lambda k, s: mint(HS, claims_json_with(s) + "garbage", hs256(k)),
}


def parley_uuid():
    return uuid.uuid4()


def as_sub(key, sub):
    """A token for sub, presented with username sub and client id
    `<sub>:dev` so that only the sub itself can be the problem."""
    return {"token": mint(HS, claims_for(sub), hs256(key)), "username": sub,
            "client_id": f"{sub}:dev"}


def signed_raw(key, header_segment, claims_segment):
    """A token from already-encoded segments, validly signed over them."""
    signing_input = f"{header_segment}.{claims_segment}"
    return signing_input + "." + b64url(hs256(key)(signing_input.encode("ascii")))


def std_alphabet_signature(token):
    head, sig = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    std = base64.b64encode(raw).decode().rstrip("=")
    if std == sig:  # no + or / in this one: force a non-url character
        std = sig[:-1] + "+"
    return head + "." + std


def non_canonical_header():
    """An HS256 header segment whose last character carries non-zero unused
    low bits: the same bytes to a lenient decoder, not canonical base64url."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    segment = encode_part('{"alg":"HS256","x":12}')  # 22 bytes: 30 characters
    assert len(segment) % 4 == 2 and alphabet.index(segment[-1]) & 0xF == 0
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) | 1]


def present(attack, secret, user_id):
    made = attack(secret, user_id)
    if isinstance(made, str):
        made = {"token": made}
    made.setdefault("username", user_id)
    made.setdefault("client_id", f"{user_id}:dev")
    return made


# ------------------------------------------------------------------ HS256 tests


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_positive_control_self_minted_token_connects(stack, mqtt, victim, protocol):
    """HS256 with the stack's jwt.secret, claims as parley-api issues them:
    the refusals below are about what each attack changes, nothing else."""
    token = mint(HS, claims_for(victim.id), hs256(stack_secret(stack)))
    assert connect_code(mqtt, victim.id, token, protocol) == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_positive_control_token_without_optional_claims_connects(stack, mqtt, victim, protocol):
    # iat, nbf, jti and role are optional: the exp/iat/nbf attacks above are
    # refused for their values, not for being unusual.
    token = mint({"alg": "HS256"}, claims_for(victim.id, iat=None, jti=None, role=None),
                 hs256(stack_secret(stack)))
    assert connect_code(mqtt, victim.id, token, protocol) == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("attack", sorted(HS256_ATTACKS))
def test_hs256_token_attack_is_refused_at_connect(stack, mqtt, victim, attack, protocol):
    p = present(HS256_ATTACKS[attack], stack_secret(stack), victim.id)
    code = connect_code(mqtt, victim.id, p["token"], protocol, p["username"], p["client_id"])
    # A 64 KiB CONNECT may also be cut off by a packet size limit.
    assert_refused(code, protocol, closing_allowed=attack == "password_of_64_KiB")


def test_refused_tokens_never_appear_in_the_broker_log(stack, mqtt, victim):
    secret = stack_secret(stack)
    tokens = [present(HS256_ATTACKS[name], secret, victim.id)["token"]
              for name in ("alg_none_signed", "expired", "foreign_iss", "unknown_kid",
                           "duplicate_sub_victim_first", "four_segments")]
    for token in tokens:
        assert connect_code(mqtt, victim.id, token, V311) == CONNACK_NOT_AUTHORIZED
    good = mint(HS, claims_for(victim.id), hs256(secret))
    assert connect_code(mqtt, victim.id, good, V311) == 0
    log = stack.log("mosquitto") + stack.log("api")
    for token in tokens + [good]:
        for segment in token.split("."):
            if len(segment) >= 16:
                assert segment not in log, "a token segment was written to a log"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_empty_client_id_is_refused_even_with_a_valid_token(stack, mqtt, victim, protocol):
    """mosquitto assigns an id to an empty client id before asking the
    plugin; that id is not "<sub>:<device>", so the CONNECT is refused."""
    token = mint(HS, claims_for(victim.id), hs256(stack_secret(stack)))
    assert_refused(connect_code(mqtt, victim.id, token, protocol, client_id=""), protocol)


@pytest.mark.parametrize("password", ["none", "garbage", "valid_token"])
def test_v5_extended_authentication_is_refused(stack, mqtt, victim, password):
    """With an Authentication Method in its CONNECT, mosquitto skips the
    username/password check and asks the plugins for extended
    authentication instead.  Parley offers none, so such a CONNECT is
    refused whatever it carries: no way around the token check."""
    props = Properties(PacketTypes.CONNECT)
    props.AuthenticationMethod = "SCRAM-SHA-256"
    props.AuthenticationData = b"n,,n=" + victim.id.encode() + b",r=abcdefgh"
    token = mint(HS, claims_for(victim.id), hs256(stack_secret(stack)))
    sent = {"none": None, "garbage": "garbage", "valid_token": token}[password]
    code = connect_code(mqtt, victim.id, token, V5, password=sent, properties=props)
    assert code is None or code >= 0x80, f"CONNECT with an authentication method: {code!r}"


# ------------------------------------------------------------------ jku / x5u


def attacker_hs256_with_url(key_server, header_name, sub):
    secret = b"attacker-secret-" + b"x" * 32
    return mint({"alg": "HS256", header_name: key_server.url("/jwks.json"), "kid": "attacker"},
                claims_for(sub), hs256(secret))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("header_name", ["jku", "x5u"])
def test_jku_and_x5u_of_an_attacker_are_refused_and_never_fetched(
        stack, mqtt, victim, key_server, keys, header_name, protocol):
    attempts = [
        # the attacker's HMAC key, with the kid his server would serve
        attacker_hs256_with_url(key_server, header_name, victim.id),
        # the attacker's RSA key, published at the URL under kid attacker
        mint({"alg": "RS256", "kid": "attacker", header_name: key_server.url("/jwks.json")},
             claims_for(victim.id), rs256(keys.attacker.private)),
        # the same without a kid: the default key is the HS256 secret
        mint({"alg": "RS256", header_name: key_server.url("/jwks.json")},
             claims_for(victim.id), rs256(keys.attacker.private)),
    ]
    for token in attempts:
        assert_refused(connect_code(mqtt, victim.id, token, protocol), protocol)
    assert key_server.connections == [], f"the broker fetched a key URL: {key_server.connections}"


def test_jku_on_a_correctly_signed_token_is_never_fetched(stack, mqtt, victim, key_server):
    """The header is not part of the trust decision: whatever the verdict on
    an otherwise valid token, the URL is never contacted."""
    for header_name in ("jku", "x5u"):
        token = mint({"alg": "HS256", "typ": "JWT", header_name: key_server.url("/k")},
                     claims_for(victim.id), hs256(stack_secret(stack)))
        connect_code(mqtt, victim.id, token, V311)
    assert key_server.connections == [], f"the broker fetched a key URL: {key_server.connections}"


# ------------------------------------------------------------------ RS256 stack


def rsa_header(**extra):
    header = {"alg": "RS256", "typ": "JWT", "kid": RSA_KID}
    header.update(extra)
    return header


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_positive_control_rs256_token_of_the_configured_key_connects(
        rsa_mqtt, rsa_victim, keys, protocol):
    token = mint(rsa_header(), claims_for(rsa_victim.id), rs256(keys.ours.private))
    assert connect_code(rsa_mqtt, rsa_victim.id, token, protocol) == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_positive_control_hs256_still_connects_on_the_rs256_stack(
        rsa_stack, rsa_mqtt, rsa_victim, protocol):
    token = mint(HS, claims_for(rsa_victim.id), hs256(stack_secret(rsa_stack)))
    assert connect_code(rsa_mqtt, rsa_victim.id, token, protocol) == 0


RS256_ATTACKS = {
    # the classic forgery: HS256 "signed" with the RS256 public key
    "hs256_with_the_public_pem_as_secret": lambda K, S, s: mint(
        {"alg": "HS256", "typ": "JWT", "kid": RSA_KID}, claims_for(s), hs256(K.ours.public_pem)),
    "hs256_with_the_public_pem_without_newline": lambda K, S, s: mint(
        {"alg": "HS256", "kid": RSA_KID}, claims_for(s), hs256(K.ours.public_pem.strip())),
    "hs256_with_the_public_der_as_secret": lambda K, S, s: mint(
        {"alg": "HS256", "kid": RSA_KID}, claims_for(s), hs256(K.ours.public_der)),
    "hs256_with_the_public_pem_and_no_kid": lambda K, S, s: mint(
        {"alg": "HS256"}, claims_for(s), hs256(K.ours.public_pem)),
    "rs256_header_with_an_hmac_of_the_public_pem": lambda K, S, s: mint(
        rsa_header(), claims_for(s), hs256(K.ours.public_pem)),
    "hs256_with_the_stack_secret_but_rsa_kid": lambda K, S, s: mint(
        {"alg": "HS256", "kid": RSA_KID}, claims_for(s), hs256(S)),
    "alg_none_with_rsa_kid": lambda K, S, s: mint(
        {"alg": "none", "kid": RSA_KID}, claims_for(s), unsigned),
    "alg_none_with_rsa_kid_and_a_real_signature": lambda K, S, s: mint(
        {"alg": "none", "kid": RSA_KID}, claims_for(s), rs256(K.ours.private)),
    "ps256_with_rsa_kid": lambda K, S, s: mint(
        {"alg": "PS256", "kid": RSA_KID}, claims_for(s), rs256(K.ours.private)),
    "rs512_label_with_rsa_kid": lambda K, S, s: mint(
        {"alg": "RS512", "kid": RSA_KID}, claims_for(s), rs256(K.ours.private)),
    "rs256_signed_by_the_attacker": lambda K, S, s: mint(
        rsa_header(), claims_for(s), rs256(K.attacker.private)),
    "rs256_signed_by_our_key_without_kid": lambda K, S, s: mint(
        {"alg": "RS256"}, claims_for(s), rs256(K.ours.private)),
    "rs256_with_an_embedded_attacker_jwk": lambda K, S, s: mint(
        rsa_header(jwk=K.attacker.jwk(RSA_KID)), claims_for(s), rs256(K.attacker.private)),
    "rs256_signature_of_other_claims": lambda K, S, s: swap_claims(
        mint(rsa_header(), claims_for(s), rs256(K.ours.private)), claims_for(s, role="admin")),
    "rs256_expired": lambda K, S, s: mint(
        rsa_header(), claims_for(s, exp=int(time.time()) - 3600, iat=int(time.time()) - 4000),
        rs256(K.ours.private)),
    "rs256_exp_string": lambda K, S, s: mint(
        rsa_header(), claims_for(s, exp=str(int(time.time()) + 600)), rs256(K.ours.private)),
    "rs256_duplicate_sub": lambda K, S, s: mint(
        rsa_header(), claims_json_with(str(parley_uuid()), f'"sub":"{s}"'), rs256(K.ours.private)),
    "rs256_foreign_iss": lambda K, S, s: mint(
        rsa_header(), claims_for(s, iss="evil"), rs256(K.ours.private)),
    "rs256_aud_array_without_ours": lambda K, S, s: mint(
        rsa_header(), claims_for(s, aud=["evil"]), rs256(K.ours.private)),
    "rs256_kid_other_case": lambda K, S, s: mint(
        rsa_header(kid=RSA_KID.upper()), claims_for(s), rs256(K.ours.private)),
    "rs256_kid_with_path": lambda K, S, s: mint(
        rsa_header(kid=f"../{RSA_KID}"), claims_for(s), rs256(K.ours.private)),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("attack", sorted(RS256_ATTACKS))
def test_rs256_stack_token_attack_is_refused_at_connect(
        rsa_stack, rsa_mqtt, rsa_victim, keys, attack, protocol):
    token = RS256_ATTACKS[attack](keys, stack_secret(rsa_stack), rsa_victim.id)
    assert_refused(connect_code(rsa_mqtt, rsa_victim.id, token, protocol), protocol)


@pytest.mark.parametrize("header_name", ["jku", "x5u"])
def test_rs256_stack_never_fetches_jku_or_x5u(rsa_mqtt, rsa_victim, keys, key_server, header_name):
    """The key server publishes the attacker's key under kid rsa1 as well:
    a verifier that followed the URL would accept these."""
    for kid in (RSA_KID, "attacker"):
        token = mint(rsa_header(kid=kid, **{header_name: key_server.url("/jwks.json")}),
                     claims_for(rsa_victim.id), rs256(keys.attacker.private))
        assert_refused(connect_code(rsa_mqtt, rsa_victim.id, token, V311), V311)
    assert key_server.connections == [], f"the broker fetched a key URL: {key_server.connections}"
