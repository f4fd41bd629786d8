"""Figures and reports: every plot is written as a PNG and a self-contained HTML page.

Capabilities build a matplotlib figure and call :func:`save_figure`; the HTML embeds the PNG (no
external assets) with a caption and, optionally, the data behind the plot as a table, so a reader
can look or read.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustplane.core.errors import MissingDependencyError


def pyplot() -> Any:
    """matplotlib's pyplot on the non-interactive Agg backend (safe on servers and in CI)."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - matplotlib is a core dependency
        raise MissingDependencyError("plots need matplotlib", hint="pip install matplotlib") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@dataclass(frozen=True)
class SavedFigure:
    png: Path
    html: Path


def save_figure(
    fig: Any,
    stem: Path | str,
    *,
    title: str,
    caption: str = "",
    table: tuple[Sequence[str], Sequence[Sequence[Any]]] | None = None,
    dpi: int = 120,
) -> SavedFigure:
    """Write ``stem.png`` and ``stem.html`` (the PNG embedded, plus caption and optional data table)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png_path = stem.with_suffix(".png")
    buf = io.BytesIO()
    # Fixed metadata so the same figure gives the same bytes.
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    png = buf.getvalue()
    png_path.write_bytes(png)
    rows = ""
    if table is not None:
        header, body = table
        rows = (
            "<table><thead><tr>"
            + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
            + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>" for row in body)
            + "</tbody></table>"
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1c2430}}
img{{max-width:100%;height:auto}}table{{border-collapse:collapse;margin-top:1rem;font-size:.9rem}}
td,th{{border:1px solid #ccd3dc;padding:.25rem .5rem;text-align:right}}th{{background:#eef1f5}}</style></head>
<body><h1>{html.escape(title)}</h1>
<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<figcaption>{html.escape(caption)}</figcaption></figure>
{rows}
</body></html>
"""
    html_path = stem.with_suffix(".html")
    html_path.write_text(page, encoding="utf-8")
    return SavedFigure(png_path, html_path)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
