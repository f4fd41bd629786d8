"""Test doubles for the access gateway: a token issuer with its JWKS, status lists, counting backends."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from pydantic import Field

from trustplane.access import encode_status_list
from trustplane.core.config import ModelConfig
from trustplane.core.models import (
    BackendOptions,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ModelBackend,
    Usage,
    register_backend,
)

ISSUER = "https://idp.test.example"
AUDIENCE = "trustplane-test"
VC_ISSUER = "https://credentials.test.example"
STATUS_URL = "https://credentials.test.example/status/1"
ADMIN = "admin-secret"

CALLS: Counter[str] = Counter()
"""Upstream calls per model name, so tests can prove a bad request never reached the upstream."""


class Signer:
    """An ES256 key with a key id."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.key = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        return {**data, "kid": self.kid, "alg": "ES256", "use": "sig"}

    def sign(self, claims: dict[str, Any], *, typ: str | None = None, kid: str | None = None) -> str:
        headers: dict[str, Any] = {"kid": kid or self.kid}
        if typ:
            headers["typ"] = typ
        return jwt.encode(claims, self.key, algorithm="ES256", headers=headers)


class Identities:
    """An OIDC provider and a VC issuer, each with a JWKS file, plus a forger holding another key."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.idp = Signer("idp-1")
        self.vc_issuer = Signer("vc-1")
        self.forger = Signer("idp-1")  # same key id, different key
        self.idp_jwks = folder / "idp-jwks.json"
        self.vc_jwks = folder / "vc-jwks.json"
        self.idp_jwks.write_text(json.dumps({"keys": [self.idp.jwk()]}))
        self.vc_jwks.write_text(json.dumps({"keys": [self.vc_issuer.jwk()]}))

    def oidc(
        self,
        sub: str = "alice",
        *,
        exp_in: float = 300,
        aud: str = AUDIENCE,
        iss: str = ISSUER,
        signer: Signer | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {"iss": iss, "sub": sub, "aud": aud, "iat": now, "exp": now + int(exp_in), **claims}
        return (signer or self.idp).sign(body)

    def verified(
        self,
        sub: str = "alice",
        *,
        level: str = "substantial",
        affiliation: str | None = "Institute X",
        domains: Iterable[str] = (),
        **extra: Any,
    ) -> str:
        """An OIDC token carrying OIDC4IDA verified_claims."""
        claims: dict[str, Any] = {}
        if affiliation:
            claims["affiliation"] = affiliation
        if domains:
            claims["domain_authorisations"] = [{"domain": d, "field": "research"} for d in domains]
        verified = {
            "verification": {
                "trust_framework": "eidas",
                "assurance_level": level,
                "evidence": [{"type": "document"}],
            },
            "claims": claims,
        }
        return self.oidc(sub, verified_claims=verified, **extra)

    def vc(
        self,
        sub: str = "alice",
        *,
        subject: dict[str, Any] | None = None,
        status_index: int | None = None,
        status_url: str = STATUS_URL,
        exp_in: float = 3600,
        vcdm2: bool = False,
        signer: Signer | None = None,
        jti: str = "urn:uuid:cred-1",
    ) -> str:
        now = int(time.time())
        credential: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiableCredential", "ResearcherCredential"],
            "credentialSubject": {"id": sub, **(subject or {})},
        }
        if status_index is not None:
            credential["credentialStatus"] = {
                "id": f"{status_url}#{status_index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": str(status_index),
                "statusListCredential": status_url,
            }
        if vcdm2:
            body = {**credential, "issuer": VC_ISSUER, "id": jti, "validUntil": _iso(now + exp_in)}
            return (signer or self.vc_issuer).sign(body, typ="vc+jwt")
        body = {"iss": VC_ISSUER, "sub": sub, "jti": jti, "nbf": now, "exp": now + int(exp_in), "vc": credential}
        return (signer or self.vc_issuer).sign(body)

    def status_list(self, revoked: Iterable[int] = (), *, purpose: str = "revocation", bits: int = 131_072) -> str:
        data = bytearray(bits // 8)
        for i in revoked:
            data[i // 8] |= 1 << (7 - i % 8)
        now = int(time.time())
        body = {
            "iss": VC_ISSUER,
            "nbf": now,
            "vc": {
                "type": ["VerifiableCredential", "BitstringStatusListCredential"],
                "credentialSubject": {
                    "id": STATUS_URL + "#list",
                    "type": "BitstringStatusList",
                    "statusPurpose": purpose,
                    "encodedList": encode_status_list(bytes(data)),
                },
            },
        }
        return self.vc_issuer.sign(body)


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


# --- backends -----------------------------------------------------------------------------------------------
class ChunkOptions(BackendOptions):
    chunks: list[str] = Field(default_factory=lambda: ["Hello ", "world."])
    delay: float = Field(0.0, ge=0)


@register_backend("access-test")
class ChunkBackend(ModelBackend):
    """Streams exactly the configured chunks (mid-word splits included) and counts its calls."""

    options_type = ChunkOptions

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.options = ChunkOptions.model_validate(config.options)

    def _usage(self, request: ChatRequest) -> Usage:
        prompt = sum(len(m.content.split()) for m in request.messages)
        return Usage(prompt_tokens=prompt, completion_tokens=len("".join(self.options.chunks).split()))

    async def chat(self, request: ChatRequest) -> ChatResponse:
        CALLS[self.config.name] += 1
        return ChatResponse(model=self.config.name, content="".join(self.options.chunks), usage=self._usage(request))

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        CALLS[self.config.name] += 1
        for piece in self.options.chunks:
            if self.options.delay:
                await asyncio.sleep(self.options.delay)
            yield ChatChunk(delta=piece)
        yield ChatChunk(finish_reason="stop", usage=self._usage(request))


def chunk_model(name: str, chunks: list[str], delay: float = 0.0) -> ModelConfig:
    return ModelConfig(name=name, backend="access-test", options={"chunks": chunks, "delay": delay})
