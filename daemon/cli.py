"""The typer CLI: it only parses arguments and dispatches to daemon.commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from daemon.commands.graph import GraphFormat

app = typer.Typer(
    name="tfo",
    help="tfo: run Terraform workspaces as a DAG on Temporal, and detect drift as a daemon.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigArg = Annotated[Path, typer.Argument(help="Path to infra.yaml.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


@app.command()
def validate(config: ConfigArg, as_json: JsonOpt = False) -> int:
    """Validate a config; exit 0 if valid, 1 with the error otherwise."""
    from daemon.commands.validate import validate as run

    return run(config, as_json=as_json)


@app.command()
def graph(
    config: ConfigArg,
    fmt: Annotated[GraphFormat, typer.Option("--format", "-f", help="Output format.")] = GraphFormat.TEXT,
) -> int:
    """Print the workspace dependency graph."""
    from daemon.commands.graph import graph as run

    return run(config, fmt=fmt)


@app.command()
def schema() -> int:
    """Print the JSON Schema of infra.yaml."""
    from daemon.commands.schema import schema as run

    return run()
