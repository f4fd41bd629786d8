"""Adaptive attacks on image provenance, each run against :func:`verify` with its success rate.

The attacker owns the certified generator and a cheaper substitute; it does not know the secret key.

- **PGD from a surrogate classifier**: it trains a small CNN to tell certified outputs from the
  substitute's, then moves each substitute output, within an L-infinity ball of radius eps, to where
  the surrogate calls it certified (projected gradient descent). Success: the batch is accepted.
- **Query attack**: it searches for one perturbation pattern (L-infinity <= eps) added to every
  substitute output, using only the verifier's accept/reject answers: each candidate pattern is
  judged by how many of a few query batches are accepted, and kept if that is at least as many as the
  current one (random-search hill climbing), until the query budget is spent.
- **Partial substitution**: the provider answers a fraction rho of requests with the substitute.
  Reported: verify's rejection rate (power) against the batch size n.

Success rates are measured on fresh batches (never those the attacker queried).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from trustplane.provenance._certificate import Certificate, sample_images, verify, verify_features
from trustplane.provenance._suite import SuiteConfig, build_substitutes, setup_demo


@dataclass(frozen=True)
class AttackConfig:
    """Sizes and budgets of the adaptive attacks. :meth:`quick` is the reduced size CI runs."""

    setup: SuiteConfig = field(default_factory=SuiteConfig)
    substitute: str = "finetune1"
    batch: int = 100
    trials: int = 30
    alpha: float = 0.05
    permutations: int = 499
    surrogate_train: int = 4000
    surrogate_epochs: int = 8
    pgd_eps: tuple[float, ...] = (2 / 255, 4 / 255, 8 / 255)
    pgd_steps: int = 20
    query_eps: float = 4 / 255
    query_budget: int = 600
    query_batches: int = 3
    query_batch: int = 20
    partial_rate: float = 0.10
    partial_n: tuple[int, ...] = (100, 300, 1000)
    random_state: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> AttackConfig:
        base = cls(
            setup=SuiteConfig.quick(substitutes=("finetune1",)),
            batch=50,
            trials=6,
            permutations=199,
            surrogate_train=600,
            surrogate_epochs=3,
            pgd_eps=(4 / 255,),
            pgd_steps=5,
            query_budget=30,
            query_batch=10,
            partial_n=(50, 200),
        )
        return replace(base, **overrides)


@dataclass(frozen=True)
class AttackOutcome:
    attack: str
    parameter: str
    success_rate: float
    trials: int
    queries: int = 0
    surrogate_accuracy: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class AttackResult:
    config: AttackConfig
    certificate_id: str
    baseline_acceptance: float
    outcomes: list[AttackOutcome]
    timings_s: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "certificate_id": self.certificate_id,
            "baseline_acceptance": self.baseline_acceptance,
            "outcomes": [asdict(o) for o in self.outcomes],
        }


class _Surrogate(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(32, 64, 4, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(64, 64, 4, stride=2, padding=1),
            nn.GELU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(64 * 16, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x).squeeze(1)
        return out


def train_surrogate(certified: np.ndarray, substitute: np.ndarray, *, epochs: int, random_state: int) -> _Surrogate:
    """A classifier of certified (label 0) against substitute (label 1) outputs."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        model = _Surrogate(certified.shape[1])
    x = torch.from_numpy(np.concatenate([certified, substitute]))
    y = torch.cat([torch.zeros(len(certified)), torch.ones(len(substitute))])
    gen = torch.Generator().manual_seed(random_state)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for s in range(0, len(x), 128):
            b = order[s : s + 128]
            loss = loss_fn(model(x[b]), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    return model.eval()


def pgd(model: _Surrogate, images: np.ndarray, eps: float, steps: int) -> np.ndarray:
    """Move ``images`` within an L-infinity ball of radius ``eps`` towards the surrogate's "certified" side."""
    x0 = torch.from_numpy(images)
    x = x0.clone()
    step = 2.5 * eps / max(1, steps)
    for _ in range(steps):
        x.requires_grad_(True)
        logit = model(x).sum()
        (grad,) = torch.autograd.grad(logit, x)
        with torch.no_grad():
            x = x - step * grad.sign()
            x = torch.clamp(torch.min(torch.max(x, x0 - eps), x0 + eps), 0.0, 1.0)
    return np.asarray(x.detach().numpy(), dtype=np.float32)


def _accept_rate(cert: Certificate, batches: list[np.ndarray], config: AttackConfig) -> float:
    accepted = 0
    for i, b in enumerate(batches):
        res = verify(b, cert, alpha=config.alpha, permutations=config.permutations, random_state=i)
        accepted += res.decision == "certified"
    return accepted / max(1, len(batches))


def _split(images: np.ndarray, n: int) -> list[np.ndarray]:
    return [images[i * n : (i + 1) * n] for i in range(images.shape[0] // n)]


def run_attacks(config: AttackConfig = AttackConfig(), progress: Callable[[str], None] | None = None) -> AttackResult:
    """Run the three attacks on the demo generator and one substitute (see the module docstring)."""
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    setup = setup_demo(replace(config.setup, substitutes=(config.substitute,)), timings, say)
    cert, base = setup.certificate, setup.base
    sub = build_substitutes(base, setup.vae, setup.data, replace(config.setup, substitutes=(config.substitute,)))[
        config.substitute
    ]
    seed = config.random_state + 20_000
    n_eval = config.batch * config.trials
    eval_sub = np.clip(sample_images(sub, n_eval, random_state=seed), 0, 1)
    baseline = _accept_rate(cert, _split(eval_sub, config.batch), config)
    outcomes: list[AttackOutcome] = []

    # --- PGD from a surrogate -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    say("PGD: training the surrogate")
    train_c = sample_images(base, config.surrogate_train, random_state=seed + 1)
    train_s = np.clip(sample_images(sub, config.surrogate_train, random_state=seed + 2), 0, 1)
    surrogate = train_surrogate(train_c, train_s, epochs=config.surrogate_epochs, random_state=config.random_state)
    test_c = sample_images(base, 1000, random_state=seed + 3)
    with torch.no_grad():
        acc = float(
            (
                (surrogate(torch.from_numpy(test_c)) < 0).float().mean()
                + (surrogate(torch.from_numpy(eval_sub[:1000])) > 0).float().mean()
            )
            / 2
        )
    for eps in config.pgd_eps:
        say(f"PGD eps={eps * 255:.0f}/255")
        adv = pgd(surrogate, eval_sub, eps, config.pgd_steps)
        with torch.no_grad():
            fooled = float((surrogate(torch.from_numpy(adv)) < 0).float().mean())
        rate = _accept_rate(cert, _split(adv, config.batch), config)
        outcomes.append(
            AttackOutcome(
                "pgd_surrogate",
                f"eps={eps * 255:.0f}/255, n={config.batch}",
                rate,
                config.trials,
                surrogate_accuracy=acc,
                detail=f"surrogate fooled on {fooled:.1%} of images",
            )
        )
    timings["pgd"] = time.perf_counter() - t0

    # --- query attack on accept/reject answers -----------------------------------------------------------------
    t0 = time.perf_counter()
    say("query attack")
    rng = np.random.default_rng(config.random_state)
    pool = np.clip(sample_images(sub, config.query_batch * config.query_batches * 4, random_state=seed + 4), 0, 1)
    shape = pool.shape[1:]
    delta = np.zeros(shape, dtype=np.float32)
    queries = 0

    def judge(d: np.ndarray) -> int:
        nonlocal queries
        wins = 0
        for _ in range(config.query_batches):
            pick = rng.choice(pool.shape[0], size=config.query_batch, replace=False)
            batch = np.clip(pool[pick] + d, 0, 1)
            res = verify(batch, cert, alpha=config.alpha, permutations=config.permutations, random_state=queries)
            queries += 1
            wins += res.decision == "certified"
        return wins

    best = judge(delta)
    sigma = config.query_eps / 2
    while queries + config.query_batches <= config.query_budget:
        proposal = np.clip(delta + rng.normal(0, sigma, shape).astype(np.float32), -config.query_eps, config.query_eps)
        score = judge(proposal)
        if score >= best:
            delta, best = proposal, score
    rate = _accept_rate(cert, _split(np.clip(eval_sub + delta, 0, 1), config.batch), config)
    outcomes.append(
        AttackOutcome(
            "query_accept_reject",
            f"eps={config.query_eps * 255:.0f}/255, n={config.batch}",
            rate,
            config.trials,
            queries=queries,
            detail=f"query batches of {config.query_batch}; final pattern accepted {best}/{config.query_batches} at search end",
        )
    )
    timings["query"] = time.perf_counter() - t0

    # --- partial substitution --------------------------------------------------------------------------------
    t0 = time.perf_counter()
    say("partial substitution")
    for n in config.partial_n:
        total = n * config.trials
        cert_imgs = sample_images(base, total, random_state=seed + 5 + n)
        sub_imgs = np.clip(sample_images(sub, total, random_state=seed + 6 + n), 0, 1)
        fc, fs = cert.features(cert_imgs), cert.features(sub_imgs)
        mix = np.random.default_rng(config.random_state + n).random(total) < config.partial_rate
        z = np.where(mix, fs.z, fc.z)
        u = np.where(mix[:, None], fs.u, fc.u)
        raw = np.where(mix, fs.raw_error, fc.raw_error)
        from trustplane.provenance._certificate import ImageFeatures

        rejected = 0
        for i in range(config.trials):
            sl = slice(i * n, (i + 1) * n)
            res = verify_features(
                ImageFeatures(z[sl], u[sl], raw[sl]),
                cert,
                alpha=config.alpha,
                permutations=config.permutations,
                random_state=i,
            )
            rejected += res.decision == "substitute"
        outcomes.append(
            AttackOutcome(
                "partial_substitution",
                f"rho={config.partial_rate:.0%}, n={n}",
                1.0 - rejected / config.trials,
                config.trials,
                detail=f"detected (power) {rejected / config.trials:.0%}",
            )
        )
    timings["partial"] = time.perf_counter() - t0
    return AttackResult(config, cert.certificate_id, baseline, outcomes, timings)


def attacks_markdown(result: AttackResult) -> str:
    lines = [
        f"Adaptive attacks on certificate {result.certificate_id} (substitute: {result.config.substitute}); "
        f"unattacked substitute batches of n={result.config.batch} accepted: {result.baseline_acceptance:.0%}",
        "",
        "| attack | parameters | success rate (accepted) | trials | queries | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for o in result.outcomes:
        note = o.detail + (
            f"; surrogate accuracy {o.surrogate_accuracy:.1%}" if o.surrogate_accuracy is not None else ""
        )
        lines.append(f"| {o.attack} | {o.parameter} | {o.success_rate:.1%} | {o.trials} | {o.queries or ''} | {note} |")
    return "\n".join(lines) + "\n"
