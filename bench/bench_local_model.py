"""Local-model benchmark: trustplane's ``local`` backend vs the naive transformers baseline, same model.

Both sides run the bundled SmolLM2-135M-Instruct GGUF on the same chat prompt (same chat template),
greedy, for the same number of new tokens, in one process:
- trustplane: ``get_model(...).stream(...)`` through the full Model wrapper (llama.cpp, ``n_threads`` 2);
- transformers: ``AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)`` + ``generate``
  (weights dequantised to float32, torch's default threads).

Decode speed is tokens after the first divided by the time from the first to the last token, so prompt
processing is left out on both sides; end-to-end speed (prompt included) is recorded too. Medians over
the measured runs, after one warm-up run each. When transformers (``pip install 'trustplane[ml]'``) is
not importable the baseline is recorded as skipped with the reason.

Run: ``python bench/bench_local_model.py [--quick]``; writes bench/results/local_model.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from trustplane.core.config import ModelConfig, Settings
from trustplane.core.models import bundled_gguf_path, get_model

PROMPT = "Write a long essay about the history of the sea and the ships that sailed it."
N_THREADS = 2


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _rates(stamps: list[float], start: float) -> dict[str, float]:
    """Decode rate (first to last token), end-to-end rate and time to first token, from token timestamps."""
    n = len(stamps)
    decode = (n - 1) / (stamps[-1] - stamps[0]) if n > 1 and stamps[-1] > stamps[0] else float("nan")
    return {
        "tokens": n,
        "decode_tok_s": decode,
        "e2e_tok_s": n / (stamps[-1] - start),
        "ttft_s": stamps[0] - start,
    }


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("decode_tok_s", "e2e_tok_s", "ttft_s")
    medians = {k: round(statistics.median(r[k] for r in runs), 2) for k in keys}
    return {**medians, "best_decode_tok_s": round(max(r["decode_tok_s"] for r in runs), 2), "runs": runs}


def _load() -> list[float] | None:
    """1/5/15-minute load averages: other work on the machine slows both sides (llama.cpp the most)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# --- trustplane -----------------------------------------------------------------------------------------
def bench_trustplane(new_tokens: int, repeats: int) -> dict[str, Any]:
    settings = Settings(
        models=[ModelConfig(name="smollm2", backend="local", options={"n_threads": N_THREADS})],
        default_model="smollm2",
    )

    async def run() -> dict[str, Any]:
        model = get_model(settings)
        t0 = time.perf_counter()
        await model.warm()
        load_s = time.perf_counter() - t0

        async def once(tokens: int) -> tuple[dict[str, Any], str]:
            stamps: list[float] = []
            text: list[str] = []
            completion = 0
            start = time.perf_counter()
            async for chunk in model.stream(PROMPT, temperature=0, max_tokens=tokens):
                if chunk.delta:
                    stamps.append(time.perf_counter())
                    text.append(chunk.delta)
                if chunk.usage is not None:
                    completion = chunk.usage.completion_tokens
            rates = _rates(stamps, start)
            # chunks are tokens except where a multi-byte character spans two: count tokens, time by chunks
            rates["tokens"] = completion
            rates["decode_tok_s"] *= (completion - 1) / max(len(stamps) - 1, 1)
            rates["e2e_tok_s"] = completion / (stamps[-1] - start)
            return rates, "".join(text)

        await once(8)  # warm-up
        runs, text = [], ""
        for _ in range(repeats):
            rates, text = await once(new_tokens)
            runs.append({k: round(v, 4) if isinstance(v, float) else v for k, v in rates.items()})
        return {"load_s": round(load_s, 3), "n_threads": N_THREADS, **_summarise(runs), "text": text}

    return asyncio.run(run())


# --- transformers baseline ------------------------------------------------------------------------------
def bench_transformers(new_tokens: int, repeats: int) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder: nothing to download, and nothing may be
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.generation.streamers import BaseStreamer
    except ImportError as exc:
        return {"skipped": True, "reason": f"transformers/torch not importable ({exc}); pip install 'trustplane[ml]'"}

    gguf = bundled_gguf_path()
    t0 = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (ImportError, ValueError) as exc:  # e.g. gguf or accelerate is missing
        return {"skipped": True, "reason": f"transformers cannot load the GGUF ({exc})"}
    model.eval()
    load_s = time.perf_counter() - t0
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )

    class Stamps(BaseStreamer):  # type: ignore[misc]
        """Records when each new token arrives (the first put() is the prompt)."""

        def __init__(self) -> None:
            self.stamps: list[float] = []
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:
                self.prompt_seen = True
                return
            self.stamps.extend([time.perf_counter()] * int(value.numel()))

        def end(self) -> None:
            pass

    def once(tokens: int) -> tuple[dict[str, Any], str]:
        streamer = Stamps()
        start = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=tokens,
                min_new_tokens=tokens,
                do_sample=False,
                streamer=streamer,
                pad_token_id=tokenizer.eos_token_id,
            )
        text = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return _rates(streamer.stamps, start), text

    once(4)  # warm-up
    runs, text = [], ""
    for _ in range(repeats):
        rates, text = once(new_tokens)
        runs.append({k: round(v, 4) if isinstance(v, float) else v for k, v in rates.items()})
    return {
        "load_s": round(load_s, 3),
        "torch_threads": torch.get_num_threads(),
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
        **_summarise(runs),
        "text": text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 new tokens, one measured run per side")
    parser.add_argument("--tokens", type=int, default=None, help="new tokens per run (default 64; quick: 16)")
    parser.add_argument("--repeats", type=int, default=None, help="measured runs per side (default 3; quick: 1)")
    args = parser.parse_args()
    new_tokens = args.tokens or (16 if args.quick else 64)
    repeats = args.repeats or (1 if args.quick else 3)

    load_before = _load()
    ours = bench_trustplane(new_tokens, repeats)
    base = bench_transformers(new_tokens, repeats)

    result: dict[str, Any] = {
        "model": bundled_gguf_path().name,
        "prompt": PROMPT,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "decoding": "greedy",
        "trustplane": ours,
        "transformers": base,
        "loadavg": {"before": load_before, "after": _load()},
        "versions": {
            dist: _version(dist)
            for dist in ("trustplane", "llama-cpp-python", "torch", "transformers", "gguf", "numpy")
        },
    }
    if base.get("skipped"):
        summary = (
            f"local_model: {new_tokens} tokens, trustplane {ours['decode_tok_s']:.1f} tok/s "
            f"vs transformers skipped ({base['reason']})"
        )
    else:
        speedup = ours["decode_tok_s"] / base["decode_tok_s"]
        result["speedup_decode"] = round(speedup, 2)
        result["speedup_e2e"] = round(ours["e2e_tok_s"] / base["e2e_tok_s"], 2)
        # same weights, same template, greedy: the texts should agree at least at the start
        a, b = ours["text"], base["text"]
        common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        result["same_text"] = a == b
        result["common_prefix_chars"] = common
        summary = (
            f"local_model: {new_tokens} tokens, trustplane {ours['decode_tok_s']:.1f} tok/s "
            f"vs transformers {base['decode_tok_s']:.1f} tok/s ({speedup:.1f}x)"
        )
    write_result("local_model", result, summary)


if __name__ == "__main__":
    main()
