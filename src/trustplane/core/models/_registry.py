"""Backends by name: a decorator for built-in and in-process backends, entry points for third parties."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import re
import threading
from collections.abc import Callable
from typing import TypeVar

from trustplane.core.errors import ConfigError

from ._backend import ModelBackend

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "trustplane.backends"
"""Entry-point group third-party packages use: ``name = "package.module:BackendClass"``."""

_BUILTIN_MODULES = ("._scripted", "._openai", "._local")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_.\-]*$")

BackendT = TypeVar("BackendT", bound=type[ModelBackend])

_lock = threading.RLock()
_backends: dict[str, type[ModelBackend]] = {}
_builtins_loaded = False
_entry_points_loaded = False
_entry_point_errors: dict[str, str] = {}


def _where(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_backend(name: str) -> Callable[[BackendT], BackendT]:
    """Class decorator that registers a :class:`ModelBackend` subclass under ``name``.

    Example::

        @register_backend("echo")
        class EchoBackend(ModelBackend): ...

    Registering a second, different class under a taken name raises :class:`ValueError`.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"backend name {name!r} must be lowercase letters, digits, '_', '-' or '.'")

    def decorator(cls: BackendT) -> BackendT:
        if not (isinstance(cls, type) and issubclass(cls, ModelBackend)):
            raise TypeError(f"@register_backend({name!r}) needs a ModelBackend subclass, got {cls!r}")
        with _lock:
            existing = _backends.get(name)
            if existing is not None and _where(existing) != _where(cls):
                raise ValueError(f"backend {name!r} is already registered by {_where(existing)}")
            cls.name = name
            _backends[name] = cls
        return cls

    return decorator


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _lock:
        if _builtins_loaded:
            return
        for module in _BUILTIN_MODULES:
            importlib.import_module(module, __package__)
        _builtins_loaded = True


def load_entry_points() -> None:
    """Import the backends advertised in the ``trustplane.backends`` entry-point group (once per process).

    A plugin that fails to import is logged and remembered; asking for it by name reports why.
    """
    global _entry_points_loaded
    with _lock:
        if _entry_points_loaded:
            return
        _entry_points_loaded = True
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _backends:
                if _backends[ep.name].__module__ != ep.value.partition(":")[0]:
                    logger.warning(
                        "entry point %s=%s ignored: backend %r is already registered", ep.name, ep.value, ep.name
                    )
                continue
            try:
                loaded = ep.load()
            except Exception as exc:  # a broken plugin must not break the others
                _entry_point_errors[ep.name] = f"{ep.value} failed to import: {type(exc).__name__}: {exc}"
                logger.warning("backend entry point %s=%s failed to load: %s", ep.name, ep.value, exc)
                continue
            if not (isinstance(loaded, type) and issubclass(loaded, ModelBackend)):
                _entry_point_errors[ep.name] = f"{ep.value} is not a ModelBackend subclass"
                logger.warning("backend entry point %s=%s is not a ModelBackend subclass", ep.name, ep.value)
                continue
            if ep.name not in _backends:  # importing it may have registered it already
                register_backend(ep.name)(loaded)


def backend_names() -> list[str]:
    """Names of the backends registered so far (built-ins and loaded plugins), sorted."""
    _load_builtins()
    with _lock:
        return sorted(_backends)


def get_backend_class(name: str) -> type[ModelBackend]:
    """The backend class registered as ``name``; loads entry points before giving up with :class:`ConfigError`."""
    _load_builtins()
    with _lock:
        cls = _backends.get(name)
    if cls is not None:
        return cls
    load_entry_points()
    with _lock:
        cls = _backends.get(name)
        known = ", ".join(sorted(_backends))
        why = _entry_point_errors.get(name)
    if cls is not None:
        return cls
    if why:
        raise ConfigError(
            f"model backend {name!r} could not be loaded: {why}", hint=f"known backends: {known}", backend=name
        )
    raise ConfigError(
        f"unknown model backend {name!r}",
        hint=f"known backends: {known}; plugins register in the {ENTRY_POINT_GROUP!r} entry-point group",
        backend=name,
    )


def _reset_entry_points() -> None:
    """Forget loaded entry points so the next lookup scans again (tests)."""
    global _entry_points_loaded
    with _lock:
        _entry_points_loaded = False
        _entry_point_errors.clear()
