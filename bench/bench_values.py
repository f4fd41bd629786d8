"""Values benchmark: the full MFQ-30 on the bundled SmolLM2, every trustplane method against the naive approach.

Same model, same process, same prompts (byte-identical, built by ``trustplane.values.build_messages``):

- naive, as the published audit code does it: one generation per item per sample (``k`` chat calls at
  temperature 1, each parsed by grabbing the first digit), and the first-token expectation over the
  top-20 next-token log-probabilities restricted to digit tokens;
- trustplane: one run with the four methods (``expected``: every option label scored as a continuation,
  one prompt evaluation per item; ``likelihood``; ``greedy``; ``samples`` with the same ``k``), stored,
  logged and reported (the report goes to bench/results/values-report/).

Timed per method through a wrapper that attributes each model call to the method that made it (the pre-run
checks, one label scoring per scale and two greedy replies, count toward expected and greedy); the wrapper
runs the naive procedure on each item just before trustplane's methods ask it, so both see the same load.
The summary line gives the time to an item's expected rating: trustplane's exact expectation against the naive
``k``-sample mean, and how far the naive estimates land from the exact expectation.

Run: ``python bench/bench_values.py [--quick] [--samples K] [--max-tokens N] [--items N]``;
writes bench/results/values.json.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result
from trustplane.core.config import Settings
from trustplane.core.models import get_model
from trustplane.values import AuditConfig, administer, build_messages, load_instrument, plan, write_run_report

ROOT = Path(__file__).resolve().parents[1]
FIRST_DIGIT = re.compile(r"\d")


class Timed:
    """A model wrapper that adds each call's time to the method that made it (read from the call's shape).

    The first time it sees an item's prompt it runs the naive procedure on that prompt first, so naive and
    trustplane work alternate item by item and drifting machine load touches both alike.
    """

    def __init__(self, model: Any, labels: set[str], k: int, max_tokens: int) -> None:
        self.model = model
        self.labels = labels
        self.k = k
        self.max_tokens = max_tokens
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.generated: dict[str, int] = defaultdict(int)  # tokens decoded or scored after the prompt
        self.prompts: dict[str, int] = defaultdict(int)  # prompt evaluations
        self.prompt_tokens: dict[str, int] = {}
        self.naive: dict[str, dict[str, Any]] = {}

    async def _naive_first(self, messages: Any) -> None:
        prompt = messages[-1]["content"]
        if prompt not in self.naive:
            self.naive[prompt] = await naive_item(self.model, messages, self.k, self.max_tokens)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def _add(self, method: str, start: float) -> None:
        self.seconds[method] += time.perf_counter() - start
        self.calls[method] += 1

    async def chat(self, request: Any, **params: Any) -> Any:
        await self._naive_first(request)
        start = time.perf_counter()
        method = "greedy" if params.get("temperature") == 0 else "samples"
        try:
            reply = await self.model.chat(request, **params)
        finally:
            self._add(method, start)
        self.prompts[method] += 1
        self.generated[method] += reply.usage.completion_tokens
        self.prompt_tokens[request[-1]["content"]] = reply.usage.prompt_tokens
        return reply

    async def score_continuations(self, messages: Any, continuations: Any) -> Any:
        await self._naive_first(messages)
        start = time.perf_counter()
        method = "expected" if continuations[0] in self.labels else "likelihood"
        try:
            scored = await self.model.score_continuations(messages, continuations)
        finally:
            self._add(method, start)
        self.prompts[method] += 1
        self.generated[method] += sum(len(c.tokens) for c in scored)
        return scored

    async def tokenize(self, text: str) -> list[int]:
        return list(await self.model.tokenize(text))


async def naive_item(model: Any, messages: Any, k: int, max_tokens: int) -> dict[str, Any]:
    """The published approach on one item: k separate generations (first digit of each), and the expectation
    over the digit tokens among the top-20 first-token log-probabilities."""
    start = time.perf_counter()
    values = []
    generated = 0
    for j in range(k):
        reply = await model.chat(messages, temperature=1.0, max_tokens=max_tokens, seed=j)
        generated += reply.usage.completion_tokens
        m = FIRST_DIGIT.search(reply.content)
        if m:
            values.append(int(m.group()))
    t_samples = time.perf_counter() - start
    start = time.perf_counter()
    top = await model.next_token_logprobs(messages, top_k=20)
    t_topk = time.perf_counter() - start
    digits = {t.token.strip(): t.prob for t in top if t.token.strip() in {"0", "1", "2", "3", "4", "5"}}
    mass = sum(digits.values())
    return {
        "samples_seconds": t_samples,
        "topk_seconds": t_topk,
        "sampled_mean": statistics.fmean(values) if values else None,
        "first_token_expectation": sum(int(d) * p for d, p in digits.items()) / mass if mass > 0 else None,
        "top20_digit_mass": mass,
        "generated": generated,
    }


def _expectation(probs: dict[str, float]) -> float | None:
    mass = sum(probs.values())
    return sum(int(k) * p for k, p in probs.items()) / mass if mass > 0 else None


def _gap(a: dict[str, float | None], b: dict[str, float | None]) -> dict[str, Any]:
    pairs = [(a[k], b[k]) for k in a if a.get(k) is not None and b.get(k) is not None]
    if not pairs:
        return {"items": 0, "mean_abs_diff": None}
    return {"items": len(pairs), "mean_abs_diff": statistics.fmean(abs(x - y) for x, y in pairs)}  # type: ignore[operator]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(args.data_dir) if args.data_dir else (ROOT.parent / "shared" / "data")
    home = Path(tempfile.mkdtemp(prefix="values-bench-"))
    settings = Settings(home=home, data_dir=data_dir.resolve())
    instrument = load_instrument(settings, "mfq30")
    items = [i.id for i in instrument.items][: args.items] if args.items else None
    config = AuditConfig(samples=args.samples, max_tokens=args.max_tokens, items=items, seed=0)
    model = get_model(settings, "smollm2")
    await model.warm()
    tasks = [t for t in plan(instrument, config) if t.method == "expected"]
    prompts = [(t.item.id, build_messages(instrument, t.item, t.condition, t.position, t.total)) for t in tasks]

    timed = Timed(model, {str(v) for v in range(6)}, args.samples, args.max_tokens)
    t0 = time.perf_counter()
    run = await administer(settings, timed, instrument, config)  # type: ignore[arg-type]
    wall = time.perf_counter() - t0
    files = write_run_report(run.document, RESULTS / "values-report")
    by_prompt = [timed.naive[m[-1]["content"]] for _, m in prompts]
    base = {
        "samples_seconds": sum(b["samples_seconds"] for b in by_prompt),
        "topk_seconds": sum(b["topk_seconds"] for b in by_prompt),
        "sampled_mean": {item: b["sampled_mean"] for (item, _), b in zip(prompts, by_prompt, strict=True)},
        "first_token_expectation": {
            item: b["first_token_expectation"] for (item, _), b in zip(prompts, by_prompt, strict=True)
        },
    }
    naive_seconds = base["samples_seconds"] + base["topk_seconds"]
    ours_seconds = sum(timed.seconds.values())
    # load-independent cost: tokens the model evaluates (prompt tokens of every call, plus tokens decoded or scored)
    prompt_len = statistics.fmean(timed.prompt_tokens.values())
    ours_tokens = {m: timed.prompts[m] * prompt_len + timed.generated[m] for m in timed.prompts}
    naive_tokens = len(prompts) * (args.samples + 1) * prompt_len + sum(b["generated"] for b in by_prompt)

    responses = run.responses()
    # the exact expectation over the label distribution, whatever the item's status (SmolLM2 keeps little mass
    # on bare labels, so most items fall below min_mass and are not "answered"; the expectation still exists)
    expected = {r.item: _expectation(r.detail["probs"]) for r in responses if r.method == "expected"}
    masses = [r.retained_mass for r in responses if r.method == "expected" and r.retained_mass is not None]
    samples = {r.item: r.value for r in responses if r.method == "samples"}
    n = len(prompts)
    per_item = {m: timed.seconds[m] / n for m in ("expected", "likelihood", "greedy", "samples")}
    naive_per_item = base["samples_seconds"] / n
    speedup = naive_per_item / per_item["expected"] if per_item["expected"] > 0 else math.nan
    naive_sample_tokens = len(prompts) * args.samples * prompt_len + sum(b["generated"] for b in by_prompt)
    token_ratio = naive_sample_tokens / ours_tokens["expected"]
    statuses = {m: b["status_counts"] for m, b in run.summary["methods"].items()}
    return {
        "wall_seconds": wall,
        "instrument": "mfq30",
        "model": "smollm2 (SmolLM2-135M-Instruct Q4_1, llama.cpp, 2 threads)",
        "items": n,
        "samples": args.samples,
        "max_tokens": args.max_tokens,
        "quick": args.quick,
        "naive": {
            "seconds_total": naive_seconds,
            "samples_seconds": base["samples_seconds"],
            "topk_first_token_seconds": base["topk_seconds"],
            "seconds_per_item_k_samples": naive_per_item,
            "seconds_per_item_top20_first_token": base["topk_seconds"] / n,
            "tokens_evaluated": naive_tokens,
            "tokens_evaluated_k_samples": naive_sample_tokens,
            "mean_top20_digit_mass": statistics.fmean(b["top20_digit_mass"] for b in by_prompt),
        },
        "trustplane": {
            "seconds_total": ours_seconds,
            "seconds_per_item": per_item,
            "mean_label_mass_full_vocabulary": statistics.fmean(masses) if masses else None,
            "calls": dict(timed.calls),
            "tokens_evaluated": ours_tokens,
            "mean_prompt_tokens": prompt_len,
            "statuses": statuses,
            "warnings": run.document["warnings"],
            "run_id": run.run_id,
            "result_sha256": run.result_sha256,
            "report": files.as_json(),
        },
        "speedup_expected_vs_naive_k_samples": speedup,
        "token_ratio_naive_k_samples_vs_expected": token_ratio,
        "agreement": {
            "naive_k_sample_mean_vs_exact_expectation": _gap(base["sampled_mean"], expected),
            "naive_first_token_topk_vs_exact_expectation": _gap(base["first_token_expectation"], expected),
            "trustplane_samples_vs_exact_expectation": _gap(samples, expected),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="8 items, 3 samples, 16 tokens")
    parser.add_argument("--samples", type=int, default=10, help="samples per item (the published audit used 10)")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per generated reply, both sides")
    parser.add_argument("--items", type=int, default=None, help="only the first N items (default: all 32)")
    parser.add_argument("--data-dir", default=None, help="data directory (default: ../shared/data)")
    args = parser.parse_args()
    if args.quick:
        args.items, args.samples, args.max_tokens = args.items or 8, 3, 16
    result = asyncio.run(main_async(args))
    ours = result["trustplane"]["seconds_per_item"]
    gap = result["agreement"]["naive_k_sample_mean_vs_exact_expectation"]["mean_abs_diff"]
    summary = (
        f"values: MFQ-30 ({result['items']} items) on SmolLM2: expected-label rating "
        f"{ours['expected']:.2f} s/item vs naive {result['samples']} generations "
        f"{result['naive']['seconds_per_item_k_samples']:.2f} s/item ({result['speedup_expected_vs_naive_k_samples']:.1f}x "
        f"wall, {result['token_ratio_naive_k_samples_vs_expected']:.1f}x fewer tokens evaluated); "
        f"full 4-method run {result['trustplane']['seconds_total']:.0f} s vs naive {result['naive']['seconds_total']:.0f} s; "
        f"naive sample mean off the exact expectation by {gap if gap is None else round(gap, 2)} on average"
    )
    write_result("values", result, summary)


if __name__ == "__main__":
    main()
