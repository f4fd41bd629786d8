"""The app factory: settings injected, capability routers mounted, one error shape."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import trustplane
from trustplane._discovery import capability_modules
from trustplane.core.config import Settings, load_settings
from trustplane.core.errors import InvalidInputError, TrustplaneError, to_openai_error, to_problem
from trustplane.core.log import TransparencyLog
from trustplane.core.store import get_store

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
STATIC_DIR = Path(__file__).parent / "static"


def problem_response(request: Request, err: TrustplaneError) -> JSONResponse:
    if request.url.path.startswith("/v1/") or request.url.path == "/v1":
        return JSONResponse(to_openai_error(err), status_code=err.status)
    return JSONResponse(to_problem(err, instance=request.url.path), status_code=err.status, media_type=PROBLEM_JSON)


class _HTTPProblemError(TrustplaneError):
    """Wraps framework HTTP errors (404 route, 405 method) in the same problem shape."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self._status = status

    @property
    def status(self) -> int:  # type: ignore[override]
        return self._status

    @property
    def code(self) -> str:  # type: ignore[override]
        return {404: "not_found", 405: "method_not_allowed", 401: "auth.required", 403: "auth.forbidden"}.get(
            self._status, "http_error"
        )

    @property
    def title(self) -> str:  # type: ignore[override]
        return {404: "Not found", 405: "Method not allowed"}.get(self._status, "HTTP error")


def _capability_routers() -> list[tuple[str, Any]]:
    """Each installed capability's ``router``, plus routers plugins register as entry points."""
    found: list[tuple[str, Any]] = [(cap, module.router) for cap, module in capability_modules("router")]
    found.extend((ep.name, ep.load()) for ep in entry_points(group="trustplane.routers"))
    return found


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the trustplane server. Several isolated instances may live in one process."""
    settings = settings or load_settings()
    store = get_store(settings)
    log = TransparencyLog(store, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.upgrade()
        log.ensure_initialised()
        if settings.warm_models:
            from trustplane.core.models import get_model

            for m in settings.models:
                if m.backend == "local":
                    await get_model(settings, m.name).warm()
        yield

    app = FastAPI(
        title="trustplane",
        version=trustplane.__version__,
        summary="The accountability layer between AI model providers, their users and their auditors.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.log = log

    @app.exception_handler(TrustplaneError)
    async def _trustplane_error(request: Request, exc: TrustplaneError) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        err = InvalidInputError(f"invalid request at {'.'.join(first['loc']) or 'body'}: {first['msg']}", errors=errors)
        return problem_response(request, err)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(request, _HTTPProblemError(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        return problem_response(
            request, TrustplaneError("internal error; see the server log", incident=type(exc).__name__)
        )

    @app.get("/healthz", tags=["meta"], summary="Liveness and readiness")
    def healthz() -> dict[str, Any]:
        head = log.latest_tree_head()
        return {
            "status": "ok",
            "version": trustplane.__version__,
            "database": store.dialect,
            "log": {"log_id": head.log_id, "tree_size": head.tree_size},
        }

    from fastapi.staticfiles import StaticFiles

    from trustplane.server._dashboard import render_page
    from trustplane.server._dashboard import router as dashboard_router
    from trustplane.server._log_routes import router as log_router

    # Capability routers render dashboard pages with request.app.state.render_page(request, template, context,
    # active=<capability>); their templates live in trustplane/<cap>/templates and extend base.html.
    app.state.render_page = render_page
    app.include_router(log_router)
    for _name, router in _capability_routers():
        app.include_router(router)
    app.include_router(dashboard_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
