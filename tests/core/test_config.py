"""Settings from the environment, a TOML file and defaults; errors that name the culprit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from trustplane.core.config import ModelConfig, Settings, load_settings
from trustplane.core.errors import ConfigError, DataFileMissingError, ModelNotFoundError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No TRUSTPLANE_* variables from the outside, and a working directory without trustplane.toml."""
    for name in list(os.environ):
        if name.startswith("TRUSTPLANE_"):
            monkeypatch.delenv(name)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def write_toml(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def test_defaults(clean_env: Path) -> None:
    s = load_settings()
    assert s.home == Path(".trustplane")
    assert s.database_url is None
    assert s.resolved_database_url == f"sqlite:///{clean_env / '.trustplane' / 'trustplane.db'}"
    assert s.keys_dir == Path(".trustplane") / "keys"
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.admin_token is None
    assert s.data_dir is None
    assert [m.name for m in s.models] == ["smollm2"] and s.default_model == "smollm2"
    assert s.log_max_entry_bytes == 65536


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRUSTPLANE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("TRUSTPLANE_PORT", "9001")
    monkeypatch.setenv("TRUSTPLANE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRUSTPLANE_ADMIN_TOKEN", "s3cret-token")
    monkeypatch.setenv("TRUSTPLANE_WARM_MODELS", "true")
    monkeypatch.setenv("TRUSTPLANE_LOG_MAX_BATCH", "17")
    monkeypatch.setenv(
        "TRUSTPLANE_MODELS",
        '[{"name": "gpt", "backend": "openai", "options": {"base_url": "http://x/v1", "timeout": 5}},'
        ' {"name": "echo", "backend": "scripted"}]',
    )
    monkeypatch.setenv("TRUSTPLANE_DEFAULT_MODEL", "echo")
    s = load_settings()
    assert s.home == tmp_path / "state"
    assert s.keys_dir == tmp_path / "state" / "keys"
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'state' / 'trustplane.db'}"
    assert s.port == 9001 and s.warm_models is True and s.log_max_batch == 17
    assert s.data_dir == tmp_path / "data"
    assert s.admin_token is not None and s.admin_token.get_secret_value() == "s3cret-token"
    assert "s3cret-token" not in repr(s) and "s3cret-token" not in str(s.model_dump())
    assert s.models == [
        ModelConfig(name="gpt", backend="openai", options={"base_url": "http://x/v1", "timeout": 5}),
        ModelConfig(name="echo", backend="scripted", options={}),
    ]
    assert s.model(None).name == "echo"
    assert s.model("gpt").options["timeout"] == 5
    monkeypatch.setenv("TRUSTPLANE_DATABASE_URL", "postgresql://u@db/x")
    assert load_settings().resolved_database_url == "postgresql://u@db/x"


def test_keyword_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTPLANE_PORT", "9001")
    assert load_settings(port=9002).port == 9002


def test_toml_file_via_trustplane_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = write_toml(
        tmp_path / "conf.toml",
        """
home = "/srv/trustplane"
port = 7000
host = "0.0.0.0"
default_model = "local-echo"

[[models]]
name = "local-echo"
backend = "scripted"
options = { replies = ["hi"] }
""",
    )
    monkeypatch.setenv("TRUSTPLANE_CONFIG", str(cfg))
    s = load_settings()
    assert (s.home, s.port, s.host) == (Path("/srv/trustplane"), 7000, "0.0.0.0")
    assert s.models == [ModelConfig(name="local-echo", backend="scripted", options={"replies": ["hi"]})]
    assert s.model(None).backend == "scripted"

    # the environment wins over the file, field by field
    monkeypatch.setenv("TRUSTPLANE_PORT", "7001")
    s = load_settings()
    assert s.port == 7001
    assert s.host == "0.0.0.0"  # still from the file


def test_trustplane_toml_in_working_directory(clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_toml(clean_env / "trustplane.toml", "port = 6000\n")
    assert load_settings().port == 6000
    # an explicit TRUSTPLANE_CONFIG replaces it
    monkeypatch.setenv("TRUSTPLANE_CONFIG", str(write_toml(tmp_path / "other.toml", "port = 6001\n")))
    assert load_settings().port == 6001


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("TRUSTPLANE_CONFIG", str(missing))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "TRUSTPLANE_CONFIG" in info.value.message and str(missing) in info.value.message
    monkeypatch.setenv("TRUSTPLANE_CONFIG", str(tmp_path))  # a directory is not a file either
    with pytest.raises(ConfigError, match="TRUSTPLANE_CONFIG"):
        load_settings()


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("TRUSTPLANE_PORT", "70000", "less than or equal"),
        ("TRUSTPLANE_PORT", "0", "greater than or equal"),
        ("TRUSTPLANE_PORT", "eighty", "integer"),
        ("TRUSTPLANE_LOG_MAX_ENTRY_BYTES", "10", "greater than or equal"),
        ("TRUSTPLANE_LOG_MAX_BATCH", "0", "greater than or equal"),
        ("TRUSTPLANE_JOBS_WORKERS", "-2", "greater than or equal"),
        ("TRUSTPLANE_WARM_MODELS", "perhaps", "boolean"),
        ("TRUSTPLANE_MODELS", '[{"name": "a"}]', "backend"),
        ("TRUSTPLANE_MODELS", '[{"name": "", "backend": "x"}]', "models.0.name"),
        ("TRUSTPLANE_MODELS", '[{"name": "a", "backend": "x"}, {"name": "a", "backend": "y"}]', "repeated: a"),
    ],
)
def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert var in info.value.message
    assert fragment in info.value.message
    assert info.value.hint
    assert info.value.exit_code == 78


def test_unparseable_json_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTPLANE_MODELS", "not json")
    with pytest.raises(ConfigError, match="models"):
        load_settings()


def test_invalid_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRUSTPLANE_CONFIG", str(write_toml(tmp_path / "bad.toml", "port = [\n")))
    with pytest.raises(ConfigError, match=r"cannot parse the TOML file .*bad\.toml"):
        load_settings()
    monkeypatch.setenv("TRUSTPLANE_CONFIG", str(write_toml(tmp_path / "extra.toml", 'colour = "red"\n')))
    with pytest.raises(ConfigError, match="unknown setting 'colour'") as info:
        load_settings()
    assert "TRUSTPLANE_COLOUR" not in info.value.message
    monkeypatch.setenv("TRUSTPLANE_CONFIG", str(write_toml(tmp_path / "type.toml", 'port = "high"\n')))
    with pytest.raises(ConfigError, match="TRUSTPLANE_PORT"):
        load_settings()


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValidationError):
        s.port = 1  # type: ignore[misc]


def test_data_path(tmp_path: Path) -> None:
    with pytest.raises(DataFileMissingError, match="no data directory") as info:
        load_settings().data_path("xstest", "prompts.csv")
    assert "TRUSTPLANE_DATA_DIR" in (info.value.hint or "")

    data = tmp_path / "data"
    (data / "set").mkdir(parents=True)
    (data / "set" / "file.csv").write_text("a,b\n")
    s = load_settings(data_dir=data)
    assert s.data_path("set", "file.csv") == data / "set" / "file.csv"
    assert s.data_path("set") == data / "set"
    with pytest.raises(DataFileMissingError) as info:
        s.data_path("set", "missing.csv")
    assert info.value.extra["path"] == str(data / "set" / "missing.csv")
    assert "set/missing.csv" in info.value.message
    assert info.value.code == "data.missing"


def test_model_lookup() -> None:
    s = Settings(
        models=[ModelConfig(name="a", backend="scripted"), ModelConfig(name="b", backend="scripted")], default_model="b"
    )
    assert s.model(None).name == "b"
    assert s.model("a").name == "a"
    with pytest.raises(ModelNotFoundError) as info:
        s.model("c")
    assert info.value.extra["model"] == "c"
    assert "a, b" in (info.value.hint or "")


def test_fixture_settings(settings: Settings, tmp_path: Path) -> None:
    """The shared ``settings`` fixture: home under tmp_path, the shared data folder, a scripted model."""
    assert settings.home.is_relative_to(tmp_path)
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.model(None).backend == "scripted"
    assert settings.data_dir is not None and settings.data_dir.is_absolute()
