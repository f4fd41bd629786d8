"""The arena: pairwise battles between models, the ratings computed from them, and the integrity rules.

Public API:

* :class:`Arena`: the service (register variants, sample and run battles, vote, publish, deprecate, sign and
  reproduce leaderboard snapshots), with :class:`ArenaPolicy` (the integrity rules) and :class:`FitParams`
  (how the leaderboard is fitted); :func:`build_leaderboard` rebuilds a leaderboard from log records and
  :func:`reproduce_export` a snapshot from an exported log file.
* :func:`pair_distribution`: active pair sampling; :func:`share_report` and :func:`plot_shares`: each provider's
  share of battles and votes over time.
* The rating engine (:mod:`trustplane.arena.ratings`, re-exported here) and :class:`BattleTable`, the columnar
  battles that importers, exporters, the store and the engine share.

Importing this package registers the log kinds ``arena.variant_registered``, ``arena.battle``,
``arena.publication``, ``arena.deprecation`` and ``arena.snapshot``.
"""

from __future__ import annotations

from trustplane.arena import _kinds as _kinds  # registers the log kinds
from trustplane.arena._errors import (
    AlreadyVotedError,
    ArenaInputError,
    BattleNotReadyError,
    DeprecationPolicyError,
    DuplicateError,
    NoPairError,
    NotPublishedError,
    PrivateVariantCapError,
    SnapshotMismatchError,
    UnknownBattleError,
    UnknownProviderError,
    UnknownSnapshotError,
    UnknownVariantError,
    UnregisteredVariantError,
)
from trustplane.arena._leaderboard import Leaderboard, Record, build_leaderboard
from trustplane.arena._plots import WinMatrix, win_matrix
from trustplane.arena._policy import ArenaPolicy, FitParams
from trustplane.arena._sampling import PairDistribution, pair_distribution
from trustplane.arena._service import (
    AnswerEvent,
    Arena,
    BattleTicket,
    BattleView,
    DeprecationCheck,
    ImportReport,
    Reproduction,
    Reveal,
    SnapshotResult,
    VariantInfo,
    records_to_table,
    reproduce_export,
)
from trustplane.arena._shares import ShareReport, plot_shares, share_report
from trustplane.arena._table import OPTIONAL_COLUMNS, OUTCOMES, BattleTable
from trustplane.arena.ratings import (
    BattleCounts,
    BradleyTerry,
    DisconnectedGraphError,
    InvalidBattleError,
    NoFiniteMLEError,
    NotFittedError,
    RankIntervals,
    Ratings,
    RatingsError,
    StyleControlledBT,
    StyleRatings,
    UnknownModelError,
    best_of_n_correction,
    best_of_n_inflation,
    expected_max_normal,
)

__all__ = [
    "OPTIONAL_COLUMNS",
    "OUTCOMES",
    "AlreadyVotedError",
    "AnswerEvent",
    "Arena",
    "ArenaInputError",
    "ArenaPolicy",
    "BattleCounts",
    "BattleNotReadyError",
    "BattleTable",
    "BattleTicket",
    "BattleView",
    "BradleyTerry",
    "DeprecationCheck",
    "DeprecationPolicyError",
    "DisconnectedGraphError",
    "DuplicateError",
    "FitParams",
    "ImportReport",
    "InvalidBattleError",
    "Leaderboard",
    "NoFiniteMLEError",
    "NoPairError",
    "NotFittedError",
    "NotPublishedError",
    "PairDistribution",
    "PrivateVariantCapError",
    "RankIntervals",
    "Ratings",
    "RatingsError",
    "Record",
    "Reproduction",
    "Reveal",
    "ShareReport",
    "SnapshotMismatchError",
    "SnapshotResult",
    "StyleControlledBT",
    "StyleRatings",
    "UnknownBattleError",
    "UnknownModelError",
    "UnknownProviderError",
    "UnknownSnapshotError",
    "UnknownVariantError",
    "UnregisteredVariantError",
    "VariantInfo",
    "WinMatrix",
    "best_of_n_correction",
    "best_of_n_inflation",
    "build_leaderboard",
    "expected_max_normal",
    "pair_distribution",
    "plot_shares",
    "records_to_table",
    "reproduce_export",
    "share_report",
    "win_matrix",
]
