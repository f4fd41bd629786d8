"""The ``trustplane`` command line: a thin surface over the library.

Every command takes ``--json`` for scripts and prints a human table by default. Errors are one
line on stderr and a meaningful exit code (see :mod:`trustplane.core.errors`), never a traceback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from trustplane.core.config import Settings, load_settings
from trustplane.core.errors import EX_SOFTWARE, InvalidInputError, TrustplaneError, to_cli_line
from trustplane.core.output import JsonOpt, console, emit

app = typer.Typer(
    name="trustplane",
    help="The accountability layer between AI model providers, their users and their auditors.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
log_app = typer.Typer(help="The transparency log: append, show, prove, verify, export, import.", no_args_is_help=True)
models_app = typer.Typer(help="Model backends: list configured models, chat with one.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(log_app, name="log")
app.add_typer(models_app, name="models")
app.add_typer(db_app, name="db")

out = console
err = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    return load_settings(**{k: v for k, v in overrides.items() if v is not None})


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def _open_log(settings: Settings) -> Any:
    from trustplane.core.log import TransparencyLog
    from trustplane.core.store import get_store

    store = get_store(settings)
    store.upgrade()
    return TransparencyLog(store, settings)


# --- serve and db ------------------------------------------------------------------------------------
@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: TRUSTPLANE_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: TRUSTPLANE_PORT or 8000).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply migrations and run the server (API, OpenAPI at /docs, dashboard at /)."""
    import uvicorn

    from trustplane.server import create_app

    settings = _settings(host=host, port=port)
    store_rev = _open_log(settings).store.upgrade()
    info = {
        "url": f"http://{settings.host}:{settings.port}",
        "database": settings.resolved_database_url.split("://")[0],
        "revision": store_rev,
    }
    emit(
        as_json,
        info,
        lambda: err.print(
            f"trustplane serving on [bold]{info['url']}[/] (database {info['database']}, schema {store_rev})"
        ),
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Apply pending database migrations."""
    from trustplane.core.store import get_store

    settings = _settings()
    revision = get_store(settings).upgrade()
    emit(as_json, {"revision": revision}, lambda: out.print(f"database at revision [bold]{revision}[/]"))


# --- log ---------------------------------------------------------------------------------------------
def _read_payload(payload: str | None, file: Path | None, kind: str | None) -> list[tuple[str, Any]]:
    if file is not None:
        if payload is not None:
            raise InvalidInputError("give --payload or --file, not both")
        try:
            text = sys.stdin.read() if str(file) == "-" else file.read_text()
        except OSError as exc:
            raise InvalidInputError(f"cannot read {file}: {exc.strerror}") from None
        items: list[tuple[str, Any]] = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{file} line {n} is not JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise InvalidInputError(f"{file} line {n} must be an object")
            if "kind" in obj and "payload" in obj:
                items.append((obj["kind"], obj["payload"]))
            elif kind:
                items.append((kind, obj))
            else:
                raise InvalidInputError(f"{file} line {n} needs kind and payload (or pass --kind)")
        if not items:
            raise InvalidInputError(f"{file} holds no entries")
        return items
    if kind is None:
        raise InvalidInputError("--kind is required with --payload")
    if payload is None:
        raise InvalidInputError("give --payload JSON or --file FILE.jsonl")
    return [(kind, payload)]


@log_app.command("append")
def log_append(
    kind: Annotated[str | None, typer.Option(help="Entry kind, e.g. log.note (see `trustplane log kinds`).")] = None,
    payload: Annotated[str | None, typer.Option(help="The payload as a JSON object.")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            help="JSON Lines of {kind, payload} (or payloads with --kind); - for stdin. Appended as one batch."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Append one entry, or a batch from a file, and sign the new tree head."""
    items = _read_payload(payload, file, kind)
    result = _open_log(_settings()).append_many(items)
    head = result.tree_head
    data = {"entries": [e.as_json() for e in result.entries], "tree_head": head.as_json()}

    def human() -> None:
        first, last = result.entries[0].index, result.entries[-1].index
        span = f"entry {first}" if first == last else f"entries {first}..{last}"
        out.print(
            f"appended {span}; tree size {head.tree_size}, root {head.root_hash.hex()[:16]}…, signed by {head.key_id[:16]}…"
        )

    emit(as_json, data, human)


@log_app.command("show")
def log_show(
    index: Annotated[int | None, typer.Argument(help="Show this entry in full; omit to list entries.")] = None,
    start: Annotated[int | None, typer.Option(help="First index to list (default: newest, counting down).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 20,
    kind: Annotated[str | None, typer.Option(help="Only entries of this kind.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List entries (newest first), or show one entry with its payload."""
    log = _open_log(_settings())
    if index is not None:
        entry = log.entry(index)
        emit(as_json, entry.as_json(), lambda: out.print_json(data=entry.as_json()))
        return
    size = log.size()
    descending = start is None
    entries = (
        log.entries(start=size - 1 if start is None else start, limit=limit, kind=kind, descending=descending)
        if size
        else []
    )
    head = log.latest_tree_head() if size else None

    def human() -> None:
        table = Table(
            title=f"transparency log: {size} entries" + (f", root {head.root_hash.hex()[:16]}…" if head else "")
        )
        for col in ("index", "kind", "time (UTC)", "leaf hash", "payload"):
            table.add_column(col, overflow="fold")
        for e in entries:
            preview = json.dumps(e.payload, ensure_ascii=False)
            table.add_row(
                str(e.index),
                e.kind,
                _time(e.timestamp),
                e.leaf_hash.hex()[:16] + "…",
                preview[:60] + ("…" if len(preview) > 60 else ""),
            )
        out.print(table)

    emit(as_json, {"tree_size": size, "entries": [e.as_json() for e in entries]}, human)


@log_app.command("head")
def log_head(as_json: JsonOpt = False) -> None:
    """Show the latest signed tree head."""
    head = _open_log(_settings()).latest_tree_head()
    emit(as_json, head.as_json(), lambda: out.print_json(data=head.as_json()))


@log_app.command("prove")
def log_prove(
    index: Annotated[int | None, typer.Argument(help="Entry to prove included.")] = None,
    tree_size: Annotated[int | None, typer.Option(help="Tree size to prove against (default: latest).")] = None,
    consistency: Annotated[
        tuple[int, int] | None,
        typer.Option(help="Prove tree size FIRST is a prefix of SECOND instead.", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an inclusion (or consistency) proof and check it against the signed tree head."""
    from trustplane.core.log import verify_consistency, verify_inclusion

    log = _open_log(_settings())
    if consistency is not None:
        first, second = consistency
        cproof = log.consistency_proof(first, second)
        verify_consistency(first, second, log.root_at(first), log.root_at(second), cproof.path)
        data = cproof.as_json() | {
            "root_first": log.root_at(first).hex(),
            "root_second": log.root_at(second).hex(),
            "verified": True,
        }
        emit(
            as_json,
            data,
            lambda: out.print(
                f"tree {first} is a prefix of tree {second}: consistency proof of {len(cproof.path)} hashes verified ✓"
            ),
        )
        return
    if index is None:
        raise InvalidInputError("give an entry INDEX, or --consistency FIRST SECOND")
    proof = log.inclusion_proof(index, tree_size)
    head = log.tree_head(proof.tree_size)
    verify_inclusion(index, proof.tree_size, proof.leaf_hash, proof.path, head.root_hash)
    key = next(k for k in log.signing_keys() if k.key_id == head.key_id)
    signed = head.verify(key.public_key)
    data = proof.as_json() | {"tree_head": head.as_json(), "verified": True, "signature_valid": signed}
    emit(
        as_json,
        data,
        lambda: out.print(
            f"entry {index} is in the tree of size {proof.tree_size} (root {head.root_hash.hex()[:16]}…): "
            f"{len(proof.path)}-hash proof verified ✓, tree head signature {'valid ✓' if signed else 'INVALID ✗'}"
        ),
    )
    if not signed:
        raise typer.Exit(1)


@log_app.command("verify")
def log_verify(
    file: Annotated[Path, typer.Argument(help="An export made by `trustplane log export`.")],
    public_key: Annotated[
        str, typer.Option("--public-key", help="The log's public key: PEM, hex, base64, or a file holding one.")
    ],
    tree_head: Annotated[
        Path | None,
        typer.Option(help="A signed tree head (JSON) you trust from earlier: check the export is consistent with it."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify an exported log offline: every hash, every signature, consistency with an earlier head."""
    from trustplane.core.log import TreeHead, load_public_key, verify_export

    key = load_public_key(public_key)
    trusted = None
    if tree_head is not None:
        try:
            trusted = TreeHead.from_json(json.loads(tree_head.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"cannot read tree head {tree_head}: {exc}") from None
    report = verify_export(file, key, trusted_head=trusted)

    def human() -> None:
        extra = (
            f"; consistent with the trusted tree head at size {report.checked_tree_head}"
            if report.checked_tree_head
            else ""
        )
        out.print(
            f"OK: {report.entries} entries, {report.tree_heads} signed tree heads, root {report.root_hash[:16]}…, "
            f"{len(report.key_ids)} signing key(s){extra}"
        )

    emit(as_json, report.as_json(), human)


@log_app.command("export")
def log_export(
    file: Annotated[Path, typer.Argument(help="Where to write the export (JSON Lines).")],
    as_json: JsonOpt = False,
) -> None:
    """Export the whole log, with every signed tree head, to one verifiable file."""
    from trustplane.core.log import export_log

    log = _open_log(_settings())
    head = export_log(log, file)
    key = log.signing_keys()[-1]
    from trustplane.core.log._keys import raw_public

    data = {
        "file": str(file),
        "tree_size": head.tree_size,
        "root_hash": head.root_hash.hex(),
        "public_key": raw_public(key.public_key).hex(),
    }
    emit(
        as_json,
        data,
        lambda: out.print(
            f"exported {head.tree_size} entries to {file}\nverify with: trustplane log verify {file} --public-key {data['public_key']}"
        ),
    )


@log_app.command("import")
def log_import(
    file: Annotated[Path, typer.Argument(help="An export to load.")],
    public_key: Annotated[
        str, typer.Option("--public-key", help="The exporting log's public key (the file is verified first).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Verify an export and load it (into an empty database, or one holding a prefix of the same log)."""
    from trustplane.core.log import import_log, load_public_key

    report = import_log(_open_log(_settings()), file, load_public_key(public_key))
    emit(
        as_json,
        report.as_json(),
        lambda: out.print(f"imported and verified {report.entries} entries (root {report.root_hash[:16]}…)"),
    )


@log_app.command("public-key")
def log_public_key(
    pem: Annotated[bool, typer.Option("--pem", help="Print PEM instead of hex.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the active signing key (what verifiers need)."""
    from trustplane.core.log import public_pem
    from trustplane.core.log._keys import raw_public

    log = _open_log(_settings())
    log.ensure_initialised()
    key = log.active_key()
    data = {"key_id": key.key_id, "public_key": raw_public(key.public_key).hex(), "pem": public_pem(key.public_key)}
    emit(as_json, data, lambda: sys.stdout.write(data["pem"] if pem else data["public_key"] + "\n"))


@log_app.command("rotate-key")
def log_rotate_key(as_json: JsonOpt = False) -> None:
    """Replace the signing key; the rotation is recorded in the log, signed by both keys."""
    from trustplane.core.log._keys import raw_public

    key, result = _open_log(_settings()).rotate_key()
    data = {
        "key_id": key.key_id,
        "public_key": raw_public(key.public_key).hex(),
        "entry_index": key.entry_index,
        "tree_head": result.tree_head.as_json(),
    }
    emit(as_json, data, lambda: out.print(f"new signing key {key.key_id[:16]}… recorded at entry {key.entry_index}"))


@log_app.command("kinds")
def log_kinds(as_json: JsonOpt = False) -> None:
    """List the registered entry kinds."""
    from trustplane.core.log import registered_kinds

    kinds = registered_kinds()
    data = [{"name": k.name, "description": k.description} for k in kinds]

    def human() -> None:
        table = Table("kind", "description")
        for k in kinds:
            table.add_row(k.name, k.description)
        out.print(table)

    emit(as_json, data, human)


# --- models ------------------------------------------------------------------------------------------
@models_app.command("list")
def models_list(as_json: JsonOpt = False) -> None:
    """List the configured models and what each backend can do."""
    from trustplane.core.models import list_models

    rows = list_models(_settings())

    def human() -> None:
        table = Table("name", "backend", "capabilities", "default")
        for r in rows:
            caps = r.capabilities.model_dump() if r.capabilities else {}
            can = ", ".join(k for k, v in caps.items() if v is True) or (f"unusable: {r.error}" if r.error else "")
            table.add_row(r.name, r.backend, can, "✓" if r.default else "")
        out.print(table)

    emit(as_json, [r.model_dump(mode="json") for r in rows], human)


@models_app.command("chat")
def models_chat(
    message: Annotated[str, typer.Argument(help="The user message.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name (default: TRUSTPLANE_DEFAULT_MODEL).")
    ] = None,
    system: Annotated[str | None, typer.Option(help="A system prompt.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, max=8192)] = 256,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.0,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (temperature > 0).")] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Print tokens as they arrive.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Send one chat message to a model and print the answer."""
    from trustplane.core.models import ChatMessage, ChatRequest, get_model

    settings = _settings()
    messages = ([ChatMessage(role="system", content=system)] if system else []) + [
        ChatMessage(role="user", content=message)
    ]
    request = ChatRequest(messages=messages, max_tokens=max_tokens, temperature=temperature, seed=seed)
    chosen = get_model(settings, model)

    async def run() -> dict[str, Any]:
        if stream and not as_json:
            parts = []
            async for chunk in chosen.stream(request):
                parts.append(chunk.delta)
                sys.stdout.write(chunk.delta)
                sys.stdout.flush()
            sys.stdout.write("\n")
            return {"content": "".join(parts)}
        response = await chosen.chat(request)
        return response.model_dump() if hasattr(response, "model_dump") else dict(response.__dict__)

    data = asyncio.run(run())
    if not (stream and not as_json):
        emit(as_json, data, lambda: sys.stdout.write(str(data.get("content", "")) + "\n"))


# --- capabilities mount their own sub-apps --------------------------------------------------------------
def _mount_capabilities() -> None:
    from trustplane._discovery import capability_modules

    for cap, module in capability_modules("cli"):
        app.add_typer(module.app, name=cap)


_mount_capabilities()


def main() -> None:
    """Entry point: run the app, turning every trustplane error into one line and an exit code."""
    import logging

    # The library's audit logging is for servers; on a terminal the error line says it all.
    logging.basicConfig(
        level=os.environ.get("TRUSTPLANE_LOG_LEVEL", "ERROR").upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        # Without standalone mode, click returns (rather than raises) the code of a typer.Exit.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except TrustplaneError as exc:
        err.print(to_cli_line(exc), markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted", markup=False)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors and the unexpected
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("TRUSTPLANE_DEBUG"):
            raise
        err.print(
            f"error[internal]: {type(exc).__name__}: {exc} (set TRUSTPLANE_DEBUG=1 for a traceback)", markup=False
        )
        sys.exit(EX_SOFTWARE)
