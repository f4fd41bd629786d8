"""Moral-foundations audits of language models: instruments, administration, statistics, reports.

Example::

    import asyncio
    from trustplane.core.config import load_settings
    from trustplane.values import AuditConfig, administer, write_run_report

    settings = load_settings()
    run = asyncio.run(administer(settings, "smollm2", "mfq30", AuditConfig(methods=["expected", "greedy"])))
    write_run_report(run.document, "values-out")

Instruments are versioned data (:func:`load_instrument`); every scoring method sees the same prompt;
each item's status (answered, refused, unparseable, invalid) and retained probability mass are
recorded; runs are stored as they go, resume after an interruption, and their result hash is appended
to the transparency log (kind ``values.run``).
"""

from trustplane.values import _kinds  # noqa: F401  (registers the values.run log kind)
from trustplane.values._errors import (
    AuditConfigError,
    InsufficientDataError,
    LogprobsUnavailableError,
    MalformedInstrumentError,
    RunInterruptedError,
    UnknownInstrumentError,
    UnknownMethodError,
    UnknownRunError,
)
from trustplane.values._instruments import (
    Baseline,
    BaselineValue,
    CatchRule,
    Instrument,
    Item,
    Scale,
    dump_instrument,
    list_instruments,
    load_instrument,
    parse_spec,
)
from trustplane.values._kinds import RUN as RUN_KIND
from trustplane.values._kinds import RunClaim
from trustplane.values._methods import (
    AuditModel,
    ItemOutcome,
    MethodSettings,
    ScoringMethod,
    get_method,
    method_names,
    register_method,
)
from trustplane.values._parser import ParsedAnswer, parse_answer
from trustplane.values._prompts import Condition, Persona, build_messages, option_lines
from trustplane.values._report import ReportFiles, write_compare_report, write_run_report
from trustplane.values._runner import (
    AuditConfig,
    PersonaSpec,
    Response,
    RunResult,
    administer,
    list_runs,
    load_run,
    make_config,
    plan,
)
from trustplane.values._stats import (
    BaselineComparisonResult,
    CorrelationResult,
    FoundationPCA,
    FoundationScorer,
    FoundationScoreResult,
    ImputationSensitivity,
    PCAResult,
    VarianceDecomposition,
    VarianceDecompositionResult,
    compare_to_baseline,
    correlation,
    imputation_sensitivity,
    severity_adjust,
    spearman_matrix,
)
from trustplane.values._summary import compare_documents, summarize
from trustplane.values._sweep import SweepOutcome, run_sweep

__all__ = [
    "RUN_KIND",
    "AuditConfig",
    "AuditConfigError",
    "AuditModel",
    "Baseline",
    "BaselineComparisonResult",
    "BaselineValue",
    "CatchRule",
    "Condition",
    "CorrelationResult",
    "FoundationPCA",
    "FoundationScoreResult",
    "FoundationScorer",
    "ImputationSensitivity",
    "Instrument",
    "InsufficientDataError",
    "Item",
    "ItemOutcome",
    "LogprobsUnavailableError",
    "MalformedInstrumentError",
    "MethodSettings",
    "PCAResult",
    "ParsedAnswer",
    "Persona",
    "PersonaSpec",
    "ReportFiles",
    "Response",
    "RunClaim",
    "RunInterruptedError",
    "RunResult",
    "Scale",
    "ScoringMethod",
    "SweepOutcome",
    "UnknownInstrumentError",
    "UnknownMethodError",
    "UnknownRunError",
    "VarianceDecomposition",
    "VarianceDecompositionResult",
    "administer",
    "build_messages",
    "compare_documents",
    "compare_to_baseline",
    "correlation",
    "dump_instrument",
    "get_method",
    "imputation_sensitivity",
    "list_instruments",
    "list_runs",
    "load_instrument",
    "load_run",
    "make_config",
    "method_names",
    "option_lines",
    "parse_answer",
    "parse_spec",
    "plan",
    "register_method",
    "run_sweep",
    "severity_adjust",
    "spearman_matrix",
    "summarize",
    "write_compare_report",
    "write_run_report",
]
