"""The substitute suite: certify a small generator, build cheaper substitutes from it, measure detection.

Everything runs on CPU in minutes: a VAE trained on procedurally drawn shapes (see :mod:`._demo`) is
the certified generator; the substitutes are a retraining with another seed, one on half the data,
one with another width, INT8 and INT4 weight quantisation, 25% and 50% magnitude pruning, and
fine-tuning for 1 and 5 epochs. For each, on fresh latents:

- the output shift (RMS difference from the certified generator on the same latents);
- AuthPrint's score (mean reconstruction error) and trustplane's score (the larger of the standardised
  error and residual-bias statistics), averaged over n = 1 and n = 10 outputs: FPR at 95% TPR and
  AUROC, with bootstrap intervals;
- the power of :func:`verify` at alpha = 0.05 on batches of n = 10 and n = 100 (with Clopper-Pearson
  intervals), and the same rate on certified batches (the type-I error).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trustplane.provenance._certificate import Certificate, ImageFeatures, certify, sample_images, verify_features
from trustplane.provenance._demo import Decoder, TrainConfig, make_shapes, train_vae
from trustplane.provenance._reconstructor import Reconstructor
from trustplane.provenance._stats import auroc, bootstrap_ci, fpr_at_tpr
from trustplane.provenance._substitutes import prune_weights, quantize_weights

SUBSTITUTES = ("seed", "half_data", "width", "int8", "int4", "prune25", "prune50", "finetune1", "finetune5")
TOLERANCE = ("int7", "int6", "int5")
"""Extra quantisation levels between INT8 and INT4: they locate the output shift below which substitutes pass."""


@dataclass(frozen=True)
class SuiteConfig:
    """Sizes of the suite. :meth:`quick` is the reduced size CI runs."""

    n_data: int = 8000
    vae_epochs: int = 15
    latent_dim: int = 16
    width: int = 32
    substitute_width: int = 48
    finetune_learning_rate: float = 5e-4
    k: int = 64
    n_keys: int = 1
    n_train: int = 20_000
    n_reference: int = 1000
    n_calibration: int = 2000
    reconstructor_epochs: int = 20
    n_eval: int = 5000
    group: int = 10
    batch: int = 100
    alpha: float = 0.05
    permutations: int = 999
    bootstrap: int = 200
    substitutes: tuple[str, ...] = SUBSTITUTES + TOLERANCE
    random_state: int = 0

    @classmethod
    def quick(cls, **overrides: Any) -> SuiteConfig:
        base = cls(
            n_data=1500,
            vae_epochs=4,
            n_train=2000,
            n_reference=300,
            n_calibration=400,
            reconstructor_epochs=4,
            n_eval=600,
            permutations=199,
            bootstrap=50,
            substitute_width=40,
        )
        return replace(base, **overrides)


@dataclass(frozen=True)
class SuiteRow:
    """Detection of one substitute (or of the certified generator itself, the null row)."""

    substitute: str
    output_rms: float
    fpr95_authprint_n1: float
    fpr95_authprint_n10: float
    fpr95_n1: float
    fpr95_n1_ci: tuple[float, float]
    fpr95_n10: float
    fpr95_n10_ci: tuple[float, float]
    auroc_authprint_n1: float
    auroc_n1: float
    auroc_n1_ci: tuple[float, float]
    auroc_n10: float
    auroc_n10_ci: tuple[float, float]
    rejected_n10: float
    rejected_n10_ci: tuple[float, float]
    rejected_n100: float
    rejected_n100_ci: tuple[float, float]
    batches_n10: int
    batches_n100: int


@dataclass(frozen=True)
class SuiteResult:
    config: SuiteConfig
    certificate_id: str
    reconstruction_error: float
    rows: list[SuiteRow]
    timings_s: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SuiteResult:
        """Rebuild a result from :meth:`to_dict`'s output (e.g. to redraw its plot)."""
        config = dict(data["config"])
        config["substitutes"] = tuple(config["substitutes"])
        rows = []
        for row in data["rows"]:
            fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in row.items()}
            rows.append(SuiteRow(**fields))
        return cls(SuiteConfig(**config), data["certificate_id"], float(data["reconstruction_error"]), rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "certificate_id": self.certificate_id,
            "reconstruction_error": self.reconstruction_error,
            "rows": [asdict(r) for r in self.rows],
        }


def _clopper_pearson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


def _groups(features: ImageFeatures, n: int) -> list[ImageFeatures]:
    count = features.z.shape[0] // n
    return [
        ImageFeatures(
            features.z[i * n : (i + 1) * n], features.u[i * n : (i + 1) * n], features.raw_error[i * n : (i + 1) * n]
        )
        for i in range(count)
    ]


class _GroupScorer:
    """Scores of a group of n outputs: AuthPrint's mean error and trustplane's combined statistic."""

    def __init__(self, certificate: Certificate, n: int, random_state: int) -> None:
        rng = np.random.default_rng(random_state)
        z, u = certificate.calibration_z, certificate.calibration_u
        m = z.shape[0]
        idx = np.stack([rng.choice(m, size=n, replace=False) for _ in range(2000)])
        mse, bias = self._raw(z[idx], u[idx])
        self.n = n
        self.mse0 = (float(mse.mean()), float(mse.std() + 1e-12))
        self.bias0 = (float(bias.mean()), float(bias.std() + 1e-12))

    @staticmethod
    def _raw(z: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, k = z.shape[1], u.shape[2]
        return z.mean(axis=1), (u.mean(axis=1) ** 2).sum(axis=1) * n / k

    def scores(self, features: ImageFeatures) -> tuple[np.ndarray, np.ndarray]:
        count = features.z.shape[0] // self.n
        z = features.z[: count * self.n].reshape(count, self.n)
        u = features.u[: count * self.n].reshape(count, self.n, -1)
        mse, bias = self._raw(z, u)
        ours = np.maximum((mse - self.mse0[0]) / self.mse0[1], (bias - self.bias0[0]) / self.bias0[1])
        return mse, ours


def build_substitutes(
    base: nn.Module,
    base_vae: Any,
    data: np.ndarray,
    config: SuiteConfig,
    progress: Callable[[str], None] | None = None,
) -> dict[str, nn.Module]:
    """The substitutes named in ``config.substitutes``, each a generator module like ``base``."""
    train = TrainConfig(latent_dim=config.latent_dim, width=config.width, epochs=config.vae_epochs)
    seed = config.random_state
    makers: dict[str, Callable[[], nn.Module]] = {
        "seed": lambda: train_vae(data, train, random_state=seed + 1).decoder,
        "half_data": lambda: train_vae(data[: data.shape[0] // 2], train, random_state=seed).decoder,
        "width": lambda: train_vae(data, replace(train, width=config.substitute_width), random_state=seed).decoder,
        "int8": lambda: quantize_weights(base, 8),
        "int7": lambda: quantize_weights(base, 7),
        "int6": lambda: quantize_weights(base, 6),
        "int5": lambda: quantize_weights(base, 5),
        "int4": lambda: quantize_weights(base, 4),
        "prune25": lambda: prune_weights(base, 0.25),
        "prune50": lambda: prune_weights(base, 0.50),
        "finetune1": lambda: (
            train_vae(
                data, train, init=base_vae, epochs=1, learning_rate=config.finetune_learning_rate, random_state=seed + 7
            ).decoder
        ),
        "finetune5": lambda: (
            train_vae(
                data, train, init=base_vae, epochs=5, learning_rate=config.finetune_learning_rate, random_state=seed + 7
            ).decoder
        ),
    }
    out = {}
    for name in config.substitutes:
        if progress is not None:
            progress(f"substitute {name}")
        out[name] = makers[name]()
    return out


@dataclass(frozen=True)
class DemoSetup:
    """The certified demo generator, its training data and its certificate."""

    data: np.ndarray
    vae: Any
    base: Decoder
    certificate: Certificate


_SETUPS: dict[tuple[Any, ...], DemoSetup] = {}


def _setup_key(config: SuiteConfig) -> tuple[Any, ...]:
    return (
        config.n_data,
        config.vae_epochs,
        config.latent_dim,
        config.width,
        config.k,
        config.n_keys,
        config.n_train,
        config.n_reference,
        config.n_calibration,
        config.reconstructor_epochs,
        config.random_state,
    )


def setup_demo(
    config: SuiteConfig, timings: dict[str, float] | None = None, say: Callable[[str], None] | None = None
) -> DemoSetup:
    """Train the demo VAE and certify its decoder with fixed demo keys (so runs are reproducible)."""
    say = say or (lambda _msg: None)
    timings = timings if timings is not None else {}
    cached = _SETUPS.get(_setup_key(config))
    if cached is not None:  # the suite and the attacks share one certified generator within a process
        return cached
    t0 = time.perf_counter()
    say("training the certified generator")
    data = make_shapes(config.n_data, random_state=config.random_state)
    vae = train_vae(
        data,
        TrainConfig(latent_dim=config.latent_dim, width=config.width, epochs=config.vae_epochs),
        random_state=config.random_state,
    )
    base: Decoder = vae.decoder
    timings["train_generator"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("certifying")
    keys = [bytes([7 + j]) * 32 for j in range(config.n_keys)]
    cert = certify(
        base,
        keys,
        k=config.k,
        n_train=config.n_train,
        n_reference=config.n_reference,
        n_calibration=config.n_calibration,
        reconstructor=Reconstructor(epochs=config.reconstructor_epochs),
        generator_name="demo-vae",
        random_state=config.random_state,
    )
    timings["certify"] = time.perf_counter() - t0
    setup = DemoSetup(data, vae, base, cert)
    _SETUPS.clear()
    _SETUPS[_setup_key(config)] = setup
    return setup


def run_suite(config: SuiteConfig = SuiteConfig(), progress: Callable[[str], None] | None = None) -> SuiteResult:
    """Train, certify, substitute and measure (see the module docstring). Seeded: same config, same numbers."""
    timings: dict[str, float] = {}
    say = progress or (lambda _msg: None)
    setup = setup_demo(config, timings, say)
    data, vae, base, cert = setup.data, setup.vae, setup.base, setup.certificate
    t0 = time.perf_counter()
    subs = build_substitutes(base, vae, data, config, say)
    timings["substitutes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    eval_seed = config.random_state + 10_000
    held = sample_images(base, config.n_eval, random_state=eval_seed)
    f_cert = cert.features(held)
    scorers = {
        1: _GroupScorer(cert, 1, config.random_state),
        config.group: _GroupScorer(cert, config.group, config.random_state),
    }
    cert_scores = {n: s.scores(f_cert) for n, s in scorers.items()}
    rows = [_row("certified", 0.0, f_cert, f_cert, cert, cert_scores, cert_scores, config)]
    for name, gen in subs.items():
        say(f"measuring {name}")
        with torch.no_grad():
            imgs = sample_images(gen, config.n_eval, random_state=eval_seed)
        rms = float(np.sqrt(np.mean((imgs - held) ** 2)))
        f_sub = cert.features(np.clip(imgs, 0.0, 1.0))
        sub_scores = {n: s.scores(f_sub) for n, s in scorers.items()}
        rows.append(_row(name, rms, f_cert, f_sub, cert, cert_scores, sub_scores, config))
    timings["measure"] = time.perf_counter() - t0
    return SuiteResult(config, cert.certificate_id, float(cert.members[0].error_mean), rows, timings)


def _row(
    name: str,
    rms: float,
    f_cert: ImageFeatures,
    f_sub: ImageFeatures,
    cert: Certificate,
    cert_scores: dict[int, tuple[np.ndarray, np.ndarray]],
    sub_scores: dict[int, tuple[np.ndarray, np.ndarray]],
    config: SuiteConfig,
) -> SuiteRow:
    g = config.group
    boot = {"rounds": config.bootstrap, "random_state": config.random_state}
    c1a, c1 = cert_scores[1]
    s1a, s1 = sub_scores[1]
    cga, cg = cert_scores[g]
    sga, sg = sub_scores[g]
    rates = {}
    for n in (g, config.batch):
        batches = _groups(f_sub, n)
        rejected = sum(
            verify_features(b, cert, alpha=config.alpha, permutations=config.permutations, random_state=i).decision
            == "substitute"
            for i, b in enumerate(batches)
        )
        rates[n] = (rejected / max(1, len(batches)), _clopper_pearson(rejected, len(batches)), len(batches))
    return SuiteRow(
        substitute=name,
        output_rms=rms,
        fpr95_authprint_n1=fpr_at_tpr(c1a, s1a),
        fpr95_authprint_n10=fpr_at_tpr(cga, sga),
        fpr95_n1=fpr_at_tpr(c1, s1),
        fpr95_n1_ci=bootstrap_ci(fpr_at_tpr, c1, s1, **boot),
        fpr95_n10=fpr_at_tpr(cg, sg),
        fpr95_n10_ci=bootstrap_ci(fpr_at_tpr, cg, sg, **boot),
        auroc_authprint_n1=auroc(c1a, s1a),
        auroc_n1=auroc(c1, s1),
        auroc_n1_ci=bootstrap_ci(auroc, c1, s1, **boot),
        auroc_n10=auroc(cg, sg),
        auroc_n10_ci=bootstrap_ci(auroc, cg, sg, **boot),
        rejected_n10=rates[g][0],
        rejected_n10_ci=rates[g][1],
        rejected_n100=rates[config.batch][0],
        rejected_n100_ci=rates[config.batch][1],
        batches_n10=rates[g][2],
        batches_n100=rates[config.batch][2],
    )


def plot_suite(result: SuiteResult, out_dir: Path) -> list[Path]:
    """Bar charts of FPR at 95% TPR (n = 1, 10; AuthPrint and trustplane) and verify's rejection rate at n = 100."""
    from trustplane.core.reports import pyplot, save_figure

    plt = pyplot()
    rows = result.rows
    names = [r.substitute for r in rows]
    x = np.arange(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    w = 0.2
    series = [
        ("AuthPrint n=1", [r.fpr95_authprint_n1 for r in rows], None),
        ("AuthPrint n=10", [r.fpr95_authprint_n10 for r in rows], None),
        ("trustplane n=1", [r.fpr95_n1 for r in rows], [r.fpr95_n1_ci for r in rows]),
        ("trustplane n=10", [r.fpr95_n10 for r in rows], [r.fpr95_n10_ci for r in rows]),
    ]
    for i, (label, vals, cis) in enumerate(series):
        err = None
        if cis is not None:
            err = np.array(
                [[v - c[0] for v, c in zip(vals, cis, strict=True)], [c[1] - v for v, c in zip(vals, cis, strict=True)]]
            )
            err = np.clip(err, 0, None)
        axes[0].bar(x + (i - 1.5) * w, vals, w, label=label, yerr=err, capsize=2)
    axes[0].set_xticks(x, names, rotation=35, ha="right")
    axes[0].set_ylabel("FPR at 95% TPR (lower is better)")
    axes[0].set_ylim(0, 1.05)
    axes[0].legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, frameon=False)
    axes[0].set_title("Substitutes accepted as certified", pad=22)
    for j, (label, vals, cis) in enumerate(
        [
            ("n=10", [r.rejected_n10 for r in rows], [r.rejected_n10_ci for r in rows]),
            ("n=100", [r.rejected_n100 for r in rows], [r.rejected_n100_ci for r in rows]),
        ]
    ):
        err = np.clip(
            np.array(
                [[v - c[0] for v, c in zip(vals, cis, strict=True)], [c[1] - v for v, c in zip(vals, cis, strict=True)]]
            ),
            0,
            None,
        )
        axes[1].bar(x + (j - 0.5) * 0.35, vals, 0.35, label=label, yerr=err, capsize=2)
    axes[1].axhline(result.config.alpha, color="k", ls="--", lw=0.8, label=f"alpha = {result.config.alpha:g}")
    axes[1].axhline(0.8, color="grey", ls=":", lw=0.8, label="80% power")
    axes[1].set_xticks(x, names, rotation=35, ha="right")
    axes[1].set_ylabel("share of batches rejected by verify()")
    axes[1].set_ylim(0, 1.05)
    axes[1].legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=4, frameon=False)
    axes[1].set_title("verify(): power (substitutes) and type-I error (certified)", pad=22)
    fig.tight_layout()
    header = [
        "substitute",
        "output RMS",
        "FPR95 AuthPrint n=1",
        "FPR95 n=1",
        "FPR95 n=10",
        "AUROC n=1",
        "AUROC n=10",
        "rejected n=10",
        "rejected n=100",
    ]
    body = [
        [
            r.substitute,
            r.output_rms,
            r.fpr95_authprint_n1,
            r.fpr95_n1,
            r.fpr95_n10,
            r.auroc_n1,
            r.auroc_n10,
            r.rejected_n10,
            r.rejected_n100,
        ]
        for r in rows
    ]
    saved = save_figure(
        fig,
        Path(out_dir) / "provenance-suite",
        title="Provenance substitute suite",
        caption=f"Certificate {result.certificate_id}; {result.config.n_eval} outputs per generator; "
        f"bars: 95% bootstrap (FPR) and Clopper-Pearson (rejection) intervals.",
        table=(header, body),
    )
    plt.close(fig)
    return [saved.png, saved.html]
