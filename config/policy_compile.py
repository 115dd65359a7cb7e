"""Checking and compiling `policies:` rules (CEL), at `tfo validate` time and before evaluation.

Every problem is one line naming the rule. Hostile input is refused before the
parser sees it: expressions are at most MAX_EXPRESSION_CHARS long and nest brackets
at most MAX_NESTING deep, so parsing takes milliseconds whatever the rule says.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfo.config.errors import ConfigError

if TYPE_CHECKING:  # the policy evaluator's process imports this module: no pydantic, no yaml
    from tfo.config.policy_models import PolicyRule
    from tfo.config.yaml_source import YamlDocument

# Hostile rules are refused before the CEL parser sees them.
MAX_EXPRESSION_CHARS = 4096
MAX_NESTING = 32

# Verdicts per plan in any payload, and the length of each of their texts.
MAX_VERDICTS = 50
MAX_VERDICT_TEXT = 300

VARIABLES = ("resource", "workspace", "run")
# The named functions of the CEL engine (common-expression-language); tests check
# each one still exists. Operators (`_==_`, `@in`, `!_`) are always allowed.
KNOWN_FUNCTIONS = frozenset(
    {
        "size", "contains", "startsWith", "endsWith", "matches",
        "int", "uint", "double", "string", "bytes", "timestamp", "duration", "type", "dyn",
        "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")
_INNER_MSG = re.compile(r'msg: "([^"]*)"')


class PolicyCompileError(ValueError):
    """A rule that cannot be compiled; the message is one line."""


@lru_cache(maxsize=1)
def _engine() -> Any:
    """The CEL extension module.

    Loaded on its own: the `cel` package's `__init__` also imports its command line
    (typer, rich, prompt_toolkit), about 0.4 s that `tfo validate` need not pay.
    """
    if "cel.cel" in sys.modules:
        return sys.modules["cel.cel"]
    spec = importlib.util.find_spec("cel")
    if spec is None or spec.origin is None:
        raise PolicyCompileError("the CEL engine (common-expression-language) is not installed")
    binary = next(Path(spec.origin).parent.glob("cel.*.so"), None)
    if binary is None:
        import cel  # an unusual layout: the package's own import

        return cel
    loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(binary))
    module_spec = importlib.util.spec_from_file_location("cel.cel", binary, loader=loader)
    assert module_spec is not None
    module = importlib.util.module_from_spec(module_spec)
    loader.exec_module(module)
    sys.modules["cel.cel"] = module  # the package, if imported later, reuses it
    return module


def effect_of(applies_to: Sequence[str], mode: str) -> str:
    """A violation denies only in an apply run, and only for a rule that applies to apply."""
    return "deny" if mode == "apply" and "apply" in applies_to else "warn"


def cut(text: str, limit: int = MAX_VERDICT_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of a CEL expression, outside string literals."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            i += len(quote)
            while i < n and not text.startswith(quote, i):
                i += 2 if text[i] == "\\" else 1
            i += len(quote)
            continue
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
        i += 1
    return deepest


def compile_expression(text: str) -> Any:
    """Compile one `deny` expression into a CEL program.

    Raises:
        PolicyCompileError: too long, too deep, a syntax error, or an unknown name.
    """
    if len(text) > MAX_EXPRESSION_CHARS:
        raise PolicyCompileError(f"the expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_CHARS}")
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        raise PolicyCompileError(f"the expression nests brackets {depth} deep; the limit is {MAX_NESTING}")
    try:
        program = _engine().compile(text)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise PolicyCompileError(_syntax_message(str(exc))) from None
    bound = set(_BOUND.findall(text))
    unknown = sorted(set(program.variables()) - set(VARIABLES) - bound)
    if unknown:
        raise PolicyCompileError(f"unknown variable {unknown[0]!r}: a rule can use {', '.join(VARIABLES)}")
    named = [f for f in program.functions() if f[:1].isalpha()]
    strange = sorted(set(named) - KNOWN_FUNCTIONS)
    if strange:
        raise PolicyCompileError(f"unknown function {strange[0]!r}")
    return program


def _syntax_message(raw: str) -> str:
    first = next((line for line in raw.splitlines() if "<input>:" in line), raw.splitlines()[0] if raw else "")
    match = _POSITION.search(first)
    if match is None:
        return f"CEL error: {first[:200]}"
    line, column, message = int(match.group(1)), int(match.group(2)), match.group(3)
    inner = _INNER_MSG.search(message)
    if inner:
        message = inner.group(1)
    message = message.split(" expecting ", 1)[0].removeprefix("Syntax error: ")
    where = f"line {line}, column {column}" if line > 1 else f"column {column}"
    return f"CEL syntax error at {where} of the expression: {message[:200]}"


def check_policies(rules: list[PolicyRule], doc: YamlDocument, source: str) -> None:
    """Compile every rule of `policies:`; the first problem is a ConfigError at its line."""
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        where = f"policies[{i}] ({rule.name})"
        if rule.name in seen:
            raise ConfigError(
                f"{where}: duplicate policy name (first defined as policies[{seen[rule.name]}])",
                path=source,
                line=doc.line_of(("policies", i, "name")),
            )
        seen[rule.name] = i
        try:
            compile_expression(rule.deny)
        except PolicyCompileError as exc:
            raise ConfigError(f"{where}.deny: {exc}", path=source, line=doc.line_of(("policies", i, "deny"))) from None
