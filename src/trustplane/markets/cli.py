"""``trustplane markets``: the heterogeneous data game (``hdg``) and performative risk minimisation (``prm``)."""

import typer

from trustplane.markets.hdg._cli import app as hdg_app
from trustplane.markets.performative._cli import app as prm_app

app = typer.Typer(
    help="Markets and performativity: competition over heterogeneous data, and the impact of performative risk minimisation.",
    no_args_is_help=True,
)
app.add_typer(hdg_app, name="hdg", help="The heterogeneous data game: equilibria, sweeps, plots.")
app.add_typer(prm_app, name="prm", help="Performative risk minimisation: paths, impact, Monte Carlo.")
