"""Docs can't drift: every setting and every CLI command is documented."""

from pathlib import Path

import typer.main

from trustplane.cli import app
from trustplane.core.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    missing = [n for n in Settings.model_fields if f"TRUSTPLANE_{n.upper()}" not in doc]
    assert not missing, f"document these settings in docs/configuration.md: {missing}"


def test_every_cli_command_is_documented_and_has_help_and_json():
    docs = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    root = typer.main.get_command(app)
    commands = list(_commands(root))
    assert {"serve", "log append", "log verify", "log export", "models chat", "db upgrade"} <= set(commands)
    undocumented = [c for c in commands if f"trustplane {c}" not in docs]
    assert not undocumented, f"document these commands in README.md or docs/: {undocumented}"
    for path in commands:
        cmd = root
        for part in path.split():
            cmd = cmd.commands[part]
        assert cmd.help, f"`trustplane {path}` has no help text"
        assert any("--json" in p.opts for p in cmd.params), f"`trustplane {path}` lacks --json"
