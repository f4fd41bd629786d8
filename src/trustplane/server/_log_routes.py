"""``/log``: entries, signed tree heads, inclusion and consistency proofs, keys, export."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query
from fastapi.responses import FileResponse, PlainTextResponse
from pydantic import BaseModel, Field

from trustplane.core.log import export_log, public_pem, registered_kinds
from trustplane.core.log._keys import raw_public
from trustplane.server._deps import AdminDep, LogDep

router = APIRouter(prefix="/log", tags=["log"])


class EntryOut(BaseModel):
    index: int
    kind: str
    payload: dict[str, Any]
    timestamp: int = Field(description="Milliseconds since the Unix epoch (UTC).")
    leaf_hash: str = Field(description="RFC 9162 leaf hash of the canonical entry, hex.")


class TreeHeadOut(BaseModel):
    type: str
    log_id: str
    tree_size: int
    root_hash: str
    timestamp: int
    key_id: str
    signature: str = Field(description="Ed25519 signature over the canonical JSON of the other fields, hex.")


class EntryIn(BaseModel):
    kind: str = Field(min_length=1, max_length=128)
    payload: dict[str, Any]


class AppendIn(BaseModel):
    entries: list[EntryIn] = Field(min_length=1)


class AppendOut(BaseModel):
    entries: list[EntryOut]
    tree_head: TreeHeadOut


class EntriesPage(BaseModel):
    entries: list[EntryOut]
    tree_size: int
    next_start: int | None


@router.get("/entries", response_model=EntriesPage, summary="List entries")
def list_entries(
    log: LogDep,
    start: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    kind: str | None = None,
    order: Literal["asc", "desc"] = "asc",
) -> dict[str, Any]:
    size = log.size()
    descending = order == "desc"
    if start is None:
        start = max(size - 1, 0) if descending else 0
    entries = log.entries(start=start, limit=limit, kind=kind, descending=descending)
    nxt = None
    if len(entries) == limit:
        nxt = entries[-1].index - 1 if descending else entries[-1].index + 1
        if nxt < 0:
            nxt = None
    return {"entries": [e.as_json() for e in entries], "tree_size": size, "next_start": nxt}


@router.get("/entries/{index}", response_model=EntryOut, summary="One entry")
def get_entry(log: LogDep, index: int) -> dict[str, Any]:
    return log.entry(index).as_json()


@router.post("/entries", response_model=AppendOut, status_code=201, dependencies=[AdminDep], summary="Append entries")
def append_entries(log: LogDep, body: AppendIn) -> dict[str, Any]:
    result = log.append_many([(e.kind, e.payload) for e in body.entries])
    return {"entries": [e.as_json() for e in result.entries], "tree_head": result.tree_head.as_json()}


@router.get("/tree-head", response_model=TreeHeadOut, summary="Latest signed tree head")
def latest_tree_head(log: LogDep) -> dict[str, Any]:
    return log.latest_tree_head().as_json()


@router.get("/tree-heads", response_model=list[TreeHeadOut], summary="Signed tree heads by size")
def list_tree_heads(
    log: LogDep, start: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return [h.as_json() for h in log.tree_heads(start=start, limit=limit)]


@router.get("/tree-heads/{tree_size}", response_model=TreeHeadOut, summary="The signed tree head at a size")
def get_tree_head(log: LogDep, tree_size: int) -> dict[str, Any]:
    return log.tree_head(tree_size).as_json()


@router.get("/proof/inclusion", summary="Inclusion proof (RFC 9162 §2.1.3)")
def inclusion_proof(
    log: LogDep, index: Annotated[int, Query(ge=0)], tree_size: Annotated[int | None, Query(ge=1)] = None
) -> dict[str, Any]:
    proof = log.inclusion_proof(index, tree_size)
    out = proof.as_json()
    try:
        out["tree_head"] = log.tree_head(proof.tree_size).as_json()
    except Exception:  # a size with no signed head: the proof still verifies against root_at
        out["tree_head"] = None
    return out


@router.get("/proof/consistency", summary="Consistency proof (RFC 9162 §2.1.4)")
def consistency_proof(
    log: LogDep, first: Annotated[int, Query(ge=1)], second: Annotated[int | None, Query(ge=1)] = None
) -> dict[str, Any]:
    return log.consistency_proof(first, second).as_json()


@router.get("/public-key", summary="The active signing key")
def public_key(log: LogDep, format: Literal["json", "pem"] = "json") -> Any:
    key = log.active_key()
    if format == "pem":
        return PlainTextResponse(public_pem(key.public_key), media_type="application/x-pem-file")
    return {
        "key_id": key.key_id,
        "public_key": raw_public(key.public_key).hex(),
        "pem": public_pem(key.public_key),
        "log_id": log.log_id(),
    }


@router.get("/keys", summary="Every signing key the log has used, oldest first")
def keys(log: LogDep) -> list[dict[str, Any]]:
    return [k.as_json() for k in log.signing_keys()]


@router.get("/kinds", summary="Registered entry kinds")
def kinds() -> list[dict[str, Any]]:
    return [
        {"name": k.name, "description": k.description, "schema": k.schema.model_json_schema() if k.schema else None}
        for k in registered_kinds()
    ]


@router.get("/export", summary="The whole log as one verifiable JSON Lines file")
def export(log: LogDep, background: BackgroundTasks) -> FileResponse:
    tmpdir = Path(tempfile.mkdtemp(prefix="trustplane-export-"))
    path = tmpdir / "trustplane-log.jsonl"
    export_log(log, path)

    def _cleanup() -> None:
        path.unlink(missing_ok=True)
        tmpdir.rmdir()

    background.add_task(_cleanup)
    return FileResponse(path, media_type="application/jsonl", filename="trustplane-log.jsonl")
