"""What every command-line surface shares: the ``--json`` option, the console, and one way to print.

Capabilities' Typer sub-apps import these so every command behaves the same: JSON on stdout with
``--json``, a rich rendering otherwise.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]
console = Console(soft_wrap=True)


def emit(as_json: bool, data: Any, human: Callable[[], object]) -> None:
    """Print ``data`` as JSON when ``as_json``, else call ``human()`` to render it for a person."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        human()
