"""A local Entra ID tenant that signs access tokens: the issuer the app checks tokens against, locally.

In Azure, Entra ID issues the tokens Azure Monitor's secure webhook sends and the tokens operators present,
and publishes the public keys at the ``jwks_uri`` of the tenant's OpenID configuration. This model does the
same for one fake tenant (the emulator's ``TENANT_ID``): RSA keys generated when the emulator starts, the
OpenID configuration (v1 and v2) and JWKS documents shaped like Entra's, token minting for tests and local
use, and key rotation (with or without retiring the old key), so the app's key cache meets a rollover.

Tokens are signed here with ``cryptography`` directly (RS256 over ``base64url(header).base64url(claims)``),
not with PyJWT: the app verifies with PyJWT, and sharing the library would let one bug hide on both sides.
Token times are real Unix time (``time.time()``), not the emulator's virtual clock: the app checks them
against its own wall clock, as it does in Azure.

Shapes follow Microsoft's documents (``docs/emulator.md`` cites them): v1 tokens are issued by
``https://sts.windows.net/{tenant}/`` with ``aud`` the Application ID URI, v2 tokens by
``{authority}/{tenant}/v2.0``; app-only tokens carry ``appid``/``azp`` and ``roles``, a person's carry
``name``, ``upn`` (v1) or ``preferred_username`` (v2). The JWKS lists ``kty``, ``use``, ``kid``, ``x5t``, ``n``,
``e`` and ``issuer``. Key ids are 27-character base64url strings like Entra's (here a hash of the modulus).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from emulator.errors import ArmError

TOKEN_LIFETIME_S = 3600
KEY_BITS = 2048
MAX_CLAIMS_BYTES = 8 * 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _int_b64(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        modulus = private.public_key().public_numbers().n
        return cls(kid=_b64(hashlib.sha1(_int_b64(modulus).encode()).digest()), private=private)  # noqa: S324  (an id, not security)

    def jwk(self, issuer: str) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _int_b64(numbers.n),
            "e": _int_b64(numbers.e),
            "issuer": issuer,
        }

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


class EntraTenant:
    """One tenant's signing keys (newest signs), its documents, and the tokens it mints."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id.lower()
        self.keys: list[SigningKey] = [SigningKey.generate()]
        self.jwks_requests = 0  # how often the key set was fetched (rollover and rate-limit tests read it)
        self.metadata_requests = 0

    @property
    def signing_key(self) -> SigningKey:
        return self.keys[-1]

    def knows(self, tenant: str) -> bool:
        """Entra answers for its tenant id and the multi-tenant aliases."""
        return tenant.lower() in (self.tenant_id, "common", "organizations")

    def v1_issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    def v2_issuer(self, authority: str) -> str:
        return f"{authority}/{self.tenant_id}/v2.0"

    def openid_configuration(self, authority: str, *, version: int) -> dict[str, Any]:
        """The tenant's OpenID Connect metadata (the subset a resource server reads)."""
        self.metadata_requests += 1
        if version == 2:
            base, issuer, keys = f"{authority}/{self.tenant_id}", self.v2_issuer(authority), "discovery/v2.0/keys"
            jwks_uri = f"{base}/{keys}"
            endpoints = f"{base}/oauth2/v2.0"
        else:
            base, issuer = f"{authority}/{self.tenant_id}", self.v1_issuer()
            jwks_uri = f"{authority}/common/discovery/keys"
            endpoints = f"{base}/oauth2"
        return {
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "token_endpoint": f"{endpoints}/token",
            "authorization_endpoint": f"{endpoints}/authorize",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "tenant_region_scope": "EU",
        }

    def jwks(self, authority: str) -> dict[str, Any]:
        self.jwks_requests += 1
        return {"keys": [key.jwk(self.v2_issuer(authority)) for key in self.keys]}

    def rotate(self, *, retire: bool = False) -> SigningKey:
        """A new signing key; the old ones stay published unless ``retire`` (Entra publishes the next key early)."""
        fresh = SigningKey.generate()
        self.keys = [fresh] if retire else [*self.keys, fresh]
        return fresh

    def mint(self, request: dict[str, Any], authority: str) -> str:
        """A signed access token with the claims asked for (see ``docs/emulator.md``, ``POST /_emulator/entra/token``)."""
        if not isinstance(request.get("aud"), str) or not request["aud"]:
            raise ArmError(400, "InvalidParameter", "'aud' (the audience: Application ID URI or client id) is required.")
        version = request.get("version", 1)
        if version not in (1, 2):
            raise ArmError(400, "InvalidParameter", "'version' must be 1 or 2.")
        roles = request.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ArmError(400, "InvalidParameter", "'roles' must be a list of strings.")
        now = int(time.time())
        lifetime = _number(request.get("lifetimeSeconds", TOKEN_LIFETIME_S), "lifetimeSeconds")
        claims: dict[str, Any] = {
            "aud": request["aud"],
            "iss": self.v2_issuer(authority) if version == 2 else self.v1_issuer(),
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
            "tid": self.tenant_id,
            "oid": str(request.get("oid") or uuid.uuid4()),
            "sub": str(request.get("sub") or uuid.uuid4()),
            "ver": "2.0" if version == 2 else "1.0",
            "uti": _b64(uuid.uuid4().bytes),
        }
        if roles:
            claims["roles"] = roles
        app_id = request.get("appid")
        if isinstance(app_id, str) and app_id:
            claims["azp" if version == 2 else "appid"] = app_id
            claims["idtyp"] = "app"
        for name in ("name", "upn", "preferred_username", "unique_name"):
            if isinstance(request.get(name), str):
                claims[name] = request[name]
        for name in ("exp", "nbf", "iat"):  # absolute Unix times, for expired and not-yet-valid tokens
            if name in request:
                claims[name] = int(_number(request[name], name))
        for name in ("iss", "tid"):
            if isinstance(request.get(name), str):
                claims[name] = request[name]
        extra = request.get("claims", {})
        if not isinstance(extra, dict):
            raise ArmError(400, "InvalidParameter", "'claims' must be an object.")
        claims.update(extra)
        if len(json.dumps(claims)) > MAX_CLAIMS_BYTES:
            raise ArmError(400, "InvalidParameter", "the claims are too large.")
        header = {"typ": "JWT", "alg": "RS256", "kid": self.signing_key.kid}
        if version == 1:
            header["x5t"] = self.signing_key.kid
        return self.signing_key.sign(header, claims)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArmError(400, "InvalidParameter", f"'{name}' must be a number.")
    return float(value)
