"""Runs and their responses in the database (tables made by migrations/versions/values_0001_runs.py).

Each response is written in its own short transaction as soon as it is known, so an interrupted run
loses at most the items in flight and resumes from what is stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from trustplane.core.store import Store
from trustplane.values._errors import UnknownRunError

metadata = MetaData()
runs = Table(
    "values_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("model", String(128), nullable=False),
    Column("backend", String(64), nullable=False),
    Column("instrument_id", String(64), nullable=False),
    Column("instrument_version", String(64), nullable=False),
    Column("instrument_sha256", String(64), nullable=False),
    Column("config_sha256", String(64), nullable=False),
    Column("spec_json", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("planned", Integer, nullable=False),
    Column("warnings_json", Text, nullable=True),
    Column("result_json", Text, nullable=True),
    Column("result_sha256", String(64), nullable=True),
    Column("log_index", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
)
responses = Table(
    "values_responses",
    metadata,
    Column("run_id", String(64), ForeignKey("values_runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("task", String(255), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("retained_mass", Float, nullable=True),
    Column("detail_json", Text, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)


def _now() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class RunRow:
    """A run as stored."""

    run_id: str
    created_ms: int
    updated_ms: int
    model: str
    backend: str
    instrument_id: str
    instrument_version: str
    instrument_sha256: str
    config_sha256: str
    spec: dict[str, Any]
    status: str
    planned: int
    answered: int
    warnings: list[str] | None
    result: dict[str, Any] | None
    result_sha256: str | None
    log_index: int | None
    error: str | None

    def listing(self) -> dict[str, Any]:
        """The run without its (large) result: for lists and the API."""
        return {
            "run_id": self.run_id,
            "model": self.model,
            "backend": self.backend,
            "instrument": self.instrument_id,
            "instrument_version": self.instrument_version,
            "methods": self.spec.get("config", {}).get("methods", []),
            "status": self.status,
            "planned": self.planned,
            "recorded": self.answered,
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
            "result_sha256": self.result_sha256,
            "log_index": self.log_index,
            "error": self.error,
        }


class RunStore:
    """Reads and writes the values tables of one :class:`~trustplane.core.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, row: dict[str, Any]) -> bool:
        """Insert a new run; False when a run with that id already exists."""
        now = _now()
        try:
            with self.store.write() as conn:
                exists = conn.execute(select(runs.c.run_id).where(runs.c.run_id == row["run_id"])).first()
                if exists:
                    return False
                conn.execute(insert(runs).values(**row, created_ms=now, updated_ms=now))
        except IntegrityError:
            return False
        return True

    def set_status(self, run_id: str, status: str, **fields: Any) -> None:
        with self.store.write() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(status=status, updated_ms=_now(), **fields))

    def set_warnings(self, run_id: str, warnings: list[str]) -> None:
        with self.store.write() as conn:
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(warnings_json=json.dumps(warnings)))

    def add_response(
        self, run_id: str, task: str, seq: int, status: str, value: float | None, mass: float | None, detail: str
    ) -> None:
        """Record one response (idempotent: a task already stored is left as it is)."""
        with self.store.write() as conn:
            if conn.execute(
                select(responses.c.task).where(responses.c.run_id == run_id, responses.c.task == task)
            ).first():
                return
            conn.execute(
                insert(responses).values(
                    run_id=run_id,
                    task=task,
                    seq=seq,
                    status=status,
                    value=value,
                    retained_mass=mass,
                    detail_json=detail,
                    created_ms=_now(),
                )
            )
            conn.execute(update(runs).where(runs.c.run_id == run_id).values(updated_ms=_now()))

    def done_tasks(self, run_id: str) -> set[str]:
        with self.store.read() as conn:
            return {r[0] for r in conn.execute(select(responses.c.task).where(responses.c.run_id == run_id))}

    def responses(self, run_id: str) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute(
                select(
                    responses.c.task,
                    responses.c.seq,
                    responses.c.status,
                    responses.c.value,
                    responses.c.retained_mass,
                    responses.c.detail_json,
                )
                .where(responses.c.run_id == run_id)
                .order_by(responses.c.seq)
            ).all()
        return [
            {
                "task": r.task,
                "seq": r.seq,
                "status": r.status,
                "value": r.value,
                "retained_mass": r.retained_mass,
                "detail": json.loads(r.detail_json),
            }
            for r in rows
        ]

    def get(self, run_id: str) -> RunRow:
        rows = self._rows(runs.c.run_id == run_id)
        if not rows:
            raise UnknownRunError(f"no run {run_id!r}", hint="list runs with `trustplane values runs`", run_id=run_id)
        return rows[0]

    def find(self, run_id: str) -> RunRow | None:
        rows = self._rows(runs.c.run_id == run_id)
        return rows[0] if rows else None

    def list_runs(self, *, model: str | None = None, limit: int = 200) -> list[RunRow]:
        cond = runs.c.model == model if model else None
        return self._rows(cond, limit=limit, with_result=False)

    def delete_responses(self, run_id: str) -> None:
        with self.store.write() as conn:
            conn.execute(delete(responses).where(responses.c.run_id == run_id))

    def _rows(self, where: Any, *, limit: int | None = None, with_result: bool = True) -> list[RunRow]:
        counts = select(responses.c.run_id, func.count().label("n")).group_by(responses.c.run_id).subquery("counts")
        query = select(runs, counts.c.n).select_from(runs.outerjoin(counts, counts.c.run_id == runs.c.run_id))
        if where is not None:
            query = query.where(where)
        query = query.order_by(runs.c.created_ms.desc(), runs.c.run_id)
        if limit is not None:
            query = query.limit(limit)
        with self.store.read() as conn:
            found = conn.execute(query).all()
        out = []
        for r in found:
            out.append(
                RunRow(
                    run_id=r.run_id,
                    created_ms=int(r.created_ms),
                    updated_ms=int(r.updated_ms),
                    model=r.model,
                    backend=r.backend,
                    instrument_id=r.instrument_id,
                    instrument_version=r.instrument_version,
                    instrument_sha256=r.instrument_sha256,
                    config_sha256=r.config_sha256,
                    spec=json.loads(r.spec_json),
                    status=r.status,
                    planned=int(r.planned),
                    answered=int(r.n or 0),
                    warnings=json.loads(r.warnings_json) if r.warnings_json else None,
                    result=json.loads(r.result_json) if (with_result and r.result_json) else None,
                    result_sha256=r.result_sha256,
                    log_index=None if r.log_index is None else int(r.log_index),
                    error=r.error,
                )
            )
        return out
