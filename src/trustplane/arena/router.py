"""The arena over HTTP: ``/arena/...`` (JSON API, SSE for streamed answers) and the ``/ui/arena`` dashboard pages.

Writes that change who is in the arena (providers, variants, publication, deprecation, recorded battles,
snapshots) need ``Authorization: Bearer $TRUSTPLANE_ADMIN_TOKEN``; battles and votes are open to voters.
Every error is a :class:`~trustplane.core.errors.TrustplaneError`, which the app renders as problem+json.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from trustplane.arena._errors import ArenaInputError
from trustplane.arena._plots import leaderboard_figure, png_data_uri, win_matrix
from trustplane.arena._policy import FitParams
from trustplane.arena._service import Arena, policy_from_settings
from trustplane.arena._shares import share_report, shares_figure
from trustplane.core.config import Settings
from trustplane.core.errors import AuthRequiredError, ForbiddenError, TrustplaneError

api = APIRouter(prefix="/arena", tags=["arena"])
ui = APIRouter(include_in_schema=False)
router = APIRouter()

_lock = threading.Lock()
_bearer = HTTPBearer(auto_error=False)


def get_arena(request: Request) -> Arena:
    """The app's arena service, built once from the app's store, log and settings."""
    state = request.app.state
    arena: Arena | None = getattr(state, "arena", None)
    if arena is None:
        with _lock:
            arena = getattr(state, "arena", None)
            if arena is None:
                settings: Settings = state.settings
                arena = Arena(state.store, state.log, settings, policy_from_settings(settings))
                state.arena = arena
    return arena


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Arena writes need ``Authorization: Bearer $TRUSTPLANE_ADMIN_TOKEN`` (the server's admin token)."""
    settings: Settings = request.app.state.settings
    if settings.admin_token is None:
        raise ForbiddenError(
            "arena administration over HTTP is disabled on this server",
            hint="set TRUSTPLANE_ADMIN_TOKEN on the server, or use `trustplane arena` on its host",
        )
    if credentials is None:
        raise AuthRequiredError("this endpoint needs an admin bearer token", hint="send Authorization: Bearer <token>")
    if not hmac.compare_digest(credentials.credentials.encode(), settings.admin_token.get_secret_value().encode()):
        raise ForbiddenError("the admin token is wrong")


ArenaDep = Annotated[Arena, Depends(get_arena)]
Admin = [Depends(require_admin)]


# --- request bodies ------------------------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderIn(_Body):
    name: str = Field(description="Provider name.")


class VariantIn(_Body):
    name: str = Field(description="Unique variant name (never reused).")
    provider: str = Field(description="A registered provider.")
    model: str | None = Field(None, description="Backend model name (settings.models); omit for an offline variant.")
    private: bool = Field(True, description="Private variants are published later, by request or deadline.")


class DeprecateIn(_Body):
    reason: str = Field(description="Why the variant stops being sampled (logged).")
    force: bool = Field(False, description="Deprecate despite the per-category vote rule (logged as forced).")


class BattleIn(_Body):
    prompt: str = Field(description="The prompt both anonymous models answer.")
    category: str = Field("general", description="Prompt category, e.g. coding.")
    stream: bool = Field(True, description="Stream the answers as server-sent events; false: one JSON response.")


class VoteIn(_Body):
    outcome: Literal["a", "b", "tie", "both_bad"] = Field(description="The voter's verdict.")


class RecordIn(_Body):
    variant_a: str
    variant_b: str
    outcome: Literal["a", "b", "tie", "both_bad"]
    sampling_prob: float | None = Field(None, gt=0, le=1, description="P(this pair) in the external sampler.")
    category: str = "general"
    prompt_sha256: str | None = None


class FitIn(_Body):
    ties: str = "half"
    ci: str = "sandwich"
    n_bootstrap: int = 100
    seed: int = 0
    confidence: float = 0.95
    anchor: str | None = None
    anchor_rating: float = 1000.0
    ipw: bool = True


def _params(
    ties: Annotated[str, Query(description="half, davidson or rao_kupper.")] = "half",
    ci: Annotated[str, Query(description="sandwich or bootstrap.")] = "sandwich",
    seed: Annotated[int, Query(ge=0, description="Bootstrap seed.")] = 0,
    n_bootstrap: Annotated[int, Query(ge=2, le=1000, description="Bootstrap rounds (at most 1000 here).")] = 100,
    anchor: Annotated[str | None, Query(description="Variant fixed at 1000.")] = None,
    ipw: Annotated[bool, Query(description="Weight battles by 1 / sampling probability.")] = True,
) -> FitParams:
    return FitParams(ties=ties, ci=ci, seed=seed, n_bootstrap=n_bootstrap, anchor=anchor, ipw=ipw)


ParamsDep = Annotated[FitParams, Depends(_params)]


# --- providers and variants ----------------------------------------------------------------------------------
@api.post("/providers", status_code=201, dependencies=Admin, summary="Register a provider")
def post_provider(body: ProviderIn, arena: ArenaDep) -> dict[str, Any]:
    return arena.register_provider(body.name)


@api.get("/providers", summary="List providers")
def get_providers(arena: ArenaDep) -> list[dict[str, Any]]:
    return arena.providers()


@api.post("/variants", status_code=201, dependencies=Admin, summary="Register a variant in the log")
def post_variant(body: VariantIn, arena: ArenaDep) -> dict[str, Any]:
    return arena.register_variant(body.name, body.provider, body.model, private=body.private).as_json()


@api.get("/variants", summary="List variants")
def get_variants(arena: ArenaDep, provider: str | None = None) -> list[dict[str, Any]]:
    return [v.as_json() for v in arena.variants(provider)]


@api.get("/variants/{name}", summary="One variant")
def get_variant(name: str, arena: ArenaDep) -> dict[str, Any]:
    return arena.variant(name).as_json()


@api.post("/variants/{name}/publish", dependencies=Admin, summary="Publish a private variant's score")
def post_publish(name: str, arena: ArenaDep) -> dict[str, Any]:
    return arena.publish(name).as_json()


@api.post("/variants/{name}/deprecate", dependencies=Admin, summary="Deprecate a variant (stays in the fit)")
def post_deprecate(name: str, body: DeprecateIn, arena: ArenaDep) -> dict[str, Any]:
    return arena.deprecate(name, body.reason, force=body.force).as_json()


# --- battles -------------------------------------------------------------------------------------------------
def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


@api.post(
    "/battles",
    summary="Open a battle: two anonymous answers, streamed",
    responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
)
async def post_battle(body: BattleIn, arena: ArenaDep) -> Response:
    """Draw a pair by active sampling and ask both backends.

    With ``stream`` (default) the response is ``text/event-stream``: a ``battle`` event (its id), ``delta``
    events (``side`` a or b, text), one ``done`` per side (``error`` when that side failed) and ``end``
    (``ok``: whether the battle can be voted on). Otherwise one JSON object with both answers.
    """
    ticket = await run_in_threadpool(arena.create_battle, body.prompt, body.category)
    if not body.stream:
        view = await arena.answer(ticket.battle_id, body.prompt)
        return Response(json.dumps(view.as_json()), media_type="application/json")

    async def events() -> AsyncIterator[bytes]:
        yield _sse("battle", ticket.as_json())
        try:
            async for ev in arena.stream_answers(ticket.battle_id, body.prompt):
                if ev.side is None:
                    yield _sse("end", {"battle_id": ticket.battle_id, "ok": ev.ok})
                elif ev.error is not None:
                    yield _sse("error", ev.as_json())
                elif ev.done:
                    yield _sse("done", ev.as_json())
                else:
                    yield _sse("delta", ev.as_json())
        except TrustplaneError as exc:
            yield _sse("error", {"side": None, "error": {"code": exc.code, "message": exc.message}})
            yield _sse("end", {"battle_id": ticket.battle_id, "ok": False})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@api.get("/battles/{battle_id}", summary="A battle as the voter sees it")
def get_battle(battle_id: str, arena: ArenaDep) -> dict[str, Any]:
    return arena.battle(battle_id).as_json()


@api.post("/battles/{battle_id}/vote", summary="Vote once; reveals the identities")
def post_vote(battle_id: str, body: VoteIn, arena: ArenaDep) -> dict[str, Any]:
    return arena.vote(battle_id, body.outcome).as_json()


@api.get("/battles/{battle_id}/reveal", summary="The identities of a voted battle")
def get_reveal(battle_id: str, arena: ArenaDep) -> dict[str, Any]:
    return arena.reveal(battle_id).as_json()


@api.post("/battles/record", status_code=201, dependencies=Admin, summary="Record a battle voted elsewhere")
def post_record(body: RecordIn, arena: ArenaDep) -> dict[str, Any]:
    return arena.record_battle(
        body.variant_a,
        body.variant_b,
        body.outcome,
        sampling_prob=body.sampling_prob,
        category=body.category,
        prompt_sha256=body.prompt_sha256,
    ).as_json()


@api.get("/sampling", summary="The current pair-sampling probabilities")
def get_sampling(arena: ArenaDep) -> dict[str, Any]:
    dist = arena.sampling_distribution()
    return {"source": dist.source, "floor": dist.floor, "pairs": dist.as_json()}


# --- leaderboard, snapshots, shares --------------------------------------------------------------------------
@api.get("/leaderboard", summary="The current leaderboard, computed from the log")
def get_leaderboard(arena: ArenaDep, params: ParamsDep) -> dict[str, Any]:
    board = arena.leaderboard(params)
    return {"sha256": board.sha256, **board.data}


@api.post("/snapshots", status_code=201, dependencies=Admin, summary="Sign a leaderboard snapshot into the log")
def post_snapshot(arena: ArenaDep, body: FitIn | None = None) -> dict[str, Any]:
    params = FitParams(**(body.model_dump() if body else {}))
    result = arena.snapshot(params)
    return {**result.as_json(), "leaderboard": result.leaderboard.data}


@api.get("/snapshots", summary="The signed snapshots, newest first")
def get_snapshots(arena: ArenaDep) -> list[dict[str, Any]]:
    return arena.snapshots()


@api.get("/snapshots/latest", summary="The latest snapshot's leaderboard, as the exact signed bytes")
def get_latest_snapshot(arena: ArenaDep) -> Response:
    latest = arena.latest_snapshot()
    if latest is None:
        from trustplane.arena._errors import UnknownSnapshotError

        raise UnknownSnapshotError("no snapshot has been signed yet", hint="POST /arena/snapshots")
    meta, body = latest
    headers = {"X-Trustplane-Snapshot-Index": str(meta["index"]), "X-Trustplane-Snapshot-Sha256": meta["sha256"]}
    return Response(body, media_type="application/json", headers=headers)


@api.get("/snapshots/{index}/reproduce", summary="Rebuild a snapshot from the log and compare hashes")
def get_reproduce(index: int, arena: ArenaDep) -> dict[str, Any]:
    return arena.reproduce(index).as_json()


@api.get("/shares", summary="Each provider's share of battles and votes over time")
def get_shares(arena: ArenaDep, period: Annotated[str, Query(pattern="^(day|week)$")] = "day") -> dict[str, Any]:
    return share_report(arena.battle_rows(), period).as_json()


@api.get("/win-matrix", summary="Pairwise win rates of the published variants")
def get_win_matrix(arena: ArenaDep) -> dict[str, Any]:
    board = arena.leaderboard()
    visible = [r["variant"] for r in board.data["rows"] if r.get("score") is not None]
    return win_matrix(arena.battle_table(), visible).as_json()


# --- dashboard -----------------------------------------------------------------------------------------------
def _render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    response: Response = request.app.state.render_page(request, name, context, active="arena", status_code=status_code)
    return response


@ui.get("/ui/arena", response_class=HTMLResponse)
def battle_page(request: Request) -> Response:
    arena = get_arena(request)
    active = [v for v in arena.variants() if v.registered_index is not None and not v.deprecated and v.model]
    categories = ["general", "coding", "math", "writing", "reasoning", "other"]
    return _render(request, "arena_battle.html", {"n_active": len(active), "categories": categories})


def _cell_style(rate: float | None) -> str:
    if rate is None:
        return ""
    # blue for winning, red for losing, white at one half
    if rate >= 0.5:
        k = int(255 - (rate - 0.5) * 2 * 150)
        return f"background: rgb({k}, {k + 20 if k + 20 < 256 else 255}, 255)"
    k = int(255 - (0.5 - rate) * 2 * 150)
    return f"background: rgb(255, {k}, {k})"


@ui.get("/ui/arena/leaderboard", response_class=HTMLResponse)
def leaderboard_page(request: Request, period: str = "day") -> Response:
    arena = get_arena(request)
    if period not in ("day", "week"):
        period = "day"
    try:
        board = arena.leaderboard()
    except ArenaInputError as exc:  # pragma: no cover - default parameters are valid
        return _render(request, "arena_leaderboard.html", {"error": exc.message}, status_code=422)
    rows = board.data["rows"]
    rated = [r for r in rows if r.get("score") is not None]
    matrix = win_matrix(arena.battle_table(), [r["variant"] for r in rated])
    matrix_rows = [
        {
            "variant": m,
            "cells": [
                {
                    "rate": None if matrix.count[i, j] == 0 else float(matrix.rate[i, j]),
                    "count": int(matrix.count[i, j]),
                    "style": _cell_style(None if matrix.count[i, j] == 0 else float(matrix.rate[i, j])),
                }
                for j in range(len(matrix.models))
            ],
        }
        for i, m in enumerate(matrix.models)
    ]
    shares = share_report(arena.battle_rows(), period)
    latest = arena.latest_snapshot()
    context = {
        "board": board.data,
        "sha256": board.sha256,
        "rows": rows,
        "rated": rated,
        "plot": png_data_uri(leaderboard_figure(board.data)) if rated else None,
        "matrix": matrix,
        "matrix_rows": matrix_rows,
        "shares": shares,
        "shares_plot": png_data_uri(shares_figure(shares)) if shares.n_battles else None,
        "period": period,
        "snapshot": latest[0] if latest else None,
        "error": None,
    }
    return _render(request, "arena_leaderboard.html", context)


router.include_router(api)
router.include_router(ui)
