"""Risk classifiers: pluggable by name, applied to prompts and outputs, and their evaluation.

* :class:`RiskClassifier`: the protocol (``classify(texts) -> list[Classification]``); :func:`aclassify` calls any
  classifier from async code.
* :func:`register_classifier`, :func:`get_classifier`, :func:`available_classifiers`: the registry (third
  parties plug in through the ``trustplane.classifiers`` entry-point group).
* ``minilm`` (:class:`MiniLMClassifier`, the default): the bundled MiniLM sentence encoder plus a trained linear
  head (:class:`EmbeddingHead`) with per-domain thresholds calibrated on held-out data; the head ships with the
  package and is rebuilt by :func:`train_minilm_head` (``trustplane access train-classifier``).
* ``guard`` (:class:`GuardClassifier`): a Llama-Guard-style classifier asking a model behind any
  OpenAI-compatible endpoint.
* ``keyword`` (:class:`KeywordClassifier`): a deterministic regular-expression classifier (tests, fallback).
* The labelled set (:func:`build_labelled_set`): XSTest, HarmBench and the project's grey-zone templates.
* The evaluation (:func:`run_eval`, :func:`evaluate`): over- and under-refusal per identity tier, identity-gated
  policy vs a content-only baseline (``trustplane access eval``).

Example::

    from trustplane.access.classifiers import get_classifier

    clf = get_classifier("minilm")
    [c] = clf.classify(["What PPE does BSL-3 work with Brucella need?"])
    c.category, c.band, c.score      # ('biological', 'grey', 0.6...)
"""

from __future__ import annotations

from trustplane.access.classifiers._base import (
    BENIGN,
    DEFAULT_CLASSIFIER,
    Band,
    Classification,
    ClassifierError,
    KeywordClassifier,
    RiskClassifier,
    UnknownClassifierError,
    aclassify,
    available_classifiers,
    get_classifier,
    register_classifier,
)
from trustplane.access.classifiers._dataset import (
    DOMAINS,
    LABELS,
    LabelledItem,
    LabelledSet,
    LabelledSetError,
    build_labelled_set,
    parse_label,
)
from trustplane.access.classifiers._eval import (
    POLICIES,
    TIERS,
    Estimate,
    EvalResult,
    decide,
    evaluate,
    plot_eval,
    run_eval,
)
from trustplane.access.classifiers._guard import (
    DEFAULT_CATEGORIES,
    GuardAnswerError,
    GuardClassifier,
    parse_guard_answer,
)
from trustplane.access.classifiers._metrics import CategoryMetrics, classification_report
from trustplane.access.classifiers._minilm import (
    EmbeddingHead,
    HeadFileError,
    MiniLMClassifier,
    load_head,
    shipped_head_path,
)
from trustplane.access.classifiers._train import TrainResult, train_minilm_head

__all__ = [
    "BENIGN",
    "DEFAULT_CATEGORIES",
    "DEFAULT_CLASSIFIER",
    "DOMAINS",
    "LABELS",
    "POLICIES",
    "TIERS",
    "Band",
    "CategoryMetrics",
    "Classification",
    "ClassifierError",
    "EmbeddingHead",
    "Estimate",
    "EvalResult",
    "GuardAnswerError",
    "GuardClassifier",
    "HeadFileError",
    "KeywordClassifier",
    "LabelledItem",
    "LabelledSet",
    "LabelledSetError",
    "MiniLMClassifier",
    "RiskClassifier",
    "TrainResult",
    "UnknownClassifierError",
    "aclassify",
    "available_classifiers",
    "build_labelled_set",
    "classification_report",
    "decide",
    "evaluate",
    "get_classifier",
    "load_head",
    "parse_guard_answer",
    "parse_label",
    "plot_eval",
    "register_classifier",
    "run_eval",
    "shipped_head_path",
    "train_minilm_head",
]
