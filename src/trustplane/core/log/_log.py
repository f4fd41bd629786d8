"""The transparency log over a :class:`~trustplane.core.store.Store`.

Appends validate every entry first, then run in one serialised write transaction that assigns
indices, persists each newly completed Merkle subtree, and signs a tree head. A failed append
rolls back whole, so the log is exactly as it was. Proofs read only the O(log n) subtree hashes
they need, in one query.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, and_, func, or_, select, tuple_, update

from trustplane.core.config import Settings
from trustplane.core.errors import (
    EntryNotFoundError,
    InvalidInputError,
    InvalidRangeError,
    SigningKeyMissingError,
)
from trustplane.core.log import _merkle as merkle
from trustplane.core.log._entries import GENESIS, KEY_ROTATION, Entry, encode_payload, leaf_data, make_entry, now_ms
from trustplane.core.log._keys import KeyStore, key_id, public_from_raw, raw_public
from trustplane.core.log._treehead import ConsistencyProof, InclusionProof, TreeHead, rotation_statement
from trustplane.core.store import Prepared, Store, get_store, log_entries, log_keys, log_meta, log_nodes, log_tree_heads

logger = logging.getLogger(__name__)

# Statements on the append path are built once: building a SQLAlchemy expression costs several times more than
# executing a cached one, and an append is on the request path of every logged decision.
_LAST_ENTRY = log_entries.c.idx.desc()
_LATEST_HEAD = log_tree_heads.c.tree_size.desc()
_ACTIVE_KEY = log_keys.c.retired_ms.is_(None)
_STATE = Prepared(
    select(
        select(log_entries.c.idx).order_by(_LAST_ENTRY).limit(1).scalar_subquery(),
        select(log_entries.c.timestamp).order_by(_LAST_ENTRY).limit(1).scalar_subquery(),
        select(log_tree_heads.c.tree_size).order_by(_LATEST_HEAD).limit(1).scalar_subquery(),
        select(log_tree_heads.c.root_hash).order_by(_LATEST_HEAD).limit(1).scalar_subquery(),
        select(log_meta.c.value).where(log_meta.c.name == "log_id").scalar_subquery(),
        select(func.count()).select_from(log_keys).where(_ACTIVE_KEY).scalar_subquery(),
        select(func.min(log_keys.c.key_id)).where(_ACTIVE_KEY).scalar_subquery(),
    )
)
_INSERT_ENTRIES = Prepared(log_entries.insert())
_INSERT_NODES = Prepared(log_nodes.insert())
_INSERT_HEAD = Prepared(log_tree_heads.insert())


@dataclass(frozen=True)
class _State:
    """What an append needs to know about the log, read in one query inside its write transaction."""

    size: int
    last_timestamp: int
    head_size: int | None
    head_root: bytes | None
    log_id: str | None
    active_keys: int
    active_key_id: str | None

    @classmethod
    def read(cls, conn: Connection) -> _State:
        row = _STATE.first(conn)
        assert row is not None  # scalar subqueries: always one row
        last_idx, last_ts, head_size, head_root, log_id, active, kid = row
        return cls(
            0 if last_idx is None else int(last_idx) + 1,
            int(last_ts or 0),
            None if head_size is None else int(head_size),
            None if head_root is None else bytes(head_root),
            None if log_id is None else str(log_id),
            int(active or 0),
            None if kid is None else str(kid),
        )


@dataclass(frozen=True)
class AppendResult:
    entries: list[Entry]
    tree_head: TreeHead


@dataclass(frozen=True)
class LogKey:
    key_id: str
    public_key: Ed25519PublicKey
    entry_index: int
    created_ms: int
    retired_ms: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "public_key": raw_public(self.public_key).hex(),
            "entry_index": self.entry_index,
            "created_ms": self.created_ms,
            "retired_ms": self.retired_ms,
            "active": self.retired_ms is None,
        }


class TransparencyLog:
    """Append-only, verifiable log of every claim trustplane makes."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.keystore = KeyStore(settings.keys_dir)
        self._signer: tuple[str, Ed25519PrivateKey] | None = None
        # The frontier after this instance's last committed append: reused when the log's size and latest
        # signed root still match it, which saves reading O(log n) nodes on every append.
        self._last_frontier: merkle.Frontier | None = None

    @classmethod
    def open(cls, settings: Settings) -> TransparencyLog:
        return cls(get_store(settings), settings)

    # --- writes ------------------------------------------------------------------------------------
    def append(self, kind: str, payload: Any, *, guard: Callable[[Connection], None] | None = None) -> AppendResult:
        """Append one entry and sign the new tree head (``guard``: see :meth:`append_many`)."""
        return self.append_many([(kind, payload)], guard=guard)

    def append_many(
        self, items: Sequence[tuple[str, Any]], *, guard: Callable[[Connection], None] | None = None
    ) -> AppendResult:
        """Append entries atomically (all or none) and sign one tree head over them.

        ``guard`` runs first inside the append's write transaction, on the same connection: if it raises,
        nothing is appended and the exception propagates. It makes "log this claim only if a condition still
        holds" atomic (the access gateway logs a released answer only if the caller's credentials are still
        unrevoked at commit).
        """
        if not items:
            raise InvalidInputError("nothing to append")
        if len(items) > self.settings.log_max_batch:
            raise InvalidInputError(
                f"batch of {len(items)} entries exceeds the limit of {self.settings.log_max_batch}",
                hint="split the batch or raise TRUSTPLANE_LOG_MAX_BATCH",
            )
        encoded = []
        for position, (kind, payload) in enumerate(items):
            if kind in (GENESIS, KEY_ROTATION):
                raise InvalidInputError(f"entries of kind {kind!r} are written by the log itself", kind=kind)
            try:
                normalised, body = encode_payload(kind, payload, max_bytes=self.settings.log_max_entry_bytes)
                encoded.append((kind, normalised, body))
            except InvalidInputError as exc:
                if len(items) > 1:
                    exc.message = f"batch item {position}: {exc.message}"
                    exc.extra["position"] = position
                raise
        with self.store.write() as conn:
            if guard is not None:
                guard(conn)
            state, frontier = self._ensure_genesis(conn)
            ts = max(now_ms(), state.last_timestamp)  # timestamps follow log order
            entries = self._insert(
                conn,
                frontier,
                [(leaf_data(kind, body, ts), kind, normalised, ts) for kind, normalised, body in encoded],
            )
            head = self._sign_head(conn, frontier, ts, self._log_id_of(state), self._active_signer(state))
        self._last_frontier = frontier.copy()  # committed
        return AppendResult(entries, head)

    def rotate_key(self) -> tuple[LogKey, AppendResult]:
        """Replace the signing key; the rotation is itself an entry, signed by both keys."""
        with self.store.write() as conn:
            state, frontier = self._ensure_genesis(conn)
            old_kid, old_key = self._active_signer(state)
            new_key = self.keystore.create()
            new_kid = key_id(new_key.public_key())
            pub_hex = raw_public(new_key.public_key()).hex()
            log_id = self._log_id_of(state)
            statement = rotation_statement(log_id, old_kid, new_kid, pub_hex)
            payload = {
                "log_id": log_id,
                "previous_key_id": old_kid,
                "key_id": new_kid,
                "public_key": pub_hex,
                "endorsement": old_key.sign(statement).hex(),
                "acceptance": new_key.sign(statement).hex(),
            }
            ts = max(now_ms(), state.last_timestamp)
            data = leaf_data(
                KEY_ROTATION, encode_payload(KEY_ROTATION, payload, max_bytes=self.settings.log_max_entry_bytes)[1], ts
            )
            index = frontier.size
            entries = self._insert(conn, frontier, [data])
            conn.execute(update(log_keys).where(log_keys.c.key_id == old_kid).values(retired_ms=ts))
            conn.execute(log_keys.insert().values(key_id=new_kid, public_key=pub_hex, entry_index=index, created_ms=ts))
            self._signer = (new_kid, new_key)
            head = self._sign_head(conn, frontier, ts, log_id, self._signer)
        logger.info("rotated log signing key %s -> %s at index %d", old_kid[:12], new_kid[:12], index)
        return LogKey(new_kid, new_key.public_key(), index, ts, None), AppendResult(entries, head)

    def ensure_initialised(self) -> TreeHead:
        """Create the signing key and genesis entry if this log is new; return the latest tree head."""
        with self.store.write() as conn:
            state, _ = self._ensure_genesis(conn)
            self._active_signer(state)
        return self.latest_tree_head()

    def _ensure_genesis(self, conn: Connection) -> tuple[_State, merkle.Frontier]:
        """The log's state and its frontier, after writing the genesis entry if the log is empty."""
        state = _State.read(conn)
        if state.size:
            cached = self._last_frontier
            if cached is not None and cached.size == state.size == state.head_size and cached.root() == state.head_root:
                return state, cached.copy()
            return state, self._frontier(conn, state.size)
        key = self.keystore.create()
        kid = key_id(key.public_key())
        pub_hex = raw_public(key.public_key()).hex()
        ts = now_ms()
        genesis = {"log_id": kid, "key_id": kid, "public_key": pub_hex}
        data = leaf_data(GENESIS, encode_payload(GENESIS, genesis, max_bytes=self.settings.log_max_entry_bytes)[1], ts)
        conn.execute(log_meta.insert().values(name="log_id", value=kid))
        conn.execute(log_keys.insert().values(key_id=kid, public_key=pub_hex, entry_index=0, created_ms=ts))
        self._signer = (kid, key)
        frontier = merkle.Frontier()
        self._insert(conn, frontier, [data])
        self._sign_head(conn, frontier, ts, kid, self._signer)
        logger.info("created transparency log %s", kid[:12])
        return _State(frontier.size, ts, frontier.size, frontier.root(), kid, 1, kid), frontier

    def _insert(
        self,
        conn: Connection,
        frontier: merkle.Frontier,
        items: Sequence[bytes | tuple[bytes, str, dict[str, Any], int]],
    ) -> list[Entry]:
        entries, nodes = [], []
        for item in items:
            entry = make_entry(frontier.size, item) if isinstance(item, bytes) else make_entry(frontier.size, *item)
            entries.append(entry)
            for level, idx, h in frontier.append(entry.leaf_hash):
                nodes.append({"level": level, "idx": idx, "hash": h})
        _INSERT_ENTRIES.executemany(
            conn, [{"idx": e.index, "kind": e.kind, "timestamp": e.timestamp, "data": e.data} for e in entries]
        )
        _INSERT_NODES.executemany(conn, nodes)
        return entries

    def _sign_head(
        self,
        conn: Connection,
        frontier: merkle.Frontier,
        ts: int,
        log_id: str,
        signer: tuple[str, Ed25519PrivateKey],
    ) -> TreeHead:
        kid, key = signer
        head = TreeHead(log_id, frontier.size, frontier.root(), ts, kid).sign(key)
        _INSERT_HEAD.executemany(
            conn,
            [
                {
                    "tree_size": head.tree_size,
                    "root_hash": head.root_hash,
                    "timestamp": head.timestamp,
                    "key_id": head.key_id,
                    "signature": head.signature,
                }
            ],
        )
        return head

    def _active_signer(self, state: _State) -> tuple[str, Ed25519PrivateKey]:
        kid = state.active_key_id
        if kid is None:
            raise SigningKeyMissingError("the log has no active signing key (was it imported as a read-only mirror?)")
        if state.active_keys > 1:
            raise SigningKeyMissingError(
                f"the log has {state.active_keys} active signing keys instead of one: the database is damaged"
            )
        if self._signer is None or self._signer[0] != kid:
            self._signer = (kid, self.keystore.load(kid))
        return self._signer

    @staticmethod
    def _log_id_of(state: _State) -> str:
        if state.log_id is None:
            raise EntryNotFoundError("the log is empty", hint="append an entry or run `trustplane serve` once")
        return state.log_id

    # --- reads -------------------------------------------------------------------------------------
    def _size(self, conn: Connection) -> int:
        return int(conn.execute(select(func.coalesce(func.max(log_entries.c.idx) + 1, 0))).scalar_one())

    def _log_id(self, conn: Connection) -> str:
        value = conn.execute(select(log_meta.c.value).where(log_meta.c.name == "log_id")).scalar_one_or_none()
        if value is None:
            raise EntryNotFoundError("the log is empty", hint="append an entry or run `trustplane serve` once")
        return str(value)

    def _nodes(self, conn: Connection, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        wanted = sorted(set(keys))
        found: dict[tuple[int, int], bytes] = {}
        for chunk_start in range(0, len(wanted), 400):
            chunk = wanted[chunk_start : chunk_start + 400]
            if self.store.dialect == "sqlite":
                cond = or_(*[and_(log_nodes.c.level == lv, log_nodes.c.idx == ix) for lv, ix in chunk])
            else:
                cond = tuple_(log_nodes.c.level, log_nodes.c.idx).in_(chunk)
            for level, idx, h in conn.execute(select(log_nodes.c.level, log_nodes.c.idx, log_nodes.c.hash).where(cond)):
                found[(int(level), int(idx))] = bytes(h)
        missing = [k for k in wanted if k not in found]
        if missing:
            raise RuntimeError(f"log storage is missing Merkle nodes {missing[:3]}: the database is damaged")
        return found

    def _frontier(self, conn: Connection, size: int) -> merkle.Frontier:
        keys = merkle.frontier_keys(size)
        nodes = self._nodes(conn, keys)
        return merkle.Frontier(size, [(lvl, nodes[(lvl, idx)]) for lvl, idx in keys])

    def size(self) -> int:
        with self.store.read() as conn:
            return self._size(conn)

    def log_id(self) -> str:
        with self.store.read() as conn:
            return self._log_id(conn)

    def entry(self, index: int) -> Entry:
        with self.store.read() as conn:
            row = conn.execute(select(log_entries.c.data).where(log_entries.c.idx == index)).first()
            if row is None:
                raise EntryNotFoundError(f"no entry at index {index} (the log has {self._size(conn)})", index=index)
            return make_entry(index, bytes(row[0]))

    def entries(
        self, start: int = 0, limit: int = 100, kind: str | None = None, descending: bool = False
    ) -> list[Entry]:
        if start < 0 or limit < 1:
            raise InvalidRangeError("start must be ≥ 0 and limit ≥ 1")
        query = select(log_entries.c.idx, log_entries.c.data)
        if kind:
            query = query.where(log_entries.c.kind == kind)
        if descending:
            query = query.where(log_entries.c.idx <= start).order_by(log_entries.c.idx.desc())
        else:
            query = query.where(log_entries.c.idx >= start).order_by(log_entries.c.idx)
        with self.store.read() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [make_entry(int(i), bytes(d)) for i, d in rows]

    def kind_counts(self) -> dict[str, int]:
        with self.store.read() as conn:
            rows = conn.execute(select(log_entries.c.kind, func.count()).group_by(log_entries.c.kind)).all()
        return {str(k): int(n) for k, n in rows}

    def _row_to_head(self, conn: Connection, row: Any) -> TreeHead:
        return TreeHead(
            self._log_id(conn), int(row.tree_size), bytes(row.root_hash), int(row.timestamp), row.key_id, row.signature
        )

    def latest_tree_head(self) -> TreeHead:
        with self.store.read() as conn:
            row = conn.execute(select(log_tree_heads).order_by(log_tree_heads.c.tree_size.desc()).limit(1)).first()
            if row is None:
                raise EntryNotFoundError("the log has no tree head yet", hint="append an entry first")
            return self._row_to_head(conn, row)

    def tree_head(self, tree_size: int) -> TreeHead:
        with self.store.read() as conn:
            row = conn.execute(select(log_tree_heads).where(log_tree_heads.c.tree_size == tree_size)).first()
            if row is None:
                raise EntryNotFoundError(f"no signed tree head at size {tree_size}", tree_size=tree_size)
            return self._row_to_head(conn, row)

    def tree_heads(self, start: int = 0, limit: int = 100) -> list[TreeHead]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(log_tree_heads)
                .where(log_tree_heads.c.tree_size >= start)
                .order_by(log_tree_heads.c.tree_size)
                .limit(limit)
            ).all()
            return [self._row_to_head(conn, r) for r in rows]

    def signing_keys(self) -> list[LogKey]:
        with self.store.read() as conn:
            rows = conn.execute(select(log_keys).order_by(log_keys.c.entry_index)).all()
        return [
            LogKey(
                r.key_id,
                public_from_raw(bytes.fromhex(r.public_key)),
                int(r.entry_index),
                int(r.created_ms),
                r.retired_ms,
            )
            for r in rows
        ]

    def active_key(self) -> LogKey:
        for k in self.signing_keys():
            if k.retired_ms is None:
                return k
        raise EntryNotFoundError("the log has no signing key yet", hint="run `trustplane serve` or append an entry")

    def root_at(self, tree_size: int) -> bytes:
        with self.store.read() as conn:
            size = self._size(conn)
            if not 0 <= tree_size <= size:
                raise InvalidRangeError(f"tree size {tree_size} is outside 0..{size}", tree_size=tree_size)
            if tree_size == 0:
                return merkle.EMPTY_ROOT
            return self._frontier(conn, tree_size).root()

    # --- proofs ------------------------------------------------------------------------------------
    def _resolve_size(self, conn: Connection, tree_size: int | None) -> int:
        size = self._size(conn)
        if tree_size is None:
            return size
        if not 0 < tree_size <= size:
            raise InvalidRangeError(f"tree size {tree_size} is outside 1..{size}", tree_size=tree_size)
        return tree_size

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> InclusionProof:
        """Audit path for entry ``index`` in the tree of ``tree_size`` (default: the whole log)."""
        with self.store.read() as conn:
            size = self._resolve_size(conn, tree_size)
            if not 0 <= index < size:
                raise InvalidRangeError(f"index {index} is outside a tree of size {size}", index=index, tree_size=size)
            ranges = merkle.inclusion_ranges(index, size)
            nodes = self._nodes(conn, merkle.nodes_needed(ranges) | {(0, index)})
        path = [merkle.range_hash(s, e, lambda lv, ix: nodes[(lv, ix)]) for s, e in ranges]
        return InclusionProof(index, size, nodes[(0, index)], path)

    def consistency_proof(self, first: int, second: int | None = None) -> ConsistencyProof:
        """Proof that the tree of size ``first`` is a prefix of the tree of size ``second``."""
        with self.store.read() as conn:
            second = self._resolve_size(conn, second)
            if not 0 < first <= second:
                raise InvalidRangeError(f"need 0 < first ≤ second, got first={first}, second={second}", tree_size=first)
            ranges = merkle.consistency_ranges(first, second)
            nodes = self._nodes(conn, merkle.nodes_needed(ranges))
        path = [merkle.range_hash(s, e, lambda lv, ix: nodes[(lv, ix)]) for s, e in ranges]
        return ConsistencyProof(first, second, path)
