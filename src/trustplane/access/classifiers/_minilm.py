"""``minilm``: the default risk classifier, MiniLM embeddings plus a trained linear head with calibrated thresholds.

:class:`EmbeddingHead` is the estimator (sklearn conventions): a multinomial logistic regression over ``benign``
and every ``<domain>/<band>``, then two thresholds per domain chosen on a held-out calibration split to meet target
recalls: when the domain gates a text at all, and when a gated text is prohibited rather than grey.

The trained head ships as ``minilm_head.json`` next to this module (plain JSON, no pickle) and is rebuilt with
``trustplane access train-classifier``. At run time only numpy and the encoder are needed (no scikit-learn).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustplane.access.classifiers._base import BENIGN, Classification, ClassifierError, register_classifier
from trustplane.access.classifiers._dataset import parse_label
from trustplane.access.classifiers._encoder import SentenceEncoder, get_encoder
from trustplane.access.classifiers._metrics import classification_report, recall_threshold, report_dict
from trustplane.core.errors import InvalidInputError, MissingDependencyError

HEAD_FORMAT = "trustplane.access.minilm_head/1"
HEAD_FILE = "minilm_head.json"
_SIG_DIGITS = 7  # coefficients are stored rounded, so the file is stable and small


def _floor6(x: float) -> float:
    """``x`` rounded down to 6 decimals, so a threshold never rises past the score that set it."""
    return math.floor(x * 1e6) / 1e6


class HeadFileError(InvalidInputError):
    code = "access.classifier_head_invalid"
    title = "Invalid classifier head"


class NotFittedError(InvalidInputError):
    code = "access.classifier_not_fitted"
    title = "Classifier head not fitted"


def _round(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.array([float(f"{x:.{_SIG_DIGITS}g}") for x in a.ravel()], dtype=np.float64).reshape(a.shape)


class EmbeddingHead:
    """Linear head over sentence embeddings with per-domain calibrated thresholds.

    The logistic regression gives a probability per label. For each domain ``d`` its *mass* is the sum of its
    bands' probabilities and its *prohibited share* is ``p(d/prohibited) / mass``. Calibration picks, per domain,

    * a gate threshold: the largest mass threshold that ``gate_recall`` of the domain's calibration items (either
      band) reach, capped at 0.5 (a domain more likely than not is always gated) and floored at ``min_threshold``;
    * a prohibited-share threshold: the largest that ``prohibited_recall`` of the domain's prohibited calibration
      items *that clear the gate* reach, capped at 0.5 (when prohibited outweighs grey the text is always
      prohibited).

    A text is gated in every domain whose mass clears its gate; among those, prohibited ones win, then the largest
    ratio of mass to gate. Otherwise it is benign.

    Args:
        C: inverse L2 regularisation strength of the logistic regression (embeddings are unit length).
        max_iter: L-BFGS iterations.
        gate_recall: share of each domain's gated calibration items that must be gated in that domain.
        prohibited_recall: share of each domain's prohibited calibration items, among those gated in that domain,
            that must come out prohibited.
        min_threshold: no gate threshold goes below this mass, whatever the target (limits false alarms).
        random_state: passed to the solver; recorded in the head file.
    """

    def __init__(
        self,
        C: float = 10.0,  # noqa: N803 (sklearn naming)
        max_iter: int = 5000,
        gate_recall: float = 0.95,
        prohibited_recall: float = 0.95,
        min_threshold: float = 0.05,
        random_state: int | None = 0,
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.gate_recall = gate_recall
        self.prohibited_recall = prohibited_recall
        self.min_threshold = min_threshold
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "max_iter": self.max_iter,
            "gate_recall": self.gate_recall,
            "prohibited_recall": self.prohibited_recall,
            "min_threshold": self.min_threshold,
            "random_state": self.random_state,
        }

    # --- fitting -------------------------------------------------------------------------------------------------
    def _validate(self) -> None:
        if not self.C > 0:
            raise InvalidInputError(f"C must be positive, got {self.C}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise InvalidInputError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        for name in ("gate_recall", "prohibited_recall"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise InvalidInputError(f"{name} must be in (0, 1], got {v}")
        if not 0.0 <= self.min_threshold <= 0.5:
            raise InvalidInputError(f"min_threshold must be in [0, 0.5], got {self.min_threshold}")

    def fit(
        self,
        X: NDArray[np.floating[Any]],  # noqa: N803 (sklearn naming)
        y: Sequence[str],
        X_cal: NDArray[np.floating[Any]] | None = None,  # noqa: N803
        y_cal: Sequence[str] | None = None,
    ) -> EmbeddingHead:
        """Train the logistic regression on (X, y) and calibrate thresholds on (X_cal, y_cal).

        Without a calibration split the thresholds are chosen on the training data (optimistic; the shipped head
        always uses a held-out split).
        """
        self._validate()
        try:
            from sklearn.linear_model import LogisticRegression
        except ImportError:
            raise MissingDependencyError(
                "training the head needs scikit-learn", hint="pip install scikit-learn"
            ) from None
        x = np.asarray(X, dtype=np.float64)
        labels = [str(v) for v in y]
        if x.ndim != 2 or x.shape[0] != len(labels):
            raise InvalidInputError(f"X has shape {x.shape} but y has {len(labels)} labels")
        for lab in set(labels):
            parse_label(lab)
        if BENIGN not in labels or len(set(labels)) < 2:
            raise InvalidInputError("training needs benign items and at least one gated label")
        lr = LogisticRegression(
            C=self.C, max_iter=self.max_iter, class_weight="balanced", random_state=self.random_state
        )
        lr.fit(x, labels)
        self.classes_: list[str] = [str(c) for c in lr.classes_]
        self.coef_ = _round(np.asarray(lr.coef_, dtype=np.float64))
        self.intercept_ = _round(np.asarray(lr.intercept_, dtype=np.float64))
        self.n_iter_ = int(np.max(lr.n_iter_))
        if X_cal is None or y_cal is None:
            self._calibrate(x, labels)
        else:
            self._calibrate(np.asarray(X_cal, dtype=np.float64), [str(v) for v in y_cal])
        return self

    @property
    def domains_(self) -> list[str]:
        """Gated domains, in label order."""
        return list(dict.fromkeys(parse_label(c)[0] for c in self.classes_ if c != BENIGN))

    def _mass_share(self, probs: NDArray[np.float64], domain: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        cols = {c: j for j, c in enumerate(self.classes_)}
        zeros = np.zeros(probs.shape[0])
        grey = probs[:, cols[f"{domain}/grey"]] if f"{domain}/grey" in cols else zeros
        prohibited = probs[:, cols[f"{domain}/prohibited"]] if f"{domain}/prohibited" in cols else zeros
        mass = grey + prohibited
        return mass, prohibited / np.maximum(mass, 1e-300)

    def _calibrate(self, x: NDArray[np.float64], y: list[str]) -> None:
        probs = self.predict_proba(x)
        thresholds: dict[str, dict[str, float]] = {}
        achieved: dict[str, dict[str, float | None]] = {}
        for d in self.domains_:
            mass, share = self._mass_share(probs, d)
            in_domain = np.array([lab.startswith(f"{d}/") for lab in y], dtype=bool)
            prohibited = np.array([lab == f"{d}/prohibited" for lab in y], dtype=bool)
            gate = recall_threshold(mass[in_domain], self.gate_recall) if in_domain.any() else 0.5
            gate = min(max(_floor6(gate), self.min_threshold), 0.5)
            passing = prohibited & (mass >= gate)
            pshare = recall_threshold(share[passing], self.prohibited_recall) if passing.any() else 0.5
            pshare = min(_floor6(pshare), 0.5)
            thresholds[d] = {"gate": gate, "prohibited_share": pshare}
            achieved[d] = {
                "gate_recall": float(np.mean(mass[in_domain] >= gate)) if in_domain.any() else None,
                "prohibited_recall": float(np.mean(share[passing] >= pshare)) if passing.any() else None,
            }
        self.thresholds_ = thresholds
        self.calibration_recall_ = achieved
        self.calibration_report_ = report_dict(classification_report(y, self.predict(x)))

    # --- prediction ----------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "thresholds_"):
            raise NotFittedError("this EmbeddingHead is not fitted yet", hint="call fit() or load a head file")

    def predict_proba(self, X: NDArray[np.floating[Any]]) -> NDArray[np.float64]:  # noqa: N803
        """Class probabilities (softmax of the linear scores), columns in :attr:`classes_` order."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("this EmbeddingHead is not fitted yet", hint="call fit() or load a head file")
        z = np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)

    def decide(self, probs: NDArray[np.float64]) -> list[tuple[str, float]]:
        """(label, its probability) per row of class probabilities, by the calibrated rule."""
        self._check_fitted()
        cols = {c: j for j, c in enumerate(self.classes_)}
        n = probs.shape[0]
        best: list[tuple[bool, float, str] | None] = [None] * n
        for d, t in self.thresholds_.items():
            mass, share = self._mass_share(probs, d)
            for i in (int(j) for j in np.flatnonzero(mass >= t["gate"])):
                prohibited = bool(share[i] >= t["prohibited_share"])
                cand = (prohibited, float(mass[i] / t["gate"]), f"{d}/{'prohibited' if prohibited else 'grey'}")
                cur = best[i]
                if cur is None or cand[:2] > cur[:2]:
                    best[i] = cand
        out = []
        for i, b in enumerate(best):
            label = BENIGN if b is None else b[2]
            out.append((label, float(probs[i, cols[label]]) if label in cols else 0.0))
        return out

    def predict(self, X: NDArray[np.floating[Any]]) -> list[str]:  # noqa: N803
        return [lab for lab, _ in self.decide(self.predict_proba(X))]

    # --- persistence ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {
            "params": self.get_params(),
            "classes": self.classes_,
            "coef": self.coef_.tolist(),
            "intercept": self.intercept_.tolist(),
            "thresholds": self.thresholds_,
            "calibration_recall": self.calibration_recall_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbeddingHead:
        try:
            head = cls(**data["params"])
            head.classes_ = [str(c) for c in data["classes"]]
            head.coef_ = np.asarray(data["coef"], dtype=np.float64)
            head.intercept_ = np.asarray(data["intercept"], dtype=np.float64)
            head.thresholds_ = {
                str(d): {"gate": float(t["gate"]), "prohibited_share": float(t["prohibited_share"])}
                for d, t in data["thresholds"].items()
            }
            head.calibration_recall_ = dict(data.get("calibration_recall", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise HeadFileError(f"malformed head: {type(exc).__name__}: {exc}") from None
        k = len(head.classes_)
        if head.coef_.ndim != 2 or head.coef_.shape[0] != k or head.intercept_.shape != (k,):
            raise HeadFileError(
                f"head shapes disagree: {k} classes, coef {head.coef_.shape}, intercept {head.intercept_.shape}"
            )
        missing = [d for d in head.domains_ if d not in head.thresholds_]
        if missing or BENIGN not in head.classes_:
            raise HeadFileError(f"head lacks thresholds for {missing}" if missing else "head has no benign class")
        for c in head.classes_:
            parse_label(c)
        return head


# --- the shipped head ------------------------------------------------------------------------------------------------
def shipped_head_path() -> Path:
    """Where the head shipped with the package lives."""
    return Path(str(resources.files("trustplane.access.classifiers").joinpath(HEAD_FILE)))


_heads: dict[str, tuple[EmbeddingHead, dict[str, Any]]] = {}
_heads_lock = threading.Lock()


def load_head(path: Path | str | None = None) -> tuple[EmbeddingHead, dict[str, Any]]:
    """The head and its file's metadata (encoder, labelled set, metrics), read once per process per path."""
    p = Path(path) if path is not None else shipped_head_path()
    key = str(p.resolve())
    with _heads_lock:
        if key in _heads:
            return _heads[key]
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HeadFileError(
                f"classifier head {p} not found",
                hint="rebuild it with `trustplane access train-classifier --out <path>`",
                path=str(p),
            ) from None
        except (OSError, ValueError) as exc:
            raise HeadFileError(f"cannot read classifier head {p}: {exc}", path=str(p)) from None
        if not isinstance(data, dict) or data.get("format") != HEAD_FORMAT:
            raise HeadFileError(f"{p} is not a {HEAD_FORMAT} file", path=str(p))
        head = EmbeddingHead.from_dict(data.get("head", {}))
        meta = {k: v for k, v in data.items() if k != "head"}
        _heads[key] = (head, meta)
        return head, meta


@register_classifier("minilm")
class MiniLMClassifier:
    """The default classifier: MiniLM embeddings, the trained head, per-domain thresholds.

    Args:
        head: a head file (default: the one shipped with the package).
        device: torch device for the encoder.
        threads: torch intra-op threads for the whole process (default: torch's choice, one per core). One call
            classifies a few short texts, so on a busy server ``1`` is usually fastest (see the benchmark).
        encoder: an encoder to use instead of the process-wide one (tests).

    Texts longer than MiniLM's 256 word pieces are read in overlapping windows; a text's score for each gated
    label is its highest over the windows (benign: its lowest), so harmful content anywhere in a long output is
    seen. ``scores`` holds those per-label probabilities (for one window: the head's probabilities).
    """

    name = "minilm"

    def __init__(
        self,
        head: Path | str | None = None,
        device: str = "cpu",
        threads: int | None = None,
        encoder: SentenceEncoder | None = None,
    ) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InvalidInputError(f"threads must be a positive integer, got {threads!r}")
        self.head, self.meta = load_head(head)
        self.encoder = encoder if encoder is not None else get_encoder(device=device)
        self.threads = threads

    @property
    def labels(self) -> list[str]:
        return list(self.head.classes_)

    def warm(self) -> None:
        """Load the encoder now rather than on the first call."""
        self._load()

    def _load(self) -> None:
        self.encoder.load()
        if self.threads is not None:
            import torch

            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)

    def classify(self, texts: Sequence[str]) -> list[Classification]:
        if isinstance(texts, str):
            raise InvalidInputError("classify takes a list of texts, not one string")
        if not texts:
            return []
        try:
            self._load()
            windows = [self.encoder.windows(t) for t in texts]
            flat = [w for ws in windows for w in ws]
            probs = self.head.predict_proba(self.encoder.embed(flat))
        except (MissingDependencyError, InvalidInputError):
            raise
        except Exception as exc:  # torch/tokenizer failures surface as one classifier error
            raise ClassifierError(f"minilm classifier failed: {type(exc).__name__}: {exc}") from exc
        benign = self.head.classes_.index(BENIGN)
        rows = []
        i = 0
        for ws in windows:
            block = probs[i : i + len(ws)]
            i += len(ws)
            row = block.max(axis=0)
            row[benign] = block[:, benign].min()
            rows.append(row)
        out = []
        for row, (label, score) in zip(rows, self.head.decide(np.stack(rows)), strict=True):
            domain, band = parse_label(label)
            scores = {c: round(float(p), 6) for c, p in zip(self.head.classes_, row, strict=True)}
            out.append(Classification(domain, band, round(score, 6), scores))
        return out
