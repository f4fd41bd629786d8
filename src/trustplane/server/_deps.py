"""Dependencies shared by routers: injected settings and log, admin authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from trustplane.core.config import Settings
from trustplane.core.errors import AuthRequiredError, ForbiddenError
from trustplane.core.log import TransparencyLog


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_log(request: Request) -> TransparencyLog:
    log: TransparencyLog = request.app.state.log
    return log


SettingsDep = Annotated[Settings, Depends(get_settings)]
LogDep = Annotated[TransparencyLog, Depends(get_log)]
_bearer = HTTPBearer(auto_error=False)


def require_admin(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Writes over HTTP need ``Authorization: Bearer $TRUSTPLANE_ADMIN_TOKEN``."""
    if settings.admin_token is None:
        raise ForbiddenError(
            "writes over HTTP are disabled on this server",
            hint="set TRUSTPLANE_ADMIN_TOKEN on the server, or append with the CLI",
        )
    if credentials is None:
        raise AuthRequiredError("this endpoint needs an admin bearer token", hint="send Authorization: Bearer <token>")
    if not hmac.compare_digest(credentials.credentials.encode(), settings.admin_token.get_secret_value().encode()):
        raise ForbiddenError("the admin token is wrong")


AdminDep = Depends(require_admin)
