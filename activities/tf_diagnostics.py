"""terraform's error diagnostics, read from its human output and told back in one bounded line.

terraform prints each diagnostic as a summary (`Error: Invalid value for input
variable`), an optional source location with a code snippet, and a detail that
says what is wrong (`... var.replicas ...: a number is required.`, a validation's
or precondition's `error_message`). The same layout holds from terraform 1.0 to
1.11 (`-no-color`; the boxed layout of a colour terminal is read too), so tfo
reads the human output rather than depending on `-json` support per command.

- The snippet is never shown: for a variable it is tfo's merged var file, which
  holds every variable's value, secrets included.
- A location in that var file (a temp file, deleted once terraform has read it)
  is replaced by where the variable came from: the user's tfvars file and line,
  `vars` in the config, or the upstream output that feeds it.
- The whole message is bounded (`MAX_MESSAGE`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tfo.config.payloads import WorkspaceSpec

MAX_MESSAGE = 2048
MAX_DIAGNOSTICS = 3
VAR_FILE_NAME = "vars.tfvars.json"

_LOCATION = re.compile(r"^(?:on|in) (.+?) line (\d+)(?:, in .*)?:$")
_VARIABLE = re.compile(r'var\.([A-Za-z_][A-Za-z0-9_-]*)|variable "([A-Za-z_][A-Za-z0-9_-]*)"')
_SNIPPET_VARIABLE = re.compile(r"var\.([A-Za-z_][A-Za-z0-9_-]*) is ")
_BOX = "│╷╵"
# terraform >= 1.4 opens init failures with this before the errors that say what is wrong.
_GENERIC = "Terraform encountered problems"


@dataclass(frozen=True)
class Diagnostic:
    summary: str
    detail: str = ""
    filename: str | None = None
    line: int | None = None
    variable: str | None = None  # named by the snippet's value lines (`var.env is ...`)


@dataclass(frozen=True)
class VariableSources:
    """Where each of a workspace's variables came from (later sources win)."""

    tfvars: str | None = None
    vars: frozenset[str] = frozenset()
    inputs: dict[str, str] = field(default_factory=dict)  # variable -> "upstream.output"

    @classmethod
    def of(cls, ws: WorkspaceSpec) -> VariableSources:
        return cls(
            tfvars=ws.tfvars,
            vars=frozenset(ws.vars),
            inputs={m.target_var: f"{m.source_workspace}.{m.source_output}" for m in ws.inputs},
        )

    def describe(self, name: str) -> str | None:
        if name in self.inputs:
            return f"from output {self.inputs[name]}"
        if name in self.vars:
            return "set by `vars` in the config"
        if self.tfvars:
            line = _line_of(Path(self.tfvars), name)
            if line is not None:
                return f"set in {self.tfvars} line {line}"
        return None


def _line_of(path: Path, name: str) -> int | None:
    """The line that sets `name` in a tfvars file (HCL or JSON), if it can be found."""
    pattern = re.compile(rf'^\s*"?{re.escape(name)}"?\s*[=:]')
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, start=1):
                if pattern.match(text):
                    return number
    except OSError:
        return None
    return None


def _clean(text: str) -> list[str]:
    """Lines without the box of a colour terminal's diagnostics (`╷`, `│ `, `╵`)."""
    return [line.strip().lstrip(_BOX).strip() for line in text.splitlines()]


def parse(text: str) -> list[Diagnostic]:
    """Every `Error:` diagnostic in terraform's human output, in order."""
    lines = _clean(text)
    found: list[Diagnostic] = []
    i = 0
    while i < len(lines):
        head = lines[i].strip()
        i += 1
        if not head.startswith("Error:"):
            continue
        summary = head.removeprefix("Error:").strip()
        filename: str | None = None
        number: int | None = None
        detail: list[str] = []
        variable: str | None = None
        while i < len(lines) and not lines[i].strip().startswith(("Error:", "Warning:")):
            current = lines[i].strip()
            i += 1
            match = _LOCATION.match(current)
            if match and filename is None and not detail:
                filename, number = match.group(1), int(match.group(2))
                while i < len(lines) and lines[i].strip():  # the snippet: never shown
                    named = _SNIPPET_VARIABLE.match(lines[i].strip().lstrip("├─│ "))
                    variable = variable or (named.group(1) if named else None)
                    i += 1
                continue
            if current:
                detail.append(current)
        found.append(Diagnostic(summary, " ".join(detail), filename, number, variable))
    return found


def _location(diag: Diagnostic, sources: VariableSources | None) -> str | None:
    if diag.filename is None:
        return None
    if Path(diag.filename).name != VAR_FILE_NAME:
        return f"{diag.filename} line {diag.line}"
    # tfo's own merged var file: name the variable and where the user set it.
    match = _VARIABLE.search(diag.detail) or _VARIABLE.search(diag.summary)
    name = (match.group(1) or match.group(2)) if match else diag.variable
    if name is None:
        return None
    where = sources.describe(name) if sources else None
    return f"var.{name} {where}" if where else f"var.{name}"


def render(diag: Diagnostic, sources: VariableSources | None = None) -> str:
    text = diag.summary
    if diag.detail:
        text += f": {diag.detail}"
    where = _location(diag, sources)
    return f"{text} ({where})" if where else text


def describe(*texts: str, sources: VariableSources | None = None, limit: int = MAX_MESSAGE) -> str:
    """terraform's errors as one line: summary, detail and location of each, bounded.

    Args:
        texts: terraform's outputs (stderr, stdout), each parsed on its own: a
            diagnostic's detail never runs on into the other stream.
    """
    diags = [diag for text in texts for diag in parse(text)]
    if not diags:
        tail = [line.strip() for text in texts for line in text.splitlines() if line.strip()]
        return bound(tail[0] if tail else "no error output", limit)
    specific = [d for d in diags if not d.summary.startswith(_GENERIC)]
    diags = sorted(specific or diags, key=lambda d: d.filename is None)  # stable: located first
    shown = [render(d, sources) for d in diags[:MAX_DIAGNOSTICS]]
    more = len(diags) - len(shown)
    message = "; ".join(shown) + (f"; and {more} more error(s)" if more > 0 else "")
    return bound(message, limit)


def bound(text: str, limit: int = MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
