"""Server-rendered dashboard: the log summary, the log browser and entry pages with in-browser verification.

Pages are Jinja2 templates under ``templates/``; the little JavaScript there is lives in ``static/``
(``verify.js`` re-checks an inclusion proof and the tree head's Ed25519 signature with WebCrypto).
Nothing is loaded from outside the server. Errors on ``/ui`` routes are friendly HTML pages.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

import trustplane
from trustplane._discovery import CAPABILITIES
from trustplane.core.errors import EntryNotFoundError
from trustplane.core.log import Entry, TransparencyLog, TreeHead
from trustplane.core.log._keys import raw_public

TEMPLATES_DIR = Path(__file__).parent / "templates"
PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
PREVIEW_CHARS = 96

router = APIRouter(include_in_schema=False)


def _template_dirs() -> list[Path]:
    """The server's templates first, then each installed capability's ``templates/`` folder.

    A capability's page template extends ``base.html`` and is rendered through :func:`render_page`, which
    the app hands to capability routers as ``request.app.state.render_page`` (capabilities never import the
    server).
    """
    dirs = [TEMPLATES_DIR]
    for cap in CAPABILITIES:
        spec = importlib.util.find_spec(f"trustplane.{cap}")
        if spec is not None and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                if (Path(location) / "templates").is_dir():
                    dirs.append(Path(location) / "templates")
    return dirs


templates = Jinja2Templates(directory=_template_dirs())
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


# --- formatting helpers (also registered as template filters) -----------------------------------------
def utc_iso(ms: int) -> str:
    """Milliseconds since the epoch as UTC ISO-8601 with milliseconds, e.g. ``2025-01-02T03:04:05.678Z``."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC) + timedelta(milliseconds=ms % 1000)  # exact, no float
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def short_hash(value: str | bytes, n: int = 12) -> str:
    """The first ``n`` hex digits of a hash, with an ellipsis."""
    text = value.hex() if isinstance(value, bytes) else value
    return text if len(text) <= n else text[:n] + "…"


def payload_preview(payload: Any, limit: int = PREVIEW_CHARS) -> str:
    """Compact one-line JSON of a payload, cut to ``limit`` characters."""
    text = json.dumps(payload, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


templates.env.filters["utc"] = utc_iso
templates.env.filters["short"] = short_hash
templates.env.filters["preview"] = payload_preview


@cache
def installed_capabilities() -> tuple[str, ...]:
    """Capability packages (``trustplane.<cap>``) present in this installation, in the design's order."""
    return tuple(cap for cap in CAPABILITIES if importlib.util.find_spec(f"trustplane.{cap}") is not None)


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    key: str


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _nav(root: str) -> list[NavItem]:
    items = [NavItem("Log", f"{root}/ui/log", "log")]
    items += [NavItem(cap.capitalize(), f"{root}/ui/{cap}", cap) for cap in installed_capabilities()]
    return items


def _render(
    request: Request, name: str, context: dict[str, Any], *, active: str = "", status_code: int = 200
) -> Response:
    root = _root(request)
    base = {"root": root, "nav": _nav(root), "active": active, "version": trustplane.__version__}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def render_page(
    request: Request, name: str, context: dict[str, Any], *, active: str = "", status_code: int = 200
) -> Response:
    """Render a dashboard page (server or capability template) inside the common layout and navigation."""
    return _render(request, name, context, active=active, status_code=status_code)


def _not_found(request: Request, message: str, *, active: str = "") -> Response:
    return _render(request, "not_found.html", {"message": message}, active=active, status_code=404)


def _log(request: Request) -> TransparencyLog:
    log: TransparencyLog = request.app.state.log
    return log


def _latest_head(log: TransparencyLog) -> TreeHead | None:
    try:
        return log.latest_tree_head()
    except EntryNotFoundError:
        return None


def _int_param(value: str | None, default: int | None, *, low: int, high: int | None = None) -> int | None:
    """Lenient query parsing for pages: a malformed value falls back to the default, a large one is clamped."""
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        return default
    if number < low:
        return default
    return min(number, high) if high is not None else number


# --- pages ----------------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    log = _log(request)
    head = _latest_head(log)
    counts = sorted(log.kind_counts().items())
    keys = log.signing_keys() if head is not None else []
    recent = log.entries(start=head.tree_size - 1, limit=5, descending=True) if head and head.tree_size else []
    return _render(
        request,
        "dashboard.html",
        {"head": head, "counts": counts, "total": sum(n for _, n in counts), "keys": keys, "recent": recent},
        active="home",
    )


@router.get("/ui", response_class=HTMLResponse)
def ui_root(request: Request) -> Response:
    return RedirectResponse(f"{_root(request)}/", status_code=307)


@router.get("/ui/log", response_class=HTMLResponse)
def log_page(request: Request, kind: str | None = None, start: str | None = None, limit: str | None = None) -> Response:
    log = _log(request)
    head = _latest_head(log)
    size = log.size()
    kind = (kind or "").strip() or None
    page_size = _int_param(limit, PAGE_SIZE, low=1, high=MAX_PAGE_SIZE) or PAGE_SIZE
    first = _int_param(start, None, low=0)
    top = max(size - 1, 0) if first is None else min(first, max(size - 1, 0))
    entries = log.entries(start=top, limit=page_size, kind=kind, descending=True) if size else []

    older = entries[-1].index - 1 if len(entries) == page_size and entries[-1].index > 0 else None
    if older is not None and not log.entries(start=older, limit=1, kind=kind, descending=True):
        older = None
    newer: int | None = None
    if entries and first is not None:
        ahead = log.entries(start=entries[0].index + 1, limit=page_size, kind=kind)
        newer = ahead[-1].index if ahead else None
    elif not entries and first is not None and size:
        newer = size - 1  # past the oldest entry: offer a way back to the top

    counts = log.kind_counts()
    kinds = sorted(set(counts) | ({kind} if kind else set()))
    return _render(
        request,
        "log.html",
        {
            "head": head,
            "size": size,
            "entries": entries,
            "kind": kind,
            "kinds": kinds,
            "counts": counts,
            "matching": counts.get(kind, 0) if kind else size,
            "limit": page_size,
            "custom_limit": page_size != PAGE_SIZE,
            "older": older,
            "newer": newer,
            "at_top": first is None,
        },
        active="log",
    )


def _cli_commands(entry: Entry, public_key_hex: str, base_url: str) -> dict[str, str]:
    key = shlex.quote(public_key_hex)
    return {
        "local": (
            f"trustplane log prove {entry.index}\n"
            f"trustplane log export log.jsonl && trustplane log verify log.jsonl --public-key {key}"
        ),
        "remote": (
            f"curl -fsS -o log.jsonl {shlex.quote(base_url + '/log/export')}\n"
            f"trustplane log verify log.jsonl --public-key {key}"
        ),
    }


@router.get("/ui/log/{index}", response_class=HTMLResponse)
def entry_page(request: Request, index: str) -> Response:
    log = _log(request)
    try:
        number = int(index)
        if number < 0:
            raise ValueError(index)
    except ValueError:
        return _not_found(request, f"“{index}” is not an entry index; indices are whole numbers from 0.", active="log")
    try:
        entry = log.entry(number)
    except EntryNotFoundError:
        size = log.size()
        last = f" (0 to {size - 1})" if size else ""
        return _not_found(request, f"There is no entry {number}: the log holds {size} entries{last}.", active="log")

    proof = log.inclusion_proof(entry.index)
    try:
        proof_head: TreeHead | None = log.tree_head(proof.tree_size)
    except EntryNotFoundError:
        proof_head = None
    signer = (
        next((k for k in log.signing_keys() if proof_head and k.key_id == proof_head.key_id), None) or log.active_key()
    )
    public_hex = raw_public(signer.public_key).hex()
    base_url = str(request.base_url).rstrip("/")
    return _render(
        request,
        "entry.html",
        {
            "entry": entry,
            "pretty": json.dumps(entry.payload, indent=2, ensure_ascii=False, sort_keys=True),
            "canonical": entry.data.decode("utf-8"),
            "canonical_b64": base64.b64encode(entry.data).decode("ascii"),
            "proof": proof,
            "proof_head": proof_head,
            "signer_key_id": signer.key_id,
            "public_key_hex": public_hex,
            "cli": _cli_commands(entry, public_hex, base_url),
            "size": log.size(),
        },
        active="log",
    )


@router.get("/ui/{name}", response_class=HTMLResponse)
def capability_page(request: Request, name: str) -> Response:
    if name not in installed_capabilities():
        return _not_found(request, f"There is no dashboard page “{name}”.")
    return _render(request, "capability.html", {"capability": name}, active=name)


@router.get("/ui/{rest:path}", response_class=HTMLResponse)
def ui_not_found(request: Request, rest: str) -> Response:
    if rest.endswith("/") and rest.strip("/"):
        return RedirectResponse(f"{_root(request)}/ui/{rest.strip('/')}", status_code=307)
    return _not_found(request, f"There is no dashboard page at /ui/{rest}.")
