"""Export a log to one JSON Lines file, verify such a file offline, and import it.

File layout, one JSON object per line::

    {"type": "header", "format": "trustplane-log", "version": 1, "log_id": ..., "tree_size": N, ...}
    {"type": "entry", "index": 0, "leaf_hash": ..., "entry": {"kind", "payload", "timestamp"}}
    {"type": "tree_head", "tree_head": {...signed tree head...}}      (right after the entry that completes it)
    ...
    {"type": "end", "entries": N, "tree_heads": M, "sha256": <digest of every preceding byte>}

The verifier trusts nothing in the file but the public key it is given: it recomputes every leaf
hash and every tree head's root, checks each signature against the key chain the log itself
records (genesis and rotations, each rotation signed by both keys), and requires the given key to
be in that chain. Every failure names the index or tree size and the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from sqlalchemy import select

from trustplane.core.errors import (
    ConflictError,
    ExportFormatError,
    InvalidInputError,
    VerificationError,
    WrongKeyError,
)
from trustplane.core.log import _merkle as merkle
from trustplane.core.log._entries import (
    GENESIS,
    KEY_ROTATION,
    GenesisPayload,
    KeyRotationPayload,
    canonical,
    now_ms,
)
from trustplane.core.log._keys import key_id, public_from_raw, verify_signature
from trustplane.core.log._log import TransparencyLog
from trustplane.core.log._treehead import TreeHead, rotation_statement
from trustplane.core.store import log_entries, log_keys, log_meta, log_nodes, log_tree_heads

FORMAT = "trustplane-log"
VERSION = 1


@dataclass
class ExportReport:
    """What a successful verification established."""

    log_id: str
    tree_size: int
    root_hash: str
    entries: int
    tree_heads: int
    key_ids: list[str]
    trusted_key_id: str
    checked_tree_head: int | None = None
    roots: dict[int, bytes] = field(default_factory=dict, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "log_id": self.log_id,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "entries": self.entries,
            "tree_heads": self.tree_heads,
            "key_ids": self.key_ids,
            "trusted_key_id": self.trusted_key_id,
            "checked_tree_head": self.checked_tree_head,
        }


# --- export ------------------------------------------------------------------------------------------
def export_log(log: TransparencyLog, path: Path | str, *, chunk: int = 20_000) -> TreeHead:
    """Write the log up to its latest signed tree head to ``path``; returns that tree head."""
    head = log.latest_tree_head()
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    digest = hashlib.sha256()

    def write(fh: IO[bytes], obj: dict[str, Any]) -> None:
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        digest.update(line)
        fh.write(line)

    keys = log.signing_keys()
    with tmp.open("wb") as fh:
        write(
            fh,
            {
                "type": "header",
                "format": FORMAT,
                "version": VERSION,
                "log_id": head.log_id,
                "tree_size": head.tree_size,
                "exported_at": now_ms(),
                "keys": [k.as_json() for k in keys if k.entry_index < head.tree_size],
            },
        )
        heads = iter(_all_heads(log, head.tree_size))
        next_head = next(heads, None)
        n_heads = 0
        with log.store.read() as conn:
            for start in range(0, head.tree_size, chunk):
                rows = conn.execute(
                    select(log_entries.c.idx, log_entries.c.data)
                    .where(log_entries.c.idx >= start, log_entries.c.idx < min(start + chunk, head.tree_size))
                    .order_by(log_entries.c.idx)
                ).all()
                for idx, data in rows:
                    data = bytes(data)
                    write(
                        fh,
                        {
                            "type": "entry",
                            "index": int(idx),
                            "leaf_hash": merkle.leaf_hash(data).hex(),
                            "entry": json.loads(data),
                        },
                    )
                    while next_head is not None and next_head.tree_size == idx + 1:
                        write(fh, {"type": "tree_head", "tree_head": next_head.as_json()})
                        n_heads += 1
                        next_head = next(heads, None)
        fh.write(
            json.dumps(
                {"type": "end", "entries": head.tree_size, "tree_heads": n_heads, "sha256": digest.hexdigest()},
                separators=(",", ":"),
            ).encode()
            + b"\n"
        )
    tmp.replace(path)
    return head


def _all_heads(log: TransparencyLog, upto: int) -> Iterator[TreeHead]:
    start = 0
    while True:
        batch = [h for h in log.tree_heads(start=start, limit=10_000) if h.tree_size <= upto]
        yield from batch
        if len(batch) < 10_000:
            return
        start = batch[-1].tree_size + 1


# --- verification ------------------------------------------------------------------------------------
def _fail(reason: str, message: str, **where: Any) -> VerificationError:
    return VerificationError(message, reason=reason, **where)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        yield from enumerate(fh, start=1)


def _parse(lineno: int, raw: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        if not raw.endswith(b"\n"):
            raise ExportFormatError(
                f"the export is truncated: line {lineno} is cut off mid-record", reason="truncated", line=lineno
            ) from None
        raise ExportFormatError(f"line {lineno} is not valid JSON", reason="malformed", line=lineno) from None
    if not isinstance(obj, dict) or "type" not in obj:
        raise ExportFormatError(f"line {lineno} is not a trustplane export record", reason="malformed", line=lineno)
    return obj


def _find_index_later(path: Path, after_line: int, index: int) -> int | None:
    for lineno, raw in _lines(path):
        if lineno <= after_line:
            continue
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(obj, dict) and obj.get("type") == "entry" and obj.get("index") == index:
            return lineno
    return None


def _missing_entry(path: Path, lineno: int, index: int, where: str, gap: str) -> VerificationError:
    """Entry ``index`` is not where it should be: moved further down the file, or gone."""
    later = _find_index_later(path, lineno, index)
    if later is not None:
        return _fail("reordered", f"entry {index} is out of order: it appears on line {later}, {where}", index=index)
    return _fail("deleted", f"entry {index} is missing: {gap}", index=index)


def verify_export(
    path: Path | str,
    public_key: Ed25519PublicKey,
    *,
    trusted_head: TreeHead | None = None,
    capture_roots: set[int] | None = None,
) -> ExportReport:
    """Check an exported log offline; raise :class:`VerificationError` naming index/size and reason."""
    path = Path(path)
    trusted_kid = key_id(public_key)
    digest = hashlib.sha256()
    frontier = merkle.Frontier()
    header: dict[str, Any] | None = None
    chain: list[tuple[int, str, Ed25519PublicKey]] = []  # (entry index, key id, key), in order
    last_head_size = 0
    n_heads = 0
    end: dict[str, Any] | None = None
    roots: dict[int, bytes] = {}
    wanted = set(capture_roots or ())
    if trusted_head is not None:
        wanted.add(trusted_head.tree_size)

    for lineno, raw in _lines(path):
        if end is not None:
            raise ExportFormatError(f"line {lineno}: data after the end record", reason="malformed", line=lineno)
        obj = _parse(lineno, raw)
        rtype = obj["type"]
        if rtype == "end":
            end = obj
            if obj.get("sha256") != digest.hexdigest():
                raise ExportFormatError(
                    "the end record's digest does not match the file: lines were changed after export",
                    reason="digest_mismatch",
                    line=lineno,
                )
            continue
        digest.update(raw)
        if header is None:
            if rtype != "header" or obj.get("format") != FORMAT:
                raise ExportFormatError(
                    "not a trustplane log export (no header on line 1)", reason="malformed", line=lineno
                )
            if obj.get("version") != VERSION:
                raise ExportFormatError(f"unsupported export version {obj.get('version')!r}", reason="malformed")
            header = obj
            continue
        if rtype == "entry":
            index = frontier.size
            found = obj.get("index")
            if found != index:
                if isinstance(found, int) and found > index:
                    raise _missing_entry(
                        path, lineno, index, f"after entry {found}", f"line {lineno} jumps to entry {found}"
                    )
                raise _fail(
                    "reordered",
                    f"entry {found} appears again or out of order on line {lineno} (expected entry {index})",
                    index=index,
                )
            record = obj.get("entry")
            if not isinstance(record, dict) or set(record) != {"kind", "payload", "timestamp"}:
                raise _fail("malformed", f"entry {index} must hold exactly kind, payload and timestamp", index=index)
            try:
                data = canonical(record)
            except InvalidInputError as exc:
                raise _fail("malformed", f"entry {index}: {exc.message}", index=index) from None
            lh = merkle.leaf_hash(data)
            if obj.get("leaf_hash") != lh.hex():
                raise _fail(
                    "edited",
                    f"entry {index} was edited: its content does not hash to its recorded leaf hash",
                    index=index,
                )
            _check_key_entry(index, record, chain, header)
            frontier.append(lh)
            if frontier.size in wanted:
                roots[frontier.size] = frontier.root()
            continue
        if rtype == "tree_head":
            try:
                head = TreeHead.from_json(obj.get("tree_head"))
            except InvalidInputError as exc:
                raise ExportFormatError(f"line {lineno}: {exc.message}", reason="malformed", line=lineno) from None
            size = head.tree_size
            if size > frontier.size and size > last_head_size:  # entries before this head are missing
                index = frontier.size
                raise _missing_entry(
                    path,
                    lineno,
                    index,
                    f"after the tree head for size {size}",
                    f"the tree head for size {size} follows entry {index - 1}",
                )
            if size != frontier.size or size <= last_head_size:
                raise _fail(
                    "reordered",
                    f"tree head for size {size} is misplaced (after entry {frontier.size - 1})",
                    tree_size=size,
                )
            if head.log_id != header["log_id"]:
                raise _fail("wrong_log", f"tree head at size {size} belongs to another log", tree_size=size)
            if head.root_hash != frontier.root():
                raise _fail(
                    "root_mismatch",
                    f"tree head at size {size} does not match the entries: an entry in [{last_head_size}, {size}) "
                    "was edited, deleted or reordered",
                    tree_size=size,
                    index_range=[last_head_size, size],
                )
            active = [c for c in chain if c[0] < size][-1]
            if head.key_id != active[1]:
                raise _fail(
                    "bad_signature",
                    f"tree head at size {size} names key {head.key_id[:16]}…, but {active[1][:16]}… was the signing key",
                    tree_size=size,
                )
            if not head.verify(active[2]):
                raise _fail("bad_signature", f"tree head at size {size} has an invalid signature", tree_size=size)
            last_head_size = size
            n_heads += 1
            continue
        if rtype == "header":
            raise ExportFormatError(f"line {lineno}: a second header", reason="malformed", line=lineno)
        raise ExportFormatError(f"line {lineno}: unknown record type {rtype!r}", reason="malformed", line=lineno)

    if header is None:
        raise ExportFormatError("the file is empty", reason="truncated")
    if end is None:
        raise ExportFormatError(
            f"the export is truncated: no end record after entry {frontier.size - 1} (header promised {header.get('tree_size')})",
            reason="truncated",
            index=frontier.size,
        )
    if (
        end.get("entries") != frontier.size
        or header.get("tree_size") != frontier.size
        or end.get("tree_heads") != n_heads
    ):
        raise ExportFormatError(
            f"the export holds {frontier.size} entries and {n_heads} tree heads, but its header/end records say "
            f"{header.get('tree_size')}/{end.get('entries')} entries and {end.get('tree_heads')} tree heads",
            reason="truncated",
        )
    if frontier.size == 0:
        raise ExportFormatError("the export holds no entries", reason="truncated")
    if last_head_size != frontier.size:
        raise _fail(
            "unsigned",
            f"entries {last_head_size}..{frontier.size - 1} are not covered by a signed tree head",
            index=last_head_size,
        )
    key_ids = [c[1] for c in chain]
    if trusted_kid not in key_ids:
        raise WrongKeyError(
            f"public key {trusted_kid[:16]}… is not a signing key of this log (its keys: {', '.join(k[:16] + '…' for k in key_ids)})",
            hint="use the log's public key: `trustplane log public-key` or GET /log/public-key",
            reason="wrong_key",
        )
    checked = None
    if trusted_head is not None:
        checked = _check_trusted_head(trusted_head, header["log_id"], chain, roots, frontier.size)
    return ExportReport(
        log_id=header["log_id"],
        tree_size=frontier.size,
        root_hash=frontier.root().hex(),
        entries=frontier.size,
        tree_heads=n_heads,
        key_ids=key_ids,
        trusted_key_id=trusted_kid,
        checked_tree_head=checked,
        roots=roots,
    )


def _check_key_entry(
    index: int, record: dict[str, Any], chain: list[tuple[int, str, Ed25519PublicKey]], header: dict[str, Any]
) -> None:
    kind = record["kind"]
    if index == 0 and kind != GENESIS:
        raise _fail("malformed", "entry 0 is not the log's genesis entry", index=0)
    if kind == GENESIS:
        if index != 0:
            raise _fail("malformed", f"entry {index} is a second genesis entry", index=index)
        try:
            gp = GenesisPayload.model_validate(record["payload"])
        except ValidationError:
            raise _fail("malformed", "the genesis entry's payload is invalid", index=0) from None
        key = public_from_raw(bytes.fromhex(gp.public_key))
        if key_id(key) != gp.key_id or gp.log_id != gp.key_id or header["log_id"] != gp.log_id:
            raise _fail("malformed", "the genesis entry's key does not match the log id", index=0)
        chain.append((0, gp.key_id, key))
    elif kind == KEY_ROTATION:
        try:
            rp = KeyRotationPayload.model_validate(record["payload"])
        except ValidationError:
            raise _fail("malformed", f"key rotation entry {index} has an invalid payload", index=index) from None
        _, prev_kid, prev_key = chain[-1]
        new_key = public_from_raw(bytes.fromhex(rp.public_key))
        statement = rotation_statement(rp.log_id, rp.previous_key_id, rp.key_id, rp.public_key)
        if rp.previous_key_id != prev_kid or key_id(new_key) != rp.key_id or rp.log_id != header["log_id"]:
            raise _fail("bad_signature", f"key rotation entry {index} does not follow the key chain", index=index)
        if not verify_signature(prev_key, rp.endorsement, statement):
            raise _fail("bad_signature", f"key rotation entry {index} is not endorsed by the previous key", index=index)
        if not verify_signature(new_key, rp.acceptance, statement):
            raise _fail("bad_signature", f"key rotation entry {index} is not accepted by the new key", index=index)
        chain.append((index, rp.key_id, new_key))


def _check_trusted_head(
    head: TreeHead, log_id: str, chain: list[tuple[int, str, Ed25519PublicKey]], roots: dict[int, bytes], size: int
) -> int:
    if head.log_id != log_id:
        raise _fail("wrong_log", "the trusted tree head belongs to another log", tree_size=head.tree_size)
    keys = {kid: key for _, kid, key in chain}
    if head.key_id not in keys or not head.verify(keys[head.key_id]):
        raise _fail(
            "bad_signature",
            "the trusted tree head's signature does not verify under this log's keys",
            tree_size=head.tree_size,
        )
    if head.tree_size > size:
        raise _fail(
            "rollback",
            f"the export ({size} entries) is shorter than the trusted tree head ({head.tree_size}): truncated or rolled back",
            tree_size=head.tree_size,
        )
    if roots.get(head.tree_size) != head.root_hash:
        raise _fail(
            "inconsistent",
            f"the export is not consistent with the trusted tree head at size {head.tree_size}: the log was forked or rewritten",
            tree_size=head.tree_size,
        )
    return head.tree_size


# --- import ------------------------------------------------------------------------------------------
def import_log(log: TransparencyLog, path: Path | str, public_key: Ed25519PublicKey) -> ExportReport:
    """Verify ``path`` and load it into ``log``'s store, which must be empty or a prefix of it."""
    path = Path(path)
    existing = log.size()
    report = verify_export(path, public_key, capture_roots={existing} if existing else None)
    if existing:
        if log.log_id() != report.log_id:
            raise ConflictError("the database holds a different log", hint="import into an empty database")
        if existing > report.tree_size:
            raise ConflictError(
                f"the database already has {existing} entries, more than the export's {report.tree_size}"
            )
        if log.root_at(existing) != report.roots[existing]:
            raise ConflictError(f"the database's log and the export disagree at size {existing}: they have forked")
    frontier = merkle.Frontier()
    with log.store.write() as conn:
        if log._size(conn) != existing:
            raise ConflictError("the log changed during import; retry")
        if not existing:
            conn.execute(log_meta.insert().values(name="log_id", value=report.log_id))
        entries: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        heads: list[dict[str, Any]] = []
        keys: list[dict[str, Any]] = []

        def flush() -> None:
            if entries:
                conn.execute(log_entries.insert(), entries)
            if nodes:
                conn.execute(log_nodes.insert(), nodes)
            if heads:
                conn.execute(log_tree_heads.insert(), heads)
            entries.clear()
            nodes.clear()
            heads.clear()

        for _, raw in _lines(path):
            obj = json.loads(raw)
            if obj["type"] == "entry":
                record = obj["entry"]
                data = canonical(record)
                index = frontier.size
                new_nodes = frontier.append(merkle.leaf_hash(data))
                if index < existing:
                    continue
                entries.append({"idx": index, "kind": record["kind"], "timestamp": record["timestamp"], "data": data})
                nodes.extend(
                    {"level": lv, "idx": ix, "hash": h} for lv, ix, h in new_nodes if (ix + 1) << lv > existing
                )
                if record["kind"] in (GENESIS, KEY_ROTATION):
                    p = record["payload"]
                    if keys:
                        keys[-1]["retired_ms"] = record["timestamp"]
                    keys.append(
                        {
                            "key_id": p["key_id"],
                            "public_key": p["public_key"],
                            "entry_index": index,
                            "created_ms": record["timestamp"],
                            "retired_ms": None,
                        }
                    )
            elif obj["type"] == "tree_head" and obj["tree_head"]["tree_size"] > existing:
                obj = obj["tree_head"]
                heads.append(
                    {
                        "tree_size": obj["tree_size"],
                        "root_hash": bytes.fromhex(obj["root_hash"]),
                        "timestamp": obj["timestamp"],
                        "key_id": obj["key_id"],
                        "signature": obj["signature"],
                    }
                )
            if len(entries) >= 20_000:
                flush()
        flush()
        if keys:
            if existing:  # retire the mirror's current key if the import rotated past it
                from sqlalchemy import update

                conn.execute(
                    update(log_keys).where(log_keys.c.retired_ms.is_(None)).values(retired_ms=keys[0]["created_ms"])
                )
            conn.execute(log_keys.insert(), keys)
    return report
