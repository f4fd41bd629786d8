"""Fixtures for the classifier tests: settings with the data directory, the real MiniLM loaded once per session,
and the labelled set built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trustplane.access.classifiers import LabelledSet, MiniLMClassifier, build_labelled_set
from trustplane.access.classifiers._encoder import SentenceEncoder, get_encoder
from trustplane.core.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]


def data_dir() -> Path:
    env = os.environ.get("TRUSTPLANE_DATA_DIR")
    return Path(env).resolve() if env else (REPO_ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def data_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"), data_dir=data_dir())


@pytest.fixture(scope="session")
def labelled(data_settings: Settings) -> LabelledSet:
    return build_labelled_set(data_settings, seed=0)


@pytest.fixture(scope="session")
def encoder() -> SentenceEncoder:
    """The process-wide MiniLM encoder, loaded once (about 5 s the first time, for the imports)."""
    enc = get_encoder()
    enc.load()
    return enc


@pytest.fixture(scope="session")
def minilm(encoder: SentenceEncoder) -> MiniLMClassifier:
    return MiniLMClassifier(encoder=encoder)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Environment for CLI runs: the data directory, a temporary home, and a working directory without config."""
    monkeypatch.setenv("TRUSTPLANE_DATA_DIR", str(data_dir()))
    monkeypatch.setenv("TRUSTPLANE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRUSTPLANE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
