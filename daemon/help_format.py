"""Plain, conventional help text for every `tfo` command.

Recent typer releases print a type marker for every parameter (`--json <bool>`,
`-w <list[str]>`, `CONFIG <path>`) and wrap required arguments in braces
(`{config}`). tfo's help shows flags as flags and values as upper-case names
instead: `--json`, `-w WORKSPACE`, `tfo plan [OPTIONS] CONFIG`.
"""

from __future__ import annotations

from typing import Any

from typer._click import Context, Parameter  # typer vendors click
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# A readable value name for options whose parameter name says little on its own.
_METAVARS = {
    "workspace": "WORKSPACE",
    "parallelism": "N",
    "address": "HOST:PORT",
    "task_queue": "QUEUE",
    "metrics_port": "PORT",
    "port": "PORT",
}


class _PlainArgument(TyperArgument):
    """An argument whose help row shows its name only, not a type marker."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _metavar(param: TyperOption | TyperArgument) -> str:
    descriptor = param.type_descriptor
    if descriptor.is_choice and descriptor.choices:
        return "[" + "|".join(str(getattr(choice, "value", choice)) for choice in descriptor.choices) + "]"
    name = param.name or "value"
    return _METAVARS.get(name, name.upper().replace("_", "-"))


def _plain(params: list[Parameter]) -> list[Parameter]:
    for param in params:
        if isinstance(param, TyperArgument) and not isinstance(param, _PlainArgument):
            param.__class__ = _PlainArgument
        if param.metavar is not None:
            continue
        if isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""
        elif isinstance(param, TyperOption | TyperArgument):
            param.metavar = _metavar(param)
        elif getattr(param, "is_flag", False):  # click's own --help option
            param.metavar = ""
    return params


class TfoCommand(TyperCommand):
    """A typer command whose help shows flags as flags and values by name."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        return _plain(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        # typer marks a required argument as `{NAME}`; conventional usage is bare NAME.
        return [
            piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
            for piece in super().collect_usage_pieces(ctx)
        ]


class TfoGroup(TyperGroup):
    """The root `tfo` command, with the same plain help."""

    def get_params(self, ctx: Context) -> list[Parameter]:
        return _plain(super().get_params(ctx))
