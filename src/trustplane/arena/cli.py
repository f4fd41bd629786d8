"""``trustplane arena``: register, battle, vote, import, export, fit, snapshot, reproduce, report and simulate."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from trustplane.arena._errors import SnapshotMismatchError
from trustplane.arena._policy import CI_METHODS, TIES, FitParams
from trustplane.arena.simulate._cli import app as simulate_app
from trustplane.core.output import JsonOpt, console, emit

app = typer.Typer(help="The arena: battles, ratings, integrity safeguards and simulations.", no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
_out = console

TiesOpt = Annotated[str, typer.Option("--ties", help=f"Tie model: {', '.join(TIES)}.")]
CiOpt = Annotated[str, typer.Option("--ci", help=f"Interval method: {', '.join(CI_METHODS)}.")]
AnchorOpt = Annotated[str | None, typer.Option("--anchor", help="Variant fixed at --anchor-rating (default: centred).")]
AnchorRatingOpt = Annotated[float, typer.Option("--anchor-rating", help="The anchor's rating (or the mean).")]
BootOpt = Annotated[int, typer.Option("--bootstrap", min=2, help="Bootstrap rounds (with --ci bootstrap).")]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap.")]
IpwOpt = Annotated[bool, typer.Option("--ipw/--no-ipw", help="Weight battles by 1 / their sampling probability.")]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="csv, jsonl, parquet, fastchat or arena-hp (default: from the file name)."),
]


def _arena() -> Any:
    from trustplane.arena._service import Arena, policy_from_settings
    from trustplane.core.config import load_settings

    settings = load_settings()
    return Arena.open(settings, policy_from_settings(settings))


def _params(
    ties: str, ci: str, anchor: str | None, anchor_rating: float, bootstrap: int, seed: int, ipw: bool
) -> FitParams:
    return FitParams(
        ties=ties, ci=ci, anchor=anchor, anchor_rating=anchor_rating, n_bootstrap=bootstrap, seed=seed, ipw=ipw
    )


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# --- variants ----------------------------------------------------------------------------------------------
@app.command()
def register(
    variant: Annotated[str, typer.Argument(help="The new variant's name (names are never reused).")],
    provider: Annotated[str, typer.Option("--provider", help="Its provider (registered now if new).")],
    model: Annotated[
        str | None, typer.Option("--model", help="Backend model that answers for it (a configured model name).")
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="Publish its score from the start (default: private).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a variant in the transparency log, so that it can receive battles."""
    from trustplane.arena._errors import DuplicateError

    arena = _arena()
    with contextlib.suppress(DuplicateError):  # the provider exists already
        arena.register_provider(provider)
    info = arena.register_variant(variant, provider, model, private=not public)
    emit(
        as_json,
        info.as_json(),
        lambda: _out.print(
            f"registered [bold]{info.name}[/] ({info.provider}, {'private' if info.private else 'public'}) "
            f"at log index {info.registered_index}"
        ),
    )


@app.command()
def variants(
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider's variants.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the registered variants: private or published, deprecated, their log indices."""
    rows = [v.as_json() for v in _arena().variants(provider)]

    def human() -> None:
        table = Table(title=f"{len(rows)} arena variants")
        for col in ("variant", "provider", "model", "status", "registered at", "published at", "deprecated at"):
            table.add_column(col)
        for r in rows:
            status = "published" if r["published"] else "private"
            if r["deprecated"]:
                status += ", deprecated"
            table.add_row(
                r["name"],
                r["provider"],
                r["model"] or "—",
                status,
                _fmt(r["registered_index"]),
                _fmt(r["published_index"]) + (f" ({r['publication_reason']})" if r["publication_reason"] else ""),
                _fmt(r["deprecated_index"]),
            )
        _out.print(table)

    emit(as_json, rows, human)


@app.command()
def publish(
    variant: Annotated[str, typer.Argument(help="A private variant.")],
    as_json: JsonOpt = False,
) -> None:
    """Publish a private variant's score now (it would be published at its deadline anyway)."""
    info = _arena().publish(variant)
    emit(
        as_json,
        info.as_json(),
        lambda: _out.print(f"{info.name} published at log index {info.published_index} ({info.publication_reason})"),
    )


@app.command()
def deprecate(
    variant: Annotated[str, typer.Argument(help="A published variant.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it stops being sampled (logged).")],
    force: Annotated[
        bool, typer.Option("--force", help="Deprecate despite the per-category vote rule (logged as forced).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop sampling a variant; it stays in the fit. The stratified check and the reason go into the log."""
    info = _arena().deprecate(variant, reason, force=force)
    emit(as_json, info.as_json(), lambda: _out.print(f"{info.name} deprecated at log index {info.deprecated_index}"))


# --- battles -------------------------------------------------------------------------------------------------
@app.command()
def battle(
    prompt: Annotated[str, typer.Argument(help="The prompt both anonymous models answer.")],
    category: Annotated[str, typer.Option("--category", help="Prompt category, e.g. coding.")] = "general",
    as_json: JsonOpt = False,
) -> None:
    """Draw a pair by active sampling and print both anonymous answers; vote with `trustplane arena vote`."""
    arena = _arena()
    ticket = arena.create_battle(prompt, category)
    view = asyncio.run(arena.answer(ticket.battle_id, prompt))

    def human() -> None:
        _out.print(f"[bold]battle {view.battle_id}[/] ({view.category})")
        _out.print("[bold]A:[/]", view.answer_a or "", highlight=False)
        _out.print("[bold]B:[/]", view.answer_b or "", highlight=False)
        _out.print(f"vote with: trustplane arena vote {view.battle_id} a|b|tie|both_bad")

    emit(as_json, view.as_json(), human)


@app.command()
def vote(
    battle_id: Annotated[str, typer.Argument(help="The battle's id.")],
    outcome: Annotated[str, typer.Argument(help="a, b, tie or both_bad.")],
    as_json: JsonOpt = False,
) -> None:
    """Vote on a battle (once) and reveal which variants answered."""
    reveal = _arena().vote(battle_id, outcome)
    emit(
        as_json,
        reveal.as_json(),
        lambda: _out.print(
            f"vote {reveal.outcome} logged at index {reveal.log_index}: A was {reveal.variant_a} ({reveal.provider_a}),"
            f" B was {reveal.variant_b} ({reveal.provider_b}); pair drawn with probability {_fmt(reveal.sampling_prob, 4)}"
        ),
    )


@app.command()
def sampling(as_json: JsonOpt = False) -> None:
    """Show the current pair-sampling probabilities (uncertainty-targeted, with a uniform floor)."""
    dist = _arena().sampling_distribution()
    data = {"source": dist.source, "floor": dist.floor, "pairs": dist.as_json()}

    def human() -> None:
        table = Table(title=f"pair sampling ({dist.source}, uniform floor {dist.floor:g})")
        for col in ("A", "B", "probability", "uncertainty"):
            table.add_column(col)
        for p in sorted(data["pairs"], key=lambda p: -p["probability"]):
            table.add_row(p["variant_a"], p["variant_b"], f"{p['probability']:.4f}", f"{p['uncertainty']:.4g}")
        _out.print(table)

    emit(as_json, data, human)


# --- import, export, fit -----------------------------------------------------------------------------------
@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="Battle file: CSV, JSONL, Parquet, FastChat clean_battle JSON, arena-hp CSV.")
    ],
    format: FormatOpt = None,
    register_missing: Annotated[
        bool,
        typer.Option(
            "--register-missing", help="Register unknown variants first (public, offline), instead of refusing."
        ),
    ] = False,
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="Provider of registered variants when the file has no provider columns."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import voted battles into the log and the store, all or nothing (a bad row is named by its number)."""
    report = _arena().import_file(file, format=format, register_missing=register_missing, provider=provider)
    emit(
        as_json,
        report.as_json(),
        lambda: _out.print(
            f"imported {report.battles} battles (log indices {report.first_index}..{report.last_index})"
            + (f"; registered {len(report.registered)} variants" if report.registered else "")
        ),
    )


@app.command()
def export(
    file: Annotated[Path, typer.Argument(help="Where to write the logged battles.")],
    format: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export the logged battles (with sampling probabilities and providers) to a battle file."""
    n = _arena().export_file(file, format=format)
    emit(as_json, {"battles": n, "file": str(file)}, lambda: _out.print(f"wrote {n} battles to {file}"))


@app.command()
def fit(
    file: Annotated[Path | None, typer.Argument(help="A battle file; omit to fit the battles in the log.")] = None,
    format: FormatOpt = None,
    ties: TiesOpt = "half",
    ci: CiOpt = "sandwich",
    anchor: AnchorOpt = None,
    anchor_rating: AnchorRatingOpt = 1000.0,
    bootstrap: BootOpt = 100,
    seed: SeedOpt = 0,
    ipw: Annotated[
        bool | None,
        typer.Option(
            "--ipw/--no-ipw",
            help="Weight battles by 1 / their sampling probability (default: when every battle has one).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit Bradley-Terry ratings with confidence and rank intervals on a battle file or the arena's log."""
    from trustplane.arena.ratings import BradleyTerry, DisconnectedGraphError, InvalidBattleError

    params = _params(ties, ci, anchor, anchor_rating, bootstrap, seed, ipw is not False)
    if file is not None:
        from trustplane.arena.io import read_battles

        table = read_battles(file, format=format)
    else:
        table = _arena().battle_table()
    arrays: dict[str, Any] = {"model_a": table.model_a, "model_b": table.model_b, "outcome": table.outcome}
    probs = table.column("sampling_prob")
    missing = len(table) if probs is None else int(np.isnan(np.asarray(probs, dtype=np.float64)).sum())
    note = None
    if ipw is True and missing:
        arrays = table.fit_arrays()  # refuses partly logged probabilities, naming the first row
        if "sampling_prob" not in arrays:
            raise InvalidBattleError("--ipw needs sampling probabilities, and the battles have none")
    elif ipw is not False and missing == 0 and len(table):
        arrays["sampling_prob"] = np.asarray(probs, dtype=np.float64)
    elif ipw is None and missing:
        note = f"no inverse-propensity weighting: {missing} of {len(table)} battles have no sampling probability"
    bt = BradleyTerry(
        ties=params.ties,
        ci=params.ci,
        n_bootstrap=params.n_bootstrap,
        anchor=params.anchor,
        anchor_rating=params.anchor_rating if params.anchor else None,
        init_rating=params.anchor_rating,
        random_state=params.seed,
    )
    try:
        res = bt.fit(**arrays).result_
    except DisconnectedGraphError as exc:
        comps = exc.extra.get("components", [])
        listed = "; ".join("{" + ", ".join(c) + "}" for c in comps)
        raise DisconnectedGraphError(f"{exc.message}: {listed}", hint=exc.hint, components=comps) from None
    rows = res.table()
    data = {
        "source": str(file) if file else "log",
        "n_battles": res.n_battles,
        "ipw": "sampling_prob" in arrays,
        "ipw_note": note,
        "params": params.as_json(),
        "tie_param": res.tie_param,
        "ratings": rows,
    }

    def human() -> None:
        table_ = Table(
            title=f"Bradley-Terry ({ties} ties, {ci} {res.confidence:.0%} intervals) on {res.n_battles} battles"
            + (", IPW" if data["ipw"] else "")
        )
        for col in ("rank", "model", "rating", "interval", "rank interval"):
            table_.add_column(col)
        for r in rows:
            table_.add_row(
                str(r["rank"]),
                r["model"],
                f"{r['rating']:.1f}",
                f"{r['lower']:.1f} .. {r['upper']:.1f}",
                f"{r.get('rank_lower', '—')} .. {r.get('rank_upper', '—')}",
            )
        _out.print(table_)
        if note:
            _out.print(f"[yellow]{note}[/]")

    emit(as_json, data, human)


# --- leaderboard, snapshots, reproduce, report --------------------------------------------------------------
def _leaderboard_table(board: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("rank", "variant", "provider", "score", "interval", "rating", "N", "votes", "flags"):
        table.add_column(col)
    for r in board["rows"]:
        flags = [f for f, on in (("provisional", r["provisional"]), ("deprecated", r["deprecated"])) if on]
        if "unrated" in r:
            flags.append(f"unrated: {r['unrated']}")
        rank = f"{r['rank']} ({r['rank_lower']}..{r['rank_upper']})" if r.get("rank") is not None else "—"
        interval = f"{r['lower']:.1f} .. {r['upper']:.1f}" if r.get("lower") is not None else "—"
        table.add_row(
            rank,
            r["variant"],
            r["provider"],
            _fmt(r.get("score")),
            interval,
            _fmt(r.get("rating")),
            _fmt(r.get("n_selection")),
            str(r["votes"]),
            ", ".join(flags),
        )
    return table


@app.command()
def leaderboard(
    ties: TiesOpt = "half",
    ci: CiOpt = "sandwich",
    anchor: AnchorOpt = None,
    anchor_rating: AnchorRatingOpt = 1000.0,
    bootstrap: BootOpt = 100,
    seed: SeedOpt = 0,
    ipw: IpwOpt = True,
    as_json: JsonOpt = False,
) -> None:
    """Show the current leaderboard from the log (published variants, best-of-N corrected scores, flags)."""
    board = _arena().leaderboard(_params(ties, ci, anchor, anchor_rating, bootstrap, seed, ipw))
    emit(
        as_json,
        board.data,
        lambda: _out.print(_leaderboard_table(board.data, f"arena leaderboard: {board.data['n_battles']} battles")),
    )


@app.command()
def snapshot(
    ties: TiesOpt = "half",
    ci: CiOpt = "sandwich",
    anchor: AnchorOpt = None,
    anchor_rating: AnchorRatingOpt = 1000.0,
    bootstrap: BootOpt = 100,
    seed: SeedOpt = 0,
    ipw: IpwOpt = True,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the leaderboard's canonical JSON here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the leaderboard and sign its SHA-256 into the log as an arena.snapshot entry."""
    result = _arena().snapshot(_params(ties, ci, anchor, anchor_rating, bootstrap, seed, ipw))
    if out is not None:
        out.write_bytes(result.leaderboard.body)
    data = {**result.as_json(), "leaderboard": result.leaderboard.data}

    def human() -> None:
        _out.print(_leaderboard_table(result.leaderboard.data, f"snapshot at log index {result.index}"))
        _out.print(f"sha256 {result.sha256} over log entries 0..{result.log_size - 1}")

    emit(as_json, data, human)


@app.command()
def snapshots(as_json: JsonOpt = False) -> None:
    """List the signed leaderboard snapshots in the log, newest first."""
    rows = _arena().snapshots()

    def human() -> None:
        table = Table(title=f"{len(rows)} arena snapshots")
        for col in ("index", "log size", "battles", "variants", "sha256"):
            table.add_column(col)
        for r in rows:
            table.add_row(str(r["index"]), str(r["log_size"]), str(r["n_battles"]), str(r["n_variants"]), r["sha256"])
        _out.print(table)

    emit(as_json, rows, human)


@app.command()
def reproduce(
    index: Annotated[int, typer.Argument(help="Log index of the arena.snapshot entry.")],
    from_export: Annotated[
        Path | None, typer.Option("--from", help="Rebuild from an exported log file (trustplane log export) instead.")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="The log's public key (with --from): PEM, hex, base64 or a file.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the rebuilt leaderboard's canonical JSON here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild a snapshot from the log entries alone and check that its hash matches the signed one."""
    if from_export is not None:
        from trustplane.arena._service import reproduce_export
        from trustplane.core.errors import InvalidInputError
        from trustplane.core.log import load_public_key

        if public_key is None:
            raise InvalidInputError("--from needs --public-key (the log's public key)")
        result = reproduce_export(from_export, load_public_key(public_key), index)
    else:
        result = _arena().reproduce(index)
    if out is not None:
        out.write_bytes(result.leaderboard.body)
    data = result.as_json()

    def human() -> None:
        verdict = "[green]matches[/]" if result.matches else "[red]DOES NOT MATCH[/]"
        _out.print(
            f"snapshot {index}: rebuilt from log entries 0..{result.log_size - 1} ({result.source}); hash {verdict}\n"
            f"  signed  {result.expected_sha256}\n  rebuilt {result.sha256}"
        )

    emit(as_json, data, human)
    if not result.matches:
        raise SnapshotMismatchError(
            f"snapshot {index} does not reproduce: rebuilt {result.sha256[:16]}…, signed {result.expected_sha256[:16]}…",
            index=index,
        )


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", help="Directory for the report files.")] = Path("arena-report"),
    period: Annotated[str, typer.Option("--period", help="Share periods: day or week.")] = "day",
    ties: TiesOpt = "half",
    ci: CiOpt = "sandwich",
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
) -> None:
    """Write the leaderboard, the win-rate matrix and each provider's share of battles and votes, with plots."""
    from trustplane.arena._plots import leaderboard_figure, save, win_matrix, win_matrix_figure
    from trustplane.arena._shares import plot_shares, share_report

    arena = _arena()
    board = arena.leaderboard(FitParams(ties=ties, ci=ci, seed=seed))
    shares = share_report(arena.battle_rows(), period)
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.json").write_bytes(board.body)
    (out / "shares.json").write_text(json.dumps(shares.as_json(), indent=2) + "\n")
    visible = [r["variant"] for r in board.data["rows"] if r.get("score") is not None]
    matrix = win_matrix(arena.battle_table(), visible)
    (out / "win-matrix.json").write_text(json.dumps(matrix.as_json(), indent=2) + "\n")
    rows = [r for r in board.data["rows"] if r.get("score") is not None]
    figs = [
        save(
            leaderboard_figure(board.data),
            out / "arena-leaderboard",
            title="Arena leaderboard",
            caption=f"{board.data['n_battles']} battles; scores corrected for best-of-N selection; sha256 {board.sha256}",
            table=(
                ("variant", "score", "lower", "upper", "rank", "rank lower", "rank upper"),
                [
                    (r["variant"], r["score"], r["lower"], r["upper"], r["rank"], r["rank_lower"], r["rank_upper"])
                    for r in rows
                ],
            ),
        ),
        save(
            win_matrix_figure(matrix),
            out / "arena-win-matrix",
            title="Arena: pairwise win rates",
            caption="Row variant's win rate against the column variant; ties and both-bad count half.",
        ),
        plot_shares(shares, out),
    ]
    data = {
        "out": str(out),
        "leaderboard_sha256": board.sha256,
        "n_battles": board.data["n_battles"],
        "files": ["leaderboard.json", "shares.json", "win-matrix.json"]
        + [p.name for f in figs for p in (f.png, f.html)],
        "total_battle_share": shares.total_battle_share,
        "total_vote_share": shares.total_vote_share,
    }

    def human() -> None:
        _out.print(_leaderboard_table(board.data, f"arena leaderboard: {board.data['n_battles']} battles"))
        share_table = Table(title=f"provider shares ({shares.n_battles} battles served, {shares.n_votes} voted)")
        for col in ("provider", "battles", "votes"):
            share_table.add_column(col)
        for p in shares.providers:
            share_table.add_row(p, f"{shares.total_battle_share[p]:.1%}", f"{shares.total_vote_share[p]:.1%}")
        _out.print(share_table)
        _out.print(f"report written to {out}/")

    emit(as_json, data, human)
