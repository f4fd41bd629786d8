"""Read-only HTTP API of stored runs, and the dashboard pages ``/ui/values``.

``GET /values/runs`` lists runs, ``GET /values/runs/{run_id}`` gives one with its result document,
``GET /values/instruments`` the instruments. The pages render this capability's templates through the
server's ``render_page`` hook; figures are drawn once per run result and kept in memory.
"""

from __future__ import annotations

import base64
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from trustplane.core.config import Settings
from trustplane.core.errors import TrustplaneError
from trustplane.core.store import Store, get_store
from trustplane.values._instruments import list_instruments
from trustplane.values._report import write_run_report
from trustplane.values._runner import list_runs, open_run_store

router = APIRouter(tags=["values"])
_FIGURES: OrderedDict[str, dict[str, str]] = OrderedDict()
_FIGURES_LOCK = threading.Lock()
_FIGURES_KEPT = 16


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _store(request: Request) -> Store:
    log = getattr(request.app.state, "log", None)
    store = getattr(log, "store", None)
    return store if isinstance(store, Store) else get_store(_settings(request))


@router.get("/values/runs", summary="Stored questionnaire runs, newest first")
def runs(
    request: Request, model: str | None = Query(None, description="Only this model's runs.")
) -> list[dict[str, Any]]:
    return list_runs(_settings(request), model=model, store=_store(request))


@router.get("/values/runs/{run_id}", summary="One run: status, warnings and (when finished) its result document")
def run(request: Request, run_id: str) -> dict[str, Any]:
    row = open_run_store(_settings(request), _store(request)).get(run_id)
    return {**row.listing(), "warnings": row.warnings or [], "result": row.result}


@router.get("/values/instruments", summary="Instruments and whether they can be administered here")
def instruments(request: Request) -> list[dict[str, Any]]:
    return list_instruments(_settings(request))


# --- dashboard -----------------------------------------------------------------------------------------------
def _figures(document: dict[str, Any], digest: str) -> dict[str, str]:
    """The run's figures as base64 PNGs, drawn once per result hash."""
    with _FIGURES_LOCK:
        hit = _FIGURES.get(digest)
        if hit is not None:
            _FIGURES.move_to_end(digest)
            return hit
    with tempfile.TemporaryDirectory() as tmp:
        files = write_run_report(document, Path(tmp))
        figures = {p.stem: base64.b64encode(p.read_bytes()).decode() for p in files.figures}
    with _FIGURES_LOCK:
        _FIGURES[digest] = figures
        while len(_FIGURES) > _FIGURES_KEPT:
            _FIGURES.popitem(last=False)
    return figures


@router.get("/ui/values", response_class=HTMLResponse, include_in_schema=False)
def page(request: Request) -> Response:
    rows = list_runs(_settings(request), store=_store(request))
    render = request.app.state.render_page
    response: Response = render(request, "values_page.html", {"runs": rows}, active="values")
    return response


@router.get("/ui/values/{run_id}", response_class=HTMLResponse, include_in_schema=False)
def run_page(request: Request, run_id: str) -> Response:
    render = request.app.state.render_page
    try:
        row = open_run_store(_settings(request), _store(request)).get(run_id)
    except TrustplaneError as exc:
        response: Response = render(
            request, "not_found.html", {"message": exc.message}, active="values", status_code=404
        )
        return response
    figures = _figures(row.result, row.result_sha256 or run_id) if row.result is not None else {}
    context = {"run": row.listing(), "warnings": row.warnings or [], "result": row.result, "figures": figures}
    response = render(request, "values_run.html", context, active="values")
    return response
