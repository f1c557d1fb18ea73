"""Routes of the local Entra ID tenant, under ``/_emulator/entra`` (the authority the app is pointed at).

The app reads ``{authority}/{tenant}/v2.0/.well-known/openid-configuration`` (and the v1 document) and the
``jwks_uri`` they name, exactly as it reads them from ``https://login.microsoftonline.com`` in Azure, with
``PPGDR_ENTRA_AUTHORITY=<emulator base URL>/_emulator/entra``. Tests and people mint tokens with
``POST /_emulator/entra/token`` and roll the keys over with ``POST /_emulator/entra/rotate``.
"""

from __future__ import annotations

from emulator.admin import PREFIX
from emulator.errors import ArmError
from emulator.routing import ArmRequest, ArmResponse, Router
from emulator.state import Emulator

ENTRA = PREFIX + "/entra"


def authority(req: ArmRequest) -> str:
    return f"{req.base_url.rstrip('/')}{ENTRA}"


def build_router(emulator: Emulator) -> Router:
    router = Router()

    def tenant_of(req: ArmRequest) -> None:
        tenant = req.params["tenant"]
        if not emulator.entra.knows(tenant):
            raise ArmError(
                400, "invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found. Check that you have the correct tenant ID."
            )

    @router.route("GET", ENTRA)
    def describe(req: ArmRequest) -> ArmResponse:
        entra = emulator.entra
        return ArmResponse(
            200,
            {
                "tenantId": entra.tenant_id,
                "authority": authority(req),
                "signingKid": entra.signing_key.kid,
                "kids": [key.kid for key in entra.keys],
                "jwksRequests": entra.jwks_requests,
                "metadataRequests": entra.metadata_requests,
            },
        )

    @router.route("GET", ENTRA + "/{tenant}/v2.0/.well-known/openid-configuration")
    def openid_v2(req: ArmRequest) -> ArmResponse:
        tenant_of(req)
        return ArmResponse(200, emulator.entra.openid_configuration(authority(req), version=2))

    @router.route("GET", ENTRA + "/{tenant}/.well-known/openid-configuration")
    def openid_v1(req: ArmRequest) -> ArmResponse:
        tenant_of(req)
        return ArmResponse(200, emulator.entra.openid_configuration(authority(req), version=1))

    @router.route("GET", ENTRA + "/{tenant}/discovery/v2.0/keys")
    def keys_v2(req: ArmRequest) -> ArmResponse:
        tenant_of(req)
        return ArmResponse(200, emulator.entra.jwks(authority(req)))

    @router.route("GET", ENTRA + "/{tenant}/discovery/keys")
    def keys_v1(req: ArmRequest) -> ArmResponse:
        tenant_of(req)
        return ArmResponse(200, emulator.entra.jwks(authority(req)))

    @router.route("POST", ENTRA + "/token")
    def token(req: ArmRequest) -> ArmResponse:
        body = {} if req.body is None else req.json_body()
        access_token = emulator.entra.mint(body, authority(req))
        return ArmResponse(200, {"token_type": "Bearer", "access_token": access_token, "kid": emulator.entra.signing_key.kid})

    @router.route("POST", ENTRA + "/rotate")
    def rotate(req: ArmRequest) -> ArmResponse:
        body = {} if req.body is None else req.json_body()
        retire = body.get("retire", False)
        if not isinstance(retire, bool):
            raise ArmError(400, "InvalidParameter", "'retire' must be true or false.")
        fresh = emulator.entra.rotate(retire=retire)
        return ArmResponse(200, {"signingKid": fresh.kid, "kids": [key.kid for key in emulator.entra.keys]})

    return router
