"""The CLI entry point: exit codes from typer.Exit and from trustplane errors."""

from __future__ import annotations

import sys

import pytest
import typer

import trustplane.cli as cli
from trustplane.core.errors import InvalidInputError


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def exits(code: int) -> None:
        raise typer.Exit(code)

    @app.command()
    def fails() -> None:
        raise InvalidInputError("bad thing")

    monkeypatch.setattr(cli, "app", app)
    return app


@pytest.mark.parametrize("code", [0, 1, 3])
def test_typer_exit_codes_reach_the_shell(fake_app: typer.Typer, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    monkeypatch.setattr(sys, "argv", ["trustplane", "exits", str(code)])
    if code == 0:
        cli.main()  # returns normally
        return
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == code


def test_trustplane_errors_are_one_line_and_their_exit_code(
    fake_app: typer.Typer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["trustplane", "fails"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == InvalidInputError.exit_code
    assert "error[input.invalid]" in capsys.readouterr().err
