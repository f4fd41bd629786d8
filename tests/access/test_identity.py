"""Identity: API keys, OIDC tokens (OIDC4IDA verified_claims, REFEDS), VC-JWTs with Bitstring Status Lists."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.access._helpers import AUDIENCE, ISSUER, VC_ISSUER, Identities
from tests.access.conftest import StatusServer, make_settings
from trustplane.access import (
    ApiKeys,
    CredentialRevokedError,
    Gateway,
    IdentityVerifier,
    InvalidTokenError,
    Principal,
    Revocations,
    TokenExpiredError,
    WrongAudienceError,
    decode_status_list,
    encode_status_list,
    load_pepper,
    status_bit,
)
from trustplane.access._errors import (
    CredentialsMissingError,
    CredentialSubjectMismatchError,
    InvalidApiKeyError,
    KeyExpiredError,
    KeyRevokedError,
    MalformedClaimsError,
    StatusListUnavailableError,
    UntrustedIssuerError,
)
from trustplane.access._tables import api_keys
from trustplane.core.store import Store


def auth(gateway: Gateway, token: str, *credentials: str) -> Principal:
    return asyncio.run(gateway.identity.authenticate(f"Bearer {token}", credentials))


# --- API keys ----------------------------------------------------------------------------------------------
def test_api_keys_are_hashed_at_rest_and_shown_once(gateway: Gateway, access_store: Store) -> None:
    created = gateway.keys.create("pipeline", tier="verified", assurance="substantial", attributes=["affiliation"])
    secret = created.token.rsplit("_", 1)[1]
    with access_store.read() as conn:
        row = conn.execute(select(api_keys)).one()
    assert secret not in json.dumps([str(v) for v in row]) and len(row.secret_hash) == 64
    assert "api_key" not in json.dumps([k.as_json() for k in gateway.keys.list()])
    principal = auth(gateway, created.token)
    assert principal.id == f"key:{created.key.key_id}" and principal.method == "api_key"
    assert principal.assurance_name == "substantial" and principal.attributes == {"affiliation"}
    assert principal.tier == "verified"


def test_api_key_failures_are_specific(gateway: Gateway) -> None:
    created = gateway.keys.create("k")
    key_id = created.key.key_id
    with pytest.raises(InvalidApiKeyError, match="not valid"):
        auth(gateway, created.token[:-2] + "xx")
    with pytest.raises(InvalidApiKeyError, match="malformed"):
        auth(gateway, "tp_nounderscore")
    with pytest.raises(CredentialsMissingError):
        asyncio.run(gateway.identity.authenticate(None))
    with pytest.raises(CredentialsMissingError, match="Bearer"):
        asyncio.run(gateway.identity.authenticate(f"Basic {created.token}"))
    gateway.keys.revoke(key_id, "leaked")
    with pytest.raises(KeyRevokedError, match=key_id):
        auth(gateway, created.token)
    short = gateway.keys.create("short", expires_in_s=0.001)
    time.sleep(0.01)  # past its expiry, however fast the machine
    with pytest.raises(KeyExpiredError):
        auth(gateway, short.token)


def test_a_different_pepper_invalidates_every_key(gw_settings: Any, access_store: Store, tmp_path: Path) -> None:
    keys = ApiKeys(access_store, load_pepper(gw_settings))
    token = keys.create("k").token
    pepper_file = gw_settings.keys_dir / "access-pepper"
    assert stat.S_IMODE(os.stat(pepper_file).st_mode) == 0o600
    assert load_pepper(gw_settings) == pepper_file.read_bytes().strip()
    assert keys.authenticate(token).name == "k"
    with pytest.raises(InvalidApiKeyError):
        ApiKeys(access_store, b"another pepper").authenticate(token)


# --- OIDC ----------------------------------------------------------------------------------------------------
def test_oidc4ida_verified_claims_map_to_the_principal(gateway: Gateway, identities: Identities) -> None:
    token = identities.verified("alice", level="high", affiliation="Institute X", domains=["biological"], jti="t-1")
    p = auth(gateway, token)
    assert p.method == "oidc" and p.subject == "alice" and p.issuer == ISSUER
    assert p.assurance_name == "high" and p.tier == "verified"
    assert p.attributes == {"affiliation", "affiliation:Institute_X", "authorisation:biological"}
    assert p.trust_frameworks == ("eidas",) and p.evidence == ("document",) and p.credentials == ("t-1",)
    assert p.id.startswith("oidc:") and "alice" not in p.id
    assert p.expires_at is not None


def test_unverified_claims_confer_nothing(gateway: Gateway, identities: Identities) -> None:
    p = auth(gateway, identities.oidc("bob", affiliation="Institute X", domain_authorisations=["biological"]))
    assert p.assurance == 0 and p.attributes == frozenset() and p.tier == "default"


def test_refeds_assurance_values(gateway: Gateway, identities: Identities) -> None:
    token = identities.oidc(
        "carol",
        eduperson_assurance=[
            "https://refeds.org/assurance",
            "https://refeds.org/assurance/ID/unique",
            "https://refeds.org/assurance/IAP/high",
        ],
        eduperson_scoped_affiliation=["faculty@uni.example"],
    )
    p = auth(gateway, token)
    assert p.assurance_name == "high"
    assert p.attributes == {"unique_id", "affiliation", "affiliation:uni.example"}
    espresso = auth(
        gateway, identities.oidc("dan", eduperson_assurance="https://refeds.org/assurance/profile/espresso")
    )
    assert espresso.assurance_name == "high" and "unique_id" in espresso.attributes
    cappuccino = auth(
        gateway, identities.oidc("eve", eduperson_assurance=["https://refeds.org/assurance/profile/cappuccino"])
    )
    assert cappuccino.assurance_name == "substantial"
    medium = auth(gateway, identities.oidc("fay", eduperson_assurance=["https://refeds.org/assurance/IAP/medium"]))
    assert medium.assurance_name == "substantial" and medium.attributes == frozenset()
    odd = auth(gateway, identities.oidc("gus", eduperson_assurance=["urn:example:loa:9"]))
    assert odd.assurance == 0 and odd.extra == {"unrecognised_assurance": ["urn:example:loa:9"]}


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"verified_claims": {"claims": {}}}, "no verification object"),
        ({"verified_claims": {"verification": {"assurance_level": "high"}, "claims": {}}}, "no trust_framework"),
        ({"verified_claims": {"verification": {"trust_framework": "eidas"}}}, "no claims object"),
        ({"eduperson_scoped_affiliation": ["faculty"]}, "role@scope"),
        ({"eduperson_assurance": 7}, "eduperson_assurance must be a string"),
    ],
)
def test_malformed_identity_claims(
    gateway: Gateway, identities: Identities, claims: dict[str, Any], message: str
) -> None:
    with pytest.raises(MalformedClaimsError, match=message):
        auth(gateway, identities.oidc("x", **claims))


def test_expired_forged_wrong_audience_and_untrusted_tokens(gateway: Gateway, identities: Identities) -> None:
    with pytest.raises(TokenExpiredError):
        auth(gateway, identities.oidc(exp_in=-120))
    with pytest.raises(InvalidTokenError, match="signature does not verify") as forged:
        auth(gateway, identities.oidc(signer=identities.forger))
    assert forged.value.code == "access.token_invalid"
    with pytest.raises(WrongAudienceError):
        auth(gateway, identities.oidc(aud="someone-else"))
    with pytest.raises(UntrustedIssuerError):
        auth(gateway, identities.oidc(iss="https://evil.example"))
    with pytest.raises(InvalidTokenError, match="does not publish"):
        auth(gateway, identities.idp.sign({"iss": ISSUER, "sub": "x", "aud": AUDIENCE, "exp": 2**40}, kid="unknown"))
    unsigned = jwt.encode({"iss": ISSUER, "sub": "x", "aud": AUDIENCE, "exp": 2**40}, key=None, algorithm="none")
    with pytest.raises(InvalidTokenError):
        auth(gateway, unsigned)
    with pytest.raises(InvalidTokenError, match="neither an API key nor a JWT"):
        auth(gateway, "hello")
    with pytest.raises(InvalidTokenError):  # missing exp
        auth(gateway, identities.idp.sign({"iss": ISSUER, "sub": "x", "aud": AUDIENCE}))


def test_oidc_needs_an_audience(identities: Identities, tmp_path: Path, access_store: Store) -> None:
    from trustplane.access._errors import AccessConfigError

    settings = make_settings(tmp_path / "h", identities, oidc_audience=None)
    with pytest.raises(AccessConfigError, match="AUDIENCE"):
        IdentityVerifier(settings, ApiKeys(access_store, b"p"), Revocations(access_store))


class _JwksHandler(BaseHTTPRequestHandler):
    body = b"{}"
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def jwks_url(identities: Identities) -> Iterator[str]:
    _JwksHandler.body = identities.idp_jwks.read_bytes()
    _JwksHandler.hits = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()
    server.server_close()


def test_a_remote_jwks_is_fetched_once_and_cached(
    identities: Identities, tmp_path: Path, access_store: Store, jwks_url: str
) -> None:
    settings = make_settings(tmp_path / "h", identities, oidc_jwks_url=jwks_url)
    verifier = IdentityVerifier(settings, ApiKeys(access_store, b"p"), Revocations(access_store))
    for name in ("a", "b", "c"):
        assert asyncio.run(verifier.verify_token(identities.oidc(name))).subject == name
    assert _JwksHandler.hits == 1
    with pytest.raises(InvalidTokenError):
        asyncio.run(verifier.verify_token(identities.oidc(signer=identities.forger)))


# --- VC-JWT and status lists ------------------------------------------------------------------------------
def test_vc_jwt_maps_subject_claims(gateway: Gateway, identities: Identities, status_server: StatusServer) -> None:
    token = identities.vc(
        "did:example:alice",
        subject={
            "assuranceLevel": "high",
            "affiliation": {"id": "https://ror.org/x", "name": "Institute X"},
            "domainAuthorisations": [{"domain": "biological", "field": "virology", "institution": "Institute X"}],
        },
        status_index=94567,
    )
    p = auth(gateway, token)
    assert p.method == "vc" and p.subject == "did:example:alice" and p.issuer == VC_ISSUER
    assert p.assurance_name == "high"
    assert p.attributes == {"affiliation", "affiliation:https://ror.org/x", "authorisation:biological"}
    assert p.credentials == ("urn:uuid:cred-1",) and len(p.status_entries) == 1
    assert status_server.fetches == 1
    vcdm2 = auth(gateway, identities.vc("did:example:bob", subject={"assuranceLevel": "substantial"}, vcdm2=True))
    assert vcdm2.assurance_name == "substantial" and vcdm2.method == "vc"


def test_bitstring_status_list_revocation_takes_effect(
    gateway: Gateway, identities: Identities, status_server: StatusServer
) -> None:
    token = identities.vc("did:example:alice", subject={"assuranceLevel": "high"}, status_index=5)
    principal = auth(gateway, token)
    status_server.revoked.add(5)
    # Cached for the TTL: forget it to see the change now (the TTL is a setting).
    gateway.identity.status_lists.forget()
    with pytest.raises(CredentialRevokedError, match="marked revocation"):
        asyncio.run(gateway.identity.ensure_not_revoked(principal))
    with pytest.raises(CredentialRevokedError):
        auth(gateway, token)
    status_server.revoked.discard(5)
    status_server.revoked.add(6)
    gateway.identity.status_lists.forget()
    assert auth(gateway, token).subject == "did:example:alice"


def test_status_list_failures_fail_closed(
    gateway: Gateway, identities: Identities, status_server: StatusServer
) -> None:
    token = identities.vc("did:example:alice", subject={}, status_index=1)
    status_server.down = True
    with pytest.raises(StatusListUnavailableError, match="HTTP 503"):
        auth(gateway, token)
    status_server.down = False
    with pytest.raises(MalformedClaimsError, match="outside the list"):
        auth(gateway, identities.vc("did:example:alice", subject={}, status_index=10**7))
    with pytest.raises(StatusListUnavailableError, match="not a signed VC-JWT"):
        bad = StatusServer(identities)
        bad.handler = lambda request: __import__("httpx").Response(200, text='{"unsigned": true}')  # type: ignore[method-assign]
        gateway.identity.status_lists._transport = bad.transport()
        gateway.identity.status_lists.forget()
        auth(gateway, token)


def test_vc_failures(gateway: Gateway, identities: Identities) -> None:
    with pytest.raises(TokenExpiredError):
        auth(gateway, identities.vc(exp_in=-3600))
    with pytest.raises(TokenExpiredError):
        auth(gateway, identities.vc(exp_in=-3600, vcdm2=True))
    with pytest.raises(InvalidTokenError, match="signature"):
        forger = identities.forger
        forger.kid = identities.vc_issuer.kid
        auth(gateway, identities.vc(signer=forger))
    untrusted = jwt.encode({"iss": "https://elsewhere", "sub": "x", "vc": {}}, "k" * 32, algorithm="HS256")
    with pytest.raises(UntrustedIssuerError, match="not trusted"):
        auth(gateway, untrusted)


def test_extra_credentials_add_up_for_the_same_subject(gateway: Gateway, identities: Identities) -> None:
    login = identities.oidc("did:example:alice", eduperson_assurance=["https://refeds.org/assurance/IAP/high"])
    vc = identities.vc("did:example:alice", subject={"domainAuthorisations": ["chemical"], "affiliation": "Lab"})
    p = auth(gateway, login, vc)
    assert p.method == "oidc" and p.assurance_name == "high"
    assert p.attributes == {"affiliation", "affiliation:Lab", "authorisation:chemical"}
    with pytest.raises(CredentialSubjectMismatchError):
        auth(gateway, login, identities.vc("did:example:mallory", subject={"affiliation": "Lab"}))
    with pytest.raises(MalformedClaimsError, match="must be a verifiable credential"):
        auth(gateway, login, identities.oidc("did:example:alice"))
    key = gateway.keys.create("bound", subject="did:example:alice")
    assert "authorisation:chemical" in auth(gateway, key.token, vc).attributes


def test_admin_revocation_of_subjects_and_credentials(gateway: Gateway, identities: Identities) -> None:
    token = identities.oidc("alice", jti="tok-9")
    principal = auth(gateway, token)
    gateway.revocations.revoke("credential", "tok-9", "stolen laptop")
    with pytest.raises(CredentialRevokedError, match="tok-9"):
        auth(gateway, token)
    other = auth(gateway, identities.oidc("alice", jti="tok-10"))
    gateway.revocations.revoke("subject", f"{ISSUER}|alice")
    with pytest.raises(CredentialRevokedError, match="subject"):
        asyncio.run(gateway.identity.ensure_not_revoked(other))
    gateway.revocations.revoke("subject", auth(gateway, identities.oidc("bob")).id)
    with pytest.raises(CredentialRevokedError):
        auth(gateway, identities.oidc("bob"))
    assert principal.subject == "alice"
    assert [r.value for r in gateway.revocations.list()][:1] == ["tok-9"]


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=512), st.data())
def test_status_list_round_trip_and_bit_order(bits: bytes, data: st.DataObject) -> None:
    assert decode_status_list(encode_status_list(bits)) == bits
    index = data.draw(st.integers(min_value=0, max_value=len(bits) * 8 - 1))
    assert status_bit(bits, index) == bool(int.from_bytes(bits, "big") >> (len(bits) * 8 - 1 - index) & 1)


def test_w3c_status_list_example_decodes() -> None:
    """The W3C Bitstring Status List spec's example encodedList: 131,072 bits, all zero."""
    encoded = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
    bits = decode_status_list(encoded)
    assert len(bits) * 8 == 131_072 and not any(bits)
