"""Access classifier cost: the ``minilm`` classifier against the ``keyword`` classifier, same texts, same run.

What the gateway needs to know to run a classifier on every prompt and on growing output prefixes:

- latency of one call with one text (cold: nothing cached): a short prompt, a 256-character output window,
  a 2,000-character answer (read whole and in 64-token windows);
- streaming: an answer growing by 64 characters per call, its whole prefix classified at every step (minilm reuses
  the cached embeddings of the prefix's earlier windows);
- the gateway's hold-back pattern: the last 96 characters of the stream classified every 16 characters;
- throughput: texts per second in batches of 64, over the project's labelled templates (no data directory needed).

The anchor is the transparent ``keyword`` classifier with a taxonomy-sized rule set (30 patterns). Run:
``python bench/bench_access_classifier.py [--quick] [--threads N]``; writes bench/results/access_classifier.json
(with the torch thread count and the machine's load average, since both move the numbers a lot).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from trustplane.access.classifiers import KeywordClassifier, MiniLMClassifier, RiskClassifier
from trustplane.access.classifiers._dataset import template_items

RULES = {
    "biological/grey": ["gain-of-function", "reverse genetics", "select agent", "biosafety level", "BSL-3"],
    "biological/prohibited": ["weaponi[sz]e", "aerosoli[sz]e", "bioweapon"],
    "chemical/grey": ["nerve agent", "LD50", "organophosphate", "schedule 1"],
    "chemical/prohibited": ["synthesi[sz]e (sarin|VX|tabun)", "chemical weapon"],
    "nuclear_radiological/grey": ["enrichment", "criticality", "k-eff", "reprocessing"],
    "nuclear_radiological/prohibited": ["dirty bomb", "implosion lens", "weapons-grade"],
    "cyber_offence/grey": ["privilege escalation", "exploit development", "penetration test"],
    "cyber_offence/prohibited": ["ransomware", "keylogger", "botnet", "DDoS"],
    "conventional_weapons/grey": ["ballistic", "detonation velocity", "NFA"],
    "conventional_weapons/prohibited": ["pipe bomb", "full(y)? auto", "ghost gun"],
}
PARAGRAPH = (
    "Thanks for the question. The library committee met on Tuesday to review the budget for the new reading room, "
    "agreed the schedule for repainting the hall, and asked volunteers to sign up for the summer fair. "
)


def _texts(n: int, length: int, salt: str) -> list[str]:
    """``n`` distinct texts of about ``length`` characters (distinct, so nothing is served from a cache)."""
    out = []
    for i in range(n):
        body = (f"[{salt} {i}] " + PARAGRAPH * (length // len(PARAGRAPH) + 1))[:length]
        out.append(body)
    return out


def _per_call_ms(clf: RiskClassifier, texts: Sequence[str]) -> dict[str, float]:
    times = []
    for t in texts:
        t0 = time.perf_counter()
        clf.classify([t])
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p90_ms": times[int(0.9 * (len(times) - 1))],
        "mean_ms": statistics.fmean(times),
        "calls": len(times),
    }


def _stream_ms(clf: RiskClassifier, answer: str, step: int, reset: Callable[[], None]) -> dict[str, float]:
    reset()
    times = []
    for end in range(step, len(answer) + 1, step):
        t0 = time.perf_counter()
        clf.classify([answer[:end]])
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "mean_ms": statistics.fmean(times),
        "last_ms": times[-1],
        "calls": len(times),
        "answer_chars": len(answer),
        "step_chars": step,
    }


def _sliding_ms(clf: RiskClassifier, answer: str, window: int, step: int) -> dict[str, float]:
    """The gateway's pattern: the last ``window`` characters of the stream, re-classified every ``step``."""
    times = []
    for end in range(window, len(answer) + 1, step):
        t0 = time.perf_counter()
        clf.classify([answer[end - window : end]])
        times.append((time.perf_counter() - t0) * 1000)
    return {"mean_ms": statistics.fmean(times), "p50_ms": statistics.median(times), "calls": len(times)}


def _throughput(clf: RiskClassifier, texts: Sequence[str], batch: int) -> float:
    t0 = time.perf_counter()
    for lo in range(0, len(texts), batch):
        clf.classify(list(texts[lo : lo + batch]))
    return len(texts) / (time.perf_counter() - t0)


def minilm_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer calls, for a smoke run")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, one per core)")
    args = parser.parse_args()
    calls = 20 if args.quick else 100
    load_before = os.getloadavg()[0]

    minilm = MiniLMClassifier(threads=args.threads)
    t0 = time.perf_counter()
    minilm.warm()
    minilm.classify(["warm-up"])
    load_s = time.perf_counter() - t0
    keyword = KeywordClassifier(RULES)
    clear = minilm.encoder.clear_cache

    prompts = [it.text for it in template_items()]
    cases = {
        "prompt": [f"{p} ({i})" for i, p in enumerate(prompts[:calls])],
        "window_256": _texts(calls, 256, "w"),
        "answer_2000": _texts(max(calls // 4, 5), 2000, "a"),
    }
    latency: dict[str, dict[str, Any]] = {}
    for name, texts in cases.items():
        clear()
        latency[name] = {"minilm": _per_call_ms(minilm, texts), "keyword": _per_call_ms(keyword, texts)}
        latency[name]["ratio_p50"] = latency[name]["minilm"]["p50_ms"] / latency[name]["keyword"]["p50_ms"]

    answer = (_texts(1, 2000 if args.quick else 4000, "s")[0] + " ")[: 2000 if args.quick else 4000]
    stream = {
        "minilm": _stream_ms(minilm, answer, 64, clear),
        "keyword": _stream_ms(keyword, answer, 64, lambda: None),
    }
    clear()
    sliding = {
        "window_chars": 96,
        "step_chars": 16,
        "minilm": _sliding_ms(minilm, answer, 96, 16),
        "keyword": _sliding_ms(keyword, answer, 96, 16),
    }
    throughput_texts = [f"{p} #{k}" for k in range(1 if args.quick else 2) for p in prompts]
    clear()
    throughput = {
        "batch": 64,
        "texts": len(throughput_texts),
        "minilm_per_s": _throughput(minilm, throughput_texts, 64),
        "keyword_per_s": _throughput(keyword, throughput_texts, 64),
    }
    p50 = latency["prompt"]["minilm"]["p50_ms"]
    torch_threads = minilm_threads()
    summary = (
        f"access_classifier: minilm {p50:.1f} ms/prompt (p50, batch 1) vs keyword "
        f"{latency['prompt']['keyword']['p50_ms'] * 1000:.0f} µs ({latency['prompt']['ratio_p50']:.0f}x); "
        f"streaming {stream['minilm']['mean_ms']:.1f} ms per 64-char step on a {len(answer)}-char answer, "
        f"{sliding['minilm']['p50_ms']:.1f} ms per 96-char hold-back window; "
        f"{throughput['minilm_per_s']:.0f} vs {throughput['keyword_per_s']:.0f} texts/s in batches of 64"
        f" ({torch_threads} torch threads)"
    )
    write_result(
        "access_classifier",
        {
            "quick": args.quick,
            "load_s": load_s,
            "latency": latency,
            "stream": stream,
            "sliding_window": sliding,
            "throughput": throughput,
            "keyword_rules": sum(len(v) for v in RULES.values()),
            "torch_threads": torch_threads,
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        },
        summary,
    )


if __name__ == "__main__":
    main()
