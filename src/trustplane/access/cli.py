"""``trustplane access``: API keys, revocation, the review queue, taxonomy and policy, dry runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from trustplane.access._audit import summarise
from trustplane.access._engine import AccessEngine
from trustplane.access._errors import MalformedClaimsError
from trustplane.access._identity import ClaimMapper
from trustplane.access._policy import PolicyEngine, validate_policy
from trustplane.access._principal import ASSURANCE_LEVELS, ATTRIBUTE_PATTERN, Principal, pseudonym
from trustplane.access._taxonomy import load_taxonomy
from trustplane.core.config import Settings, load_settings
from trustplane.core.errors import InvalidInputError
from trustplane.core.output import JsonOpt, console, emit

app = typer.Typer(
    help="Access control for dual-use outputs: keys, revocation, review queue, taxonomy, policy, dry runs.",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
review_app = typer.Typer(help="The human review queue: list, approve, deny escalated requests.", no_args_is_help=True)
taxonomy_app = typer.Typer(help="The risk taxonomy: show the one in force, validate a file.", no_args_is_help=True)
policy_app = typer.Typer(help="The Cedar access policy: show the one in force, validate a file.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(review_app, name="review")
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(policy_app, name="policy")

AssuranceOpt = Annotated[str, typer.Option(help=f"Identity assurance: {', '.join(ASSURANCE_LEVELS)}.")]
AttributeOpt = Annotated[
    list[str] | None,
    typer.Option("--attribute", "-a", help="A verified attribute, e.g. affiliation or authorisation:biological."),
]


def _settings() -> Settings:
    return load_settings()


def _gateway(settings: Settings) -> Any:
    from trustplane.access._gateway import Gateway
    from trustplane.core.log import TransparencyLog
    from trustplane.core.store import get_store

    store = get_store(settings)
    store.upgrade()
    return Gateway(settings, store, TransparencyLog(store, settings))


def _stores(settings: Settings) -> Any:
    from trustplane.access._keys import ApiKeys, Revocations, load_pepper
    from trustplane.access._reviews import ReviewQueue
    from trustplane.core.store import get_store

    store = get_store(settings)
    store.upgrade()
    return (
        ApiKeys(store, load_pepper(settings)),
        Revocations(store),
        ReviewQueue(store, ttl_s=settings.access_review_ttl_seconds, keep_text=settings.access_store_text),
    )


def _check_attributes(attributes: list[str]) -> list[str]:
    bad = [a for a in attributes if not ATTRIBUTE_PATTERN.match(a)]
    if bad:
        raise InvalidInputError(f"attributes {bad} must look like 'name' or 'name:value' (lowercase name)")
    return attributes


# --- keys ------------------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="What the key is for (shown in listings).")],
    tier: Annotated[str, typer.Option(help="Rate-limit tier (a key of TRUSTPLANE_ACCESS_RATE_LIMITS).")] = "default",
    subject: Annotated[str | None, typer.Option(help="Who holds the key; VC-JWTs sent with it must name them.")] = None,
    assurance: AssuranceOpt = "none",
    attribute: AttributeOpt = None,
    rate_limit: Annotated[str | None, typer.Option(help="This key's own request limit, e.g. '10/second'.")] = None,
    token_budget: Annotated[str | None, typer.Option(help="This key's own token budget, e.g. '5000/day'.")] = None,
    expires_in: Annotated[float | None, typer.Option(help="Seconds until the key expires.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; its secret is printed once and never stored."""
    from trustplane.access._ratelimit import RateLimiter, parse_limits

    settings = _settings()
    limiter = RateLimiter(settings.access_rate_limits, settings.access_token_budgets)
    if rate_limit is None or token_budget is None:
        limiter.check_tier(tier)
    for value, where in ((rate_limit, "--rate-limit"), (token_budget, "--token-budget")):
        if value is not None:
            parse_limits(value, where)
    keys, _, _ = _stores(settings)
    created = keys.create(
        name,
        tier=tier,
        subject=subject,
        assurance=assurance,
        attributes=_check_attributes(attribute or []),
        rate_limit=rate_limit,
        token_budget=token_budget,
        expires_in_s=expires_in,
    )
    emit(
        as_json,
        created.as_json(),
        lambda: console.print(
            f"created key [bold]{created.key.key_id}[/] ({created.key.name}, tier {created.key.tier})\n"
            f"API key (shown once): [bold]{created.token}[/]",
            soft_wrap=True,
        ),
    )


@keys_app.command("list")
def keys_list(
    active: Annotated[bool, typer.Option("--active", help="Only keys that are not revoked.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List API keys (never their secrets)."""
    keys, _, _ = _stores(_settings())
    rows = keys.list(include_revoked=not active)

    def human() -> None:
        table = Table("key id", "name", "tier", "assurance", "attributes", "state")
        for k in rows:
            state = "revoked" if k.revoked_ms else ("active" if k.active else "expired")
            table.add_row(k.key_id, k.name, k.tier, ASSURANCE_LEVELS[k.assurance], ", ".join(k.attributes), state)
        console.print(table)

    emit(as_json, [k.as_json() for k in rows], human)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (from `trustplane access keys list`).")],
    reason: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API key: refused from the next request on, and its streams in flight are cut off."""
    keys, _, _ = _stores(_settings())
    key = keys.revoke(key_id, reason)
    emit(as_json, key.as_json(), lambda: console.print(f"revoked key [bold]{key.key_id}[/] ({key.name})"))


# --- revocation ----------------------------------------------------------------------------------------------
@app.command("revoke")
def revoke(
    value: Annotated[str, typer.Argument(help="A subject ('issuer|sub' or a principal id) or a credential id.")],
    kind: Annotated[str, typer.Option(help="subject or credential.")] = "subject",
    reason: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a subject or a credential (jti, VC id): effective on the next request and in streams in flight."""
    _, revocations, _ = _stores(_settings())
    record = revocations.revoke(kind, value, reason)  # type: ignore[arg-type]
    emit(as_json, record.as_json(), lambda: console.print(f"revoked {record.kind} [bold]{record.value}[/]"))


@app.command("revocations")
def revocations_list(as_json: JsonOpt = False) -> None:
    """List admin revocations of subjects and credentials."""
    _, revocations, _ = _stores(_settings())
    rows = revocations.list()

    def human() -> None:
        table = Table("kind", "value", "reason")
        for r in rows:
            table.add_row(r.kind, r.value, r.reason or "")
        console.print(table)

    emit(as_json, [r.as_json() for r in rows], human)


# --- review queue ----------------------------------------------------------------------------------------------
@review_app.command("list")
def review_list(
    status: Annotated[
        str | None, typer.Option(help="pending, approved, denied, used or expired (default: all).")
    ] = "pending",
    limit: Annotated[int, typer.Option(help="Most reviews to show.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List reviews (pending by default), newest first, with the prompt for pending ones."""
    _, _, queue = _stores(_settings())
    rows = queue.list(status if status != "all" else None, limit)

    def human() -> None:
        table = Table("review id", "status", "category", "caller", "prompt")
        for r in rows:
            caller = f"{r.principal.get('method')} · {r.principal.get('assurance')}"
            table.add_row(r.review_id, r.status, f"{r.category}/{r.band}", caller, (r.prompt_text or "")[:80])
        console.print(table)

    emit(as_json, [r.as_json() for r in rows], human)


def _decide(review_id: str, approve: bool, note: str | None, by: str, as_json: bool) -> None:
    gateway = _gateway(_settings())
    review = asyncio.run(gateway.decide_review(review_id, approve=approve, by=by, note=note))
    emit(as_json, review.as_json(), lambda: console.print(f"review [bold]{review.review_id}[/] {review.status}"))


@review_app.command("approve")
def review_approve(
    review_id: Annotated[str, typer.Argument(help="The review id.")],
    note: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    by: Annotated[str, typer.Option(help="Who decides.")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Approve an escalated request: the caller may retry it once with Trustplane-Review: <id>."""
    _decide(review_id, True, note, by, as_json)


@review_app.command("deny")
def review_deny(
    review_id: Annotated[str, typer.Argument(help="The review id.")],
    note: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
    by: Annotated[str, typer.Option(help="Who decides.")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Deny an escalated request."""
    _decide(review_id, False, note, by, as_json)


# --- taxonomy and policy ----------------------------------------------------------------------------------------
@taxonomy_app.command("show")
def taxonomy_show(
    file: Annotated[Path | None, typer.Option(help="A taxonomy file (default: the one in force).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the risk taxonomy: domains, bands and what unlocks each."""
    taxonomy = load_taxonomy(file if file is not None else _settings().access_taxonomy)

    def human() -> None:
        table = Table("domain", "band", "min assurance", "required attributes", "keywords", title=taxonomy.name)
        for name, domain in taxonomy.spec.domains.items():
            for band in ("grey", "prohibited"):
                spec = getattr(domain, band)
                table.add_row(
                    name,
                    band,
                    spec.requires.assurance,
                    ", ".join(spec.requires.attributes) or "-",
                    str(len(spec.keywords)),
                )
        console.print(table)
        console.print(f"source {taxonomy.source} · sha256 {taxonomy.sha256}")

    emit(as_json, taxonomy.as_json(), human)


@taxonomy_app.command("validate")
def taxonomy_validate(
    file: Annotated[Path, typer.Argument(help="The taxonomy YAML file.")],
    as_json: JsonOpt = False,
) -> None:
    """Validate a taxonomy file; errors name the file, line and field."""
    taxonomy = load_taxonomy(file)
    data = {"valid": True, "name": taxonomy.name, "domains": list(taxonomy.domains), "sha256": taxonomy.sha256}
    emit(as_json, data, lambda: console.print(f"{file}: valid ({taxonomy.name}, {len(taxonomy.domains)} domains)"))


@policy_app.command("show")
def policy_show(as_json: JsonOpt = False) -> None:
    """Show the Cedar policy in force and its hash."""
    settings = _settings()
    engine = PolicyEngine.load(settings.access_policy, load_taxonomy(settings.access_taxonomy))
    data = {"source": engine.source, "sha256": engine.sha256, "version": engine.version, "policy": engine.text}
    emit(as_json, data, lambda: console.print(engine.text, markup=False, highlight=False))


@policy_app.command("validate")
def policy_validate(
    file: Annotated[Path, typer.Argument(help="The Cedar policy file.")],
    as_json: JsonOpt = False,
) -> None:
    """Validate a Cedar policy against the gateway's schema; an unknown field names its line."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {file}: {exc.strerror}") from None
    validate_policy(text, source=str(file))
    emit(as_json, {"valid": True, "path": str(file)}, lambda: console.print(f"{file}: valid"))


# --- dry run ------------------------------------------------------------------------------------------------
def _claims_principal(settings: Settings, path: Path) -> Principal:
    try:
        claims = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read claims from {path}: {exc}") from None
    if not isinstance(claims, dict):
        raise MalformedClaimsError(f"{path} must hold a JSON object of claims")
    mapper = ClaimMapper(settings.access_assurance_map)
    body = claims.get("vc", claims)
    if isinstance(body, dict) and isinstance(body.get("credentialSubject"), dict):
        facts = mapper.vc_subject(body["credentialSubject"])
    else:
        facts = mapper.oidc(claims)
    subject = str(claims.get("sub", "dry-run"))
    issuer = str(claims.get("iss", "unverified"))
    return Principal(
        id=f"dry_run:{pseudonym(issuer, subject)}",
        method="dry_run",
        subject=subject,
        issuer=issuer,
        assurance=facts.assurance,
        attributes=facts.attributes,
        evidence=facts.evidence,
        trust_frameworks=facts.frameworks,
    )


@app.command("check")
def check(
    prompt: Annotated[str, typer.Option(help="The prompt to classify and decide.")],
    output: Annotated[str | None, typer.Option(help="An answer to run through the output filter too.")] = None,
    token: Annotated[
        str | None, typer.Option(help="An API key, OIDC token or VC-JWT, verified as the server would.")
    ] = None,
    claims: Annotated[
        Path | None, typer.Option(help="A JSON file of identity claims (OIDC4IDA, REFEDS or a VC), unverified.")
    ] = None,
    assurance: AssuranceOpt = "none",
    attribute: AttributeOpt = None,
    policy: Annotated[Path | None, typer.Option(help="A Cedar policy file (default: the one in force).")] = None,
    taxonomy: Annotated[Path | None, typer.Option(help="A taxonomy file (default: the one in force).")] = None,
    classifier: Annotated[str | None, typer.Option(help="A classifier name (default: the one in force).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Dry-run the policy: classify a prompt and say what a given identity would get, and why."""
    overrides: dict[str, Any] = {}
    if policy is not None:
        overrides["access_policy"] = policy
    if taxonomy is not None:
        overrides["access_taxonomy"] = taxonomy
    if classifier is not None:
        overrides["access_classifier"] = classifier
    settings = load_settings(**overrides)
    if sum(x is not None for x in (token, claims)) > 1:
        raise InvalidInputError("give --token or --claims, not both")
    if token is not None:
        principal = asyncio.run(_gateway(settings).authenticate(f"Bearer {token}"))
    elif claims is not None:
        principal = _claims_principal(settings, claims)
    else:
        try:
            rank = ASSURANCE_LEVELS.index(assurance)
        except ValueError:
            raise InvalidInputError(f"--assurance must be one of {', '.join(ASSURANCE_LEVELS)}") from None
        principal = Principal(
            id="dry-run",
            method="dry_run",
            subject="dry-run",
            issuer="cli",
            assurance=rank,
            attributes=frozenset(_check_attributes(attribute or [])),
        )
    report = AccessEngine(settings).check(principal, [("user", prompt)], output)

    def human() -> None:
        p = report["prompt"]
        d = p["decision"]
        who = report["principal"]
        console.print(
            f"caller: {who['method']} · assurance [bold]{who['assurance']}[/] · "
            f"attributes {', '.join(who['attributes']) or '-'}"
        )
        console.print(
            f"prompt: [bold]{p['category']}[/]{'/' + p['band'] if p['band'] else ''} (score {p['score']:.2f})"
        )
        console.print(
            f"decision: [bold]{d['action']}[/] (policy {report['policy']}; by {', '.join(d['reasons']) or 'no permit'})"
        )
        unlock = d.get("unlock")
        if unlock:
            if unlock["sufficient"]:
                missing = unlock["missing"]
                needs = [f"assurance {unlock['min_assurance']}"] if missing["assurance"] else []
                needs += missing["attributes"]
                console.print(f"unlocks with: {', '.join(needs) or 'nothing missing'}")
            else:
                console.print("no credential unlocks this under the current policy")
        if "output" in report:
            o = report["output"]
            console.print(f"output released ({o['redactions']} redactions, stopped: {bool(o['stopped'])}):")
            console.print(o["released"], markup=False, highlight=False)

    emit(as_json, report, human)


# --- decisions ------------------------------------------------------------------------------------------------
@app.command("decisions")
def decisions(
    limit: Annotated[int, typer.Option(help="How many of the newest decisions to read.")] = 500,
    as_json: JsonOpt = False,
) -> None:
    """Recent access decisions from the transparency log, counted by day, category and action."""
    gateway = _gateway(_settings())
    rows = gateway.decisions(limit)
    summary = summarise(rows)

    def human() -> None:
        table = Table("day", "category", "action", "count")
        for r in summary:
            table.add_row(r["day"], r["category"], r["action"], str(r["count"]))
        console.print(table)

    emit(as_json, {"decisions": rows, "summary": summary}, human)


def _register_classifier_commands() -> None:
    from trustplane.access.classifiers._cli import register_commands

    register_commands(app)


_register_classifier_commands()
