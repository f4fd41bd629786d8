"""Training the ``minilm`` head from the labelled set: seeded, and the same seed writes the same bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trustplane.access.classifiers._dataset import LabelledSet, build_labelled_set
from trustplane.access.classifiers._encoder import (
    ENCODER_ID,
    MODEL_DISTRIBUTION,
    Progress,
    SentenceEncoder,
    encoder_version,
    get_encoder,
)
from trustplane.access.classifiers._metrics import classification_report, report_dict
from trustplane.access.classifiers._minilm import HEAD_FORMAT, EmbeddingHead
from trustplane.core.config import Settings
from trustplane.core.errors import InvalidInputError


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_minilm_head` produced: the head, its file contents and where they were written."""

    head: EmbeddingHead
    document: dict[str, Any]
    path: Path | None
    seed: int
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": None if self.path is None else str(self.path),
            "seed": self.seed,
            "labelled_set": self.document["labelled_set"],
            "thresholds": self.document["head"]["thresholds"],
            "metrics": self.metrics,
        }


def head_document(head: EmbeddingHead, labelled: LabelledSet, metrics: dict[str, Any]) -> dict[str, Any]:
    """The head file's JSON object."""
    return {
        "format": HEAD_FORMAT,
        "encoder": {"model": ENCODER_ID, "package": MODEL_DISTRIBUTION, "version": encoder_version()},
        "labelled_set": {
            "seed": labelled.seed,
            "fingerprint": labelled.fingerprint(),
            "counts": labelled.counts(),
        },
        "head": head.to_dict(),
        "metrics": metrics,
        "rebuild": f"trustplane access train-classifier --seed {labelled.seed} --out <file>",
    }


def dump_head(document: dict[str, Any]) -> str:
    """Canonical text of a head file (sorted keys, one trailing newline)."""
    return json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def train_minilm_head(
    settings: Settings,
    *,
    seed: int = 0,
    out: Path | None = None,
    head: EmbeddingHead | None = None,
    encoder: SentenceEncoder | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Build the labelled set (split by ``seed``), embed it, fit the head on train, calibrate on calibration,
    report held-out metrics on test, and write the head file to ``out`` when given.

    The encoder runs on the whole in-scope set in one fixed order with no cache, so the embeddings (and the
    file) depend only on the data and the seed.
    """
    labelled = build_labelled_set(settings, seed=seed)
    items = labelled.in_scope("all")
    encoder = encoder or get_encoder()
    x = encoder.embed_uncached([it.text for it in items], progress=progress)
    idx = {s: [i for i, it in enumerate(items) if it.split == s] for s in ("train", "calibration", "test")}
    if not all(idx.values()):
        raise InvalidInputError("the labelled set has an empty split", hint="check labelled_set.yaml")
    y = np.array([it.label for it in items], dtype=object)
    est = head if head is not None else EmbeddingHead(random_state=seed)
    est.fit(x[idx["train"]], list(y[idx["train"]]), x[idx["calibration"]], list(y[idx["calibration"]]))
    metrics: dict[str, Any] = {
        "calibration": est.calibration_report_,
        "calibration_recall": est.calibration_recall_,
        "test": report_dict(classification_report(list(y[idx["test"]]), est.predict(x[idx["test"]]))),
        "train": report_dict(classification_report(list(y[idx["train"]]), est.predict(x[idx["train"]]))),
    }
    document = head_document(est, labelled, metrics)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dump_head(document), encoding="utf-8")
    return TrainResult(est, document, out, seed, metrics)
