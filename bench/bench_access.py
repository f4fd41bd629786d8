"""Access gateway overhead: trustplane's ``/v1`` gateway vs the LiteLLM proxy, same mock upstream, same run.

A minimal OpenAI-compatible upstream runs on loopback (a bare ASGI app under uvicorn, one fixed
answer). In front of it, as separate processes, each with one worker and access logs off:

- ``trustplane``: the gateway with API-key auth, rate limit and budget, Cedar policy and an
  ``access.decision`` appended to the SQLite transparency log per request, classifier off (``none``);
- ``trustplane+keyword`` and ``trustplane+minilm`` (when it loads): the same with a classifier on the
  prompt and the output;
- ``passthrough``: a bare FastAPI + httpx forwarder, the cost of proxying in Python at all;
- ``litellm``: the LiteLLM proxy (from PyPI) with a master key. Installing ``litellm[proxy]`` into the
  project's environment would downgrade packages the project uses (rich, python-dateutil), so this
  script builds a separate virtual environment for it under ``bench/.cache/litellm-venv`` on first use.

Measured, interleaved round by round so all targets see the same machine load: latency of sequential
requests on a kept-alive connection, direct to the upstream and through each gateway (added p50/p99 =
gateway minus direct); then the maximum throughput of each target with concurrent clients; and, without
HTTP, the gateway's own decision path per request (the policy-plus-log path) in process.

Run: ``python bench/bench_access.py [--quick]``; writes ``bench/results/access.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
LITELLM_VENV = CACHE / "litellm-venv"
ANSWER = "The weather is mild today, with light winds from the west and a few clouds."
PROMPT = [{"role": "user", "content": "What is the weather like?"}]
_serial = iter(range(10**9))


def prompt() -> list[dict[str, str]]:
    """A fresh prompt each time (a serial number), so no cache answers for a repeated text."""
    return [{"role": "user", "content": f"What is the weather like? (request {next(_serial)})"}]


ADMIN = "bench-admin"
LITELLM_KEY = "sk-bench-master"

MOCK = """
import json, sys, uvicorn
ANSWER = sys.argv[2]
COUNT = [0]
def body():
    COUNT[0] += 1
    return json.dumps({"id": "chatcmpl-mock", "object": "chat.completion", "created": 0, "model": "mock",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": f"{ANSWER} (#{COUNT[0]})"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 6, "completion_tokens": 15, "total_tokens": 21}}).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": "mock", "object": "model", "created": 0, "owned_by": "x"}]}).encode()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if not message.get("more_body"):
            break
    payload = MODELS if scope["path"].endswith("/models") else body()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

PASSTHROUGH = """
import httpx, uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
app = FastAPI()
client = None
@app.post("/v1/chat/completions")
async def forward(request: Request) -> Response:
    global client
    if client is None:
        client = httpx.AsyncClient(timeout=60)
    upstream = await client.post("{upstream}/chat/completions", content=await request.body(),
                                 headers={{"content-type": "application/json"}})
    return Response(upstream.content, status_code=upstream.status_code, media_type="application/json")
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""

TRUSTPLANE = """
import uvicorn
from trustplane.server import create_app
uvicorn.run(create_app(), host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    name: str
    url: str
    key: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    latencies: list[float] = field(default_factory=list)
    rps: float | None = None
    errors: int = 0
    note: str = ""


def wait_ready(target: Target, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.process is not None and target.process.poll() is not None:
            raise RuntimeError(f"{target.name} exited: {target.log.read_text()[-3000:] if target.log else ''}")
        try:
            r = httpx.post(
                target.url + "/chat/completions",
                json={"model": "mock", "messages": PROMPT},
                headers={"authorization": f"Bearer {target.key}"},
                timeout=120,
            )
            if r.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{target.name} did not become ready: {target.log.read_text()[-3000:] if target.log else ''}")


def start(cmd: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def start_trustplane(name: str, classifier: str, upstream: str, work: Path) -> Target:
    home = work / name
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTPLANE_")}
    env.update(
        {
            "TRUSTPLANE_HOME": str(home),
            "TRUSTPLANE_MODELS": json.dumps(
                [
                    {
                        "name": "mock",
                        "backend": "openai",
                        "options": {"base_url": upstream, "api_key": "x", "max_retries": 0, "logprobs": False},
                    }
                ]
            ),
            "TRUSTPLANE_DEFAULT_MODEL": "mock",
            "TRUSTPLANE_ACCESS_CLASSIFIER": classifier,
            "TRUSTPLANE_ADMIN_TOKEN": ADMIN,
            "TRUSTPLANE_ACCESS_RATE_LIMITS": json.dumps(
                {"default": "100000000/minute", "verified": "100000000/minute"}
            ),
            "TRUSTPLANE_ACCESS_TOKEN_BUDGETS": json.dumps({"default": "1000000000/day", "verified": "1000000000/day"}),
        }
    )
    if classifier not in ("none", "keyword"):
        env["TRUSTPLANE_ACCESS_CHECK_CHARS"] = "64"
    log = work / f"{name}.log"
    process = start([sys.executable, "-c", TRUSTPLANE.format(port=port)], env, log, work)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            created = httpx.post(
                url + "/access/keys", json={"name": "bench"}, headers={"authorization": f"Bearer {ADMIN}"}, timeout=10
            )
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {log.read_text()[-3000:]}") from None
            time.sleep(0.3)
    created.raise_for_status()
    return Target(name, url + "/v1", created.json()["api_key"], process, log)


def start_passthrough(upstream: str, work: Path) -> Target:
    port = free_port()
    code = PASSTHROUGH.format(upstream=upstream, port=port)
    process = start([sys.executable, "-c", code], dict(os.environ), work / "passthrough.log", work)
    return Target("passthrough", f"http://127.0.0.1:{port}/v1", "x", process, work / "passthrough.log")


def in_process_path(work: Path, classifier: str, n: int) -> dict[str, float]:
    """The gateway's own decision path per request, without HTTP: authenticate the key, rate limit and budget,
    classify, decide (Cedar), call a scripted upstream, filter, append ``access.decision`` to the log."""
    from trustplane.access import Gateway
    from trustplane.access._wire import parse_body
    from trustplane.core.config import ModelConfig, load_settings
    from trustplane.core.log import TransparencyLog
    from trustplane.core.store import get_store

    settings = load_settings(
        home=work / f"in-process-{classifier}",
        models=[ModelConfig(name="mock", backend="scripted", options={"replies": [ANSWER]})],
        default_model="mock",
        access_classifier=classifier,
        access_rate_limits={"default": "100000000/minute", "verified": "100000000/minute"},
        access_token_budgets={"default": "1000000000/day", "verified": "1000000000/day"},
    )
    store = get_store(settings)
    store.upgrade()
    log = TransparencyLog(store, settings)
    log.ensure_initialised()
    gateway = Gateway(settings, store, log)
    token = gateway.keys.create("bench").token
    raws = iter(json.dumps({"model": "mock", "messages": prompt()}).encode() for _ in range(10**9))
    parts: dict[str, list[float]] = {"total": [], "append": [], "upstream": []}
    append = gateway._append_sync

    def timed_append(*args: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return append(*args)
        finally:
            parts["append"].append((time.perf_counter() - t0) * 1000)

    gateway._append_sync = timed_append  # type: ignore[method-assign]
    model_chat = None

    async def one() -> None:
        nonlocal model_chat
        t0 = time.perf_counter()
        principal = await gateway.authenticate(f"Bearer {token}")
        admission = await gateway.admit(principal, parse_body(next(raws), max_bytes=1_000_000))
        if model_chat is None:
            model_chat = admission.model.chat

            async def timed_chat(*args: Any, **kwargs: Any) -> Any:
                t1 = time.perf_counter()
                try:
                    return await model_chat(*args, **kwargs)  # type: ignore[misc]
                finally:
                    parts["upstream"].append((time.perf_counter() - t1) * 1000)

            admission.model.chat = timed_chat  # type: ignore[method-assign]
        await gateway.complete(admission)
        parts["total"].append((time.perf_counter() - t0) * 1000)

    async def run() -> None:
        for _ in range(50):
            await one()
        for values in parts.values():
            values.clear()
        for _ in range(n):
            await one()

    asyncio.run(run())
    total, upstream = pct(parts["total"], 50), pct(parts["upstream"], 50)
    return {
        "requests": n,
        "p50_ms": round(total - upstream, 3),
        "p99_ms": round(pct(parts["total"], 99) - upstream, 3),
        "log_append_p50_ms": round(pct(parts["append"], 50), 3),
        "without_log_p50_ms": round(total - upstream - pct(parts["append"], 50), 3),
    }


def litellm_binary(install: bool) -> Path | None:
    binary = LITELLM_VENV / "bin" / "litellm"
    if binary.exists():
        return binary
    if not install:
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    print(f"creating {LITELLM_VENV} and installing litellm[proxy] (once)", flush=True)
    subprocess.run([base, "-m", "venv", str(LITELLM_VENV)], check=True)
    subprocess.run([str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "litellm[proxy]"], check=True)
    return binary


def start_litellm(binary: Path, upstream: str, work: Path) -> Target:
    port = free_port()
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: mock\n"
        "    litellm_params:\n"
        "      model: openai/mock\n"
        f"      api_base: {upstream}\n"
        "      api_key: x\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
        "litellm_settings:\n"
        "  set_verbose: false\n"
        "  json_logs: false\n"
    )
    env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION", "DISABLE_SCHEMA_UPDATE": "true"}
    log = work / "litellm.log"
    process = start([str(binary), "--config", str(config), "--port", str(port), "--num_workers", "1"], env, log, work)
    return Target("litellm", f"http://127.0.0.1:{port}/v1", LITELLM_KEY, process, log)


def version_of(binary: Path) -> str:
    python = binary.parent / "python"
    out = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


# --- measuring -------------------------------------------------------------------------------------------
def measure_latency(targets: list[Target], rounds: int, warmup: int) -> None:
    clients = {t.name: httpx.Client(timeout=60, headers={"authorization": f"Bearer {t.key}"}) for t in targets}
    try:
        for n in range(warmup + rounds):
            order = targets if n % 2 == 0 else list(reversed(targets))
            for t in order:
                t0 = time.perf_counter()
                r = clients[t.name].post(t.url + "/chat/completions", json={"model": "mock", "messages": prompt()})
                elapsed = time.perf_counter() - t0
                if r.status_code != 200:
                    t.errors += 1
                    continue
                if n >= warmup:
                    t.latencies.append(elapsed * 1000)
    finally:
        for c in clients.values():
            c.close()


async def _throughput(target: Target, concurrency: int, seconds: float) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    done = 0
    async with httpx.AsyncClient(
        timeout=60, limits=limits, headers={"authorization": f"Bearer {target.key}"}
    ) as client:
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < end:
                r = await client.post(target.url + "/chat/completions", json={"model": "mock", "messages": prompt()})
                if r.status_code == 200:
                    done += 1
                else:
                    target.errors += 1

        start_t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start_t)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer requests (a smoke run).")
    parser.add_argument("--rounds", type=int, default=None, help="Sequential requests per target.")
    parser.add_argument("--concurrency", type=int, default=16, help="Concurrent clients for max throughput.")
    parser.add_argument("--seconds", type=float, default=None, help="Seconds of load per target for throughput.")
    parser.add_argument("--no-litellm", action="store_true", help="Skip LiteLLM (no install).")
    parser.add_argument("--no-minilm", action="store_true", help="Skip the MiniLM classifier configuration.")
    args = parser.parse_args()
    rounds = args.rounds or (60 if args.quick else 600)
    warmup = 10 if args.quick else 50
    seconds = args.seconds or (3.0 if args.quick else 10.0)

    work = Path(tempfile.mkdtemp(prefix="bench-access-"))
    targets: list[Target] = []
    notes: dict[str, str] = {}
    with ExitStack() as stack:
        mock_port = free_port()
        mock = start([sys.executable, "-c", MOCK, str(mock_port), ANSWER], dict(os.environ), work / "mock.log", work)
        stack.callback(stop, mock)
        upstream = f"http://127.0.0.1:{mock_port}/v1"
        direct = Target("direct", upstream, "x", mock, work / "mock.log")
        wait_ready(direct)
        targets.append(direct)

        passthrough = start_passthrough(upstream, work)
        stack.callback(stop, passthrough.process)
        wait_ready(passthrough)
        targets.append(passthrough)

        configs = [("trustplane", "none"), ("trustplane+keyword", "keyword")]
        if not args.no_minilm:
            configs.append(("trustplane+minilm", "minilm"))
        for name, classifier in configs:
            target = start_trustplane(name, classifier, upstream, work)
            stack.callback(stop, target.process)
            try:
                wait_ready(target, timeout=600)
            except RuntimeError as exc:
                notes[name] = f"not measured: {str(exc)[-400:]}"
                stop(target.process)
                continue
            targets.append(target)

        litellm_version = None
        if not args.no_litellm:
            binary = litellm_binary(install=True)
            if binary is not None:
                litellm_version = version_of(binary)
                target = start_litellm(binary, upstream, work)
                stack.callback(stop, target.process)
                wait_ready(target, timeout=300)
                targets.append(target)

        fast = [t for t in targets if t.name != "trustplane+minilm"]
        slow = [t for t in targets if t.name == "trustplane+minilm"]
        print(f"latency: {rounds} sequential requests per target, interleaved", flush=True)
        measure_latency(fast, rounds, warmup)
        if slow:
            measure_latency([direct, *slow], max(20, rounds // 10), 5)
        print(f"throughput: {args.concurrency} concurrent clients, {seconds:g} s per target", flush=True)
        for t in targets:
            t.rps = asyncio.run(_throughput(t, args.concurrency, seconds if t not in slow else min(seconds, 5.0)))
            print(f"  {t.name}: {t.rps:.0f} req/s", flush=True)

    print("in-process decision path (no HTTP)", flush=True)
    in_process = {c: in_process_path(work, c, rounds) for c in ("none", "keyword")}
    shutil.rmtree(work, ignore_errors=True)
    base = {q: pct(direct.latencies, q) for q in (50, 99)}
    rows: dict[str, Any] = {}
    for t in targets:
        if not t.latencies:
            continue
        p50, p99 = pct(t.latencies, 50), pct(t.latencies, 99)
        rows[t.name] = {
            "requests": len(t.latencies),
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
            "mean_ms": round(statistics.fmean(t.latencies), 3),
            "added_p50_ms": round(p50 - base[50], 3) if t is not direct else 0.0,
            "added_p99_ms": round(p99 - base[99], 3) if t is not direct else 0.0,
            "max_rps": round(t.rps or 0.0, 1),
            "errors": t.errors,
        }
    ratios: dict[str, float] = {}
    if "passthrough" in rows and "trustplane" in rows:
        rows["trustplane"]["over_passthrough_p50_ms"] = round(
            rows["trustplane"]["p50_ms"] - rows["passthrough"]["p50_ms"], 3
        )
    if "litellm" in rows and "trustplane" in rows:
        tp, ll = rows["trustplane"], rows["litellm"]
        if tp["added_p50_ms"] > 0:
            ratios["litellm_over_trustplane_added_p50"] = round(ll["added_p50_ms"] / tp["added_p50_ms"], 2)
        if tp["added_p99_ms"] > 0:
            ratios["litellm_over_trustplane_added_p99"] = round(ll["added_p99_ms"] / tp["added_p99_ms"], 2)
        if ll["max_rps"] > 0:
            ratios["trustplane_over_litellm_rps"] = round(tp["max_rps"] / ll["max_rps"], 2)
    for name in ("trustplane+keyword", "trustplane+minilm"):
        if name in rows and "trustplane" in rows:
            rows[name]["classifier_cost_p50_ms"] = round(rows[name]["p50_ms"] - rows["trustplane"]["p50_ms"], 3)
    summary = "access: " + "; ".join(
        f"{name} +{r['added_p50_ms']:.2f} ms p50 / +{r['added_p99_ms']:.2f} ms p99, {r['max_rps']:.0f} req/s"
        for name, r in rows.items()
        if name != "direct"
    )
    summary += f" | in-process policy+log path {in_process['none']['p50_ms']:.2f} ms p50"
    if ratios:
        summary += (
            f" | LiteLLM adds {ratios.get('litellm_over_trustplane_added_p50', float('nan')):.1f}x trustplane's p50 "
            f"overhead; trustplane serves {ratios.get('trustplane_over_litellm_rps', float('nan')):.2f}x LiteLLM's req/s"
        )
    write_result(
        "access",
        {
            "config": {
                "rounds": rounds,
                "warmup": warmup,
                "concurrency": args.concurrency,
                "throughput_seconds": seconds,
                "answer_chars": len(ANSWER),
                "litellm_version": litellm_version,
                "trustplane_log": "SQLite (WAL), one access.decision entry and signed tree head per request",
                "load_average": os.getloadavg(),
            },
            "targets": rows,
            "in_process_decision_path": in_process,
            "ratios": ratios,
            "notes": notes,
        },
        summary,
    )


if __name__ == "__main__":
    main()
