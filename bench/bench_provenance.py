"""Provenance benchmark: the substitute suite, the adaptive attacks and the LLM substitution tests.

Images: trustplane's test (error and residual-bias statistics, permutation p-value) against the
AuthPrint score (mean reconstruction error at the secret coordinates) on the same certificate, the
same substitutes and the same outputs. Reported per substitute: FPR at 95% TPR at n = 1 and 10,
AUROC, verify()'s rejection rate at n = 10 and 100, with intervals; then the adaptive attacks.

LLM (``--llm``): the bundled SmolLM2 (Q4_1) as the certified model; substitutes served through the
local backend: Q8_0 (INT8) and Q4_0 (INT4) re-quantisations, a perturbed copy (5% of weights moved one
quantisation step) and the certified model at temperature 1.3. Reference answers are sampled once and
shared; each candidate answers the same queries. Power against the number of queries by resampling
query subsets; type-I error with the certified model itself as the candidate (other seeds).

Run: ``python bench/bench_provenance.py [--quick] [--llm | --llm-only]``; writes
bench/results/provenance.json (and provenance_llm.json) plus the plots next to them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result


def images(quick: bool, threads: int) -> None:
    import torch

    from trustplane.provenance._attacks import AttackConfig, attacks_markdown, run_attacks
    from trustplane.provenance._suite import SuiteConfig, plot_suite, run_suite
    from trustplane.provenance._tables import suite_markdown

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    suite = run_suite(
        SuiteConfig.quick() if quick else SuiteConfig(), progress=lambda m: print("  suite:", m, flush=True)
    )
    suite_s = time.perf_counter() - t0
    plot_suite(suite, RESULTS)
    t0 = time.perf_counter()
    attacks = run_attacks(
        AttackConfig.quick() if quick else AttackConfig(), progress=lambda m: print("  attacks:", m, flush=True)
    )
    attacks_s = time.perf_counter() - t0
    (RESULTS / "provenance-suite.md").write_text(suite_markdown(suite) + "\n" + attacks_markdown(attacks))
    subs = [r for r in suite.rows if r.substitute != "certified"]
    ours = float(np.mean([r.fpr95_n10 for r in subs]))
    authprint = float(np.mean([r.fpr95_authprint_n10 for r in subs]))
    null = next(r for r in suite.rows if r.substitute == "certified")
    detected = [r.substitute for r in subs if r.rejected_n100 >= 0.8]
    summary = (
        f"provenance: mean FPR@95%TPR at n=10 over {len(subs)} substitutes: trustplane {ours:.3f} vs AuthPrint "
        f"{authprint:.3f} (ratio {ours / max(authprint, 1e-9):.2f}); verify at n=100 detects {len(detected)}/{len(subs)} "
        f"with >=80% power, type-I {null.rejected_n100:.2f}"
    )
    write_result(
        "provenance",
        {
            "quick": quick,
            "threads": threads,
            "suite": suite.to_dict(),
            "attacks": attacks.to_dict(),
            "seconds": {
                "suite": suite_s,
                "attacks": attacks_s,
                "suite_parts": suite.timings_s,
                "attack_parts": attacks.timings_s,
            },
        },
        summary,
    )


async def _llm(quick: bool, threads: int) -> dict[str, Any]:
    from trustplane.core.config import ModelConfig, load_settings
    from trustplane.core.models import Model, bundled_gguf_path
    from trustplane.provenance._llm import LLMSamples, candidate_samples, evaluate_samples, reference_samples
    from trustplane.provenance._llm_substitutes import perturb_gguf, requantize

    settings = load_settings()
    cache = Path(settings.home) / "provenance" / "llm-substitutes"
    source = bundled_gguf_path()
    files = {
        "int8_q8_0": requantize(source, cache / "smollm2-q8_0.gguf", "q8_0", n_threads=threads),
        "int4_q4_0": requantize(source, cache / "smollm2-q4_0.gguf", "q4_0", n_threads=threads),
        "perturbed_5pct": perturb_gguf(source, cache / "smollm2-perturbed.gguf", fraction=0.05, random_state=0),
    }

    def model(name: str, path: Path | None) -> Model:
        options: dict[str, Any] = {"n_threads": threads}
        if path is not None:
            options["model_path"] = str(path)
        return Model.from_config(ModelConfig(name=name, backend="local", options=options))

    reference = model("smollm2", None)
    n_queries, m, max_tokens = (12, 5, 12) if quick else (32, 8, 16)
    t0 = time.perf_counter()
    ref_text, ref_scores = await reference_samples(
        reference, n_queries=n_queries, samples_per_query=m, max_tokens=max_tokens, random_state=0
    )
    timings = {"reference": time.perf_counter() - t0}
    candidates: dict[str, tuple[Any, float]] = {
        "certified (null)": (reference, 1.0),
        "int8_q8_0": (model("q8", files["int8_q8_0"]), 1.0),
        "int4_q4_0": (model("q4_0", files["int4_q4_0"]), 1.0),
        "perturbed_5pct": (model("perturbed", files["perturbed_5pct"]), 1.0),
        "temperature_1.3": (reference, 1.3),
    }
    sizes = [q for q in (4, 8, 16, 24, 32, 48) if q <= n_queries] or [n_queries]
    reps = 40 if quick else 200
    out: dict[str, Any] = {"n_queries": n_queries, "samples_per_query": m, "max_tokens": max_tokens, "rows": []}
    for label, (cand, temp) in candidates.items():
        t0 = time.perf_counter()
        # The candidate is asked at its own temperature; the reference answers at 1.0 (what was certified).
        text, scores = await candidate_samples(
            reference, _Tempered(cand, temp), n_queries=n_queries, max_tokens=max_tokens, random_state=1
        )
        timings[label] = time.perf_counter() - t0
        samples = LLMSamples([], [q % 16 for q in range(n_queries)], text, scores, ref_text, ref_scores)
        full_mmd, full_rank = evaluate_samples(samples, random_state=0)
        rng = np.random.default_rng(0)
        power = {}
        for q in sizes:
            rej = {"mmd": 0, "rank": 0, "combined": 0}
            for r in range(reps):
                subset = np.sort(rng.choice(n_queries, size=q, replace=False)) if q < n_queries else np.arange(q)
                mmd, rank = evaluate_samples(samples, queries=subset.tolist(), permutations=199, random_state=r)
                rej["mmd"] += mmd.p_value <= 0.05
                rej["rank"] += rank.p_value <= 0.05
                rej["combined"] += min(1.0, 2 * min(mmd.p_value, rank.p_value)) <= 0.05
            power[str(q)] = {k: v / reps for k, v in rej.items()}
        out["rows"].append(
            {
                "candidate": label,
                "mmd_p": full_mmd.p_value,
                "rank_p": full_rank.p_value,
                "mean_rank": full_rank.mean_rank,
                "rejection_rate": power,
            }
        )
        print(f"  llm {label}: MMD p={full_mmd.p_value:.4f} rank p={full_rank.p_value:.4f} power={power}", flush=True)
    out["timings_s"] = timings
    return out


class _Tempered:
    """A model whose chat calls use a fixed temperature (the 'altered temperature' substitute)."""

    def __init__(self, model: Any, temperature: float) -> None:
        self.model = model
        self.temperature = temperature
        self.name = getattr(model, "name", "candidate")
        self.capabilities = model.capabilities

    async def chat(self, messages: Any, **params: Any) -> Any:
        return await self.model.chat(messages, **{**params, "temperature": self.temperature})

    async def score_continuations(self, messages: Any, continuations: Any) -> Any:
        return await self.model.score_continuations(messages, continuations)


def llm(quick: bool, threads: int) -> None:
    result = asyncio.run(_llm(quick, threads))
    largest = str(max(int(k) for k in result["rows"][0]["rejection_rate"]))
    parts = [f"{r['candidate']} {r['rejection_rate'][largest]['combined']:.2f}" for r in result["rows"]]
    summary = f"provenance_llm: rejection rate at {largest} queries (alpha 0.05): " + ", ".join(parts)
    write_result("provenance_llm", {"quick": quick, **result}, summary)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="reduced sizes (minutes)")
    parser.add_argument("--llm", action="store_true", help="also run the LLM substitution tests (SmolLM2)")
    parser.add_argument("--llm-only", action="store_true", help="only the LLM substitution tests")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch / llama.cpp threads (1 is fastest on a shared 2-core box)"
    )
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.llm_only:
        images(args.quick, args.threads)
    if args.llm or args.llm_only:
        llm(args.quick, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
