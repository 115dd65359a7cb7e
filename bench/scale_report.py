"""The "Scale series" section of BENCHMARKS.md, from the `series` entry of the results JSON."""

from __future__ import annotations

import shlex
from typing import Any

# The worker's peak RSS at this N must stay within the goal (the target).
RSS_TARGET_N = 10_000
RSS_TARGET_MB = 250.0

COLUMNS = (
    "| N | phase | wall s | server CPU ms/ws | worker CPU ms/ws | worker RSS MB | server RSS MB "
    "| largest payload KB | most events in one execution | executions |"
)
ALIGN = "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"


def _median(tree: dict[str, Any], key: str) -> float | None:
    figure = tree["figures"].get(key) or {}
    value = figure.get("median")
    return None if value is None else float(value)


def _cell(tree: dict[str, Any], key: str, fmt: str, scale: float = 1.0) -> str:
    figure = tree["figures"].get(key) or {}
    if "median" not in figure:
        return "-"
    med, lo, hi = (format(figure[k] * scale, fmt) for k in ("median", "min", "max"))
    return med if lo == hi else f"{med} ({lo}-{hi})"


def _row(tree: dict[str, Any], phase: str) -> str:
    n = f"{tree['n']:,}"
    if tree["facts"].get("kind") == "large":
        n += f" ({tree['facts'].get('output_bytes', 0) // 1024} KB outputs)"
    facts = tree["facts"]
    events = _cell(tree, f"{phase}_most_events", ",.0f")
    if facts.get(f"{phase}_most_events_type"):
        events += f" ({facts[f'{phase}_most_events_type']})"
    payload = _cell(tree, f"{phase}_largest_payload_bytes", ",.1f", 1 / 1024)
    if facts.get(f"{phase}_largest_payload_type"):
        payload += f" ({facts[f'{phase}_largest_payload_type']})"
    executions = _cell(tree, f"{phase}_executions", ",.0f")
    if _median(tree, f"{phase}_earlier_executions"):
        executions += f" (+{_cell(tree, f'{phase}_earlier_executions', ',.0f')} earlier)"
    cells = [
        n,
        phase,
        _cell(tree, f"{phase}_wall_s", ".1f"),
        _cell(tree, f"{phase}_server_cpu_ms_per_ws", ".1f"),
        _cell(tree, f"{phase}_worker_cpu_ms_per_ws", ".1f"),
        _cell(tree, f"{phase}_worker_rss_mb", ".0f"),
        _cell(tree, f"{phase}_server_rss_mb", ".0f"),
        payload,
        events,
        executions,
    ]
    return "| " + " | ".join(cells) + " |"


def linearity(series: dict[str, Any]) -> list[str]:
    """Per-workspace cost at the largest N over that at the smallest N, per phase (1.00 = linear)."""
    tiny = sorted((t for t in series["trees"] if t["facts"].get("kind") == "tiny"), key=lambda t: t["n"])
    if len(tiny) < 2:
        return ["Linearity needs at least two sizes in the series."]
    low, high = tiny[0], tiny[-1]
    parts = []
    for phase in ("apply", "plan"):
        ratios = []
        for label, key in (
            ("wall", "wall_ms_per_ws"),
            ("server CPU", "server_cpu_ms_per_ws"),
            ("worker CPU", "worker_cpu_ms_per_ws"),
        ):
            a, b = _median(low, f"{phase}_{key}"), _median(high, f"{phase}_{key}")
            ratios.append(f"{label} {b / a:.2f}x" if a and b is not None else f"{label} -")
        parts.append(f"{phase}: " + ", ".join(ratios))
    return [
        f"**Linearity:** cost per workspace at N = {high['n']:,} divided by that at N = {low['n']:,} "
        f"(1.00 = linear; above 1, the cost grows faster than N): " + "; ".join(parts) + "."
    ]


def rss_target(series: dict[str, Any]) -> list[str]:
    tiny = [t for t in series["trees"] if t["facts"].get("kind") == "tiny"]
    if not tiny:
        return []
    top = max(tiny, key=lambda t: t["n"])
    peaks = {p: _median(top, f"{p}_worker_rss_mb") for p in ("apply", "plan")}
    worst = max((v for v in peaks.values() if v is not None), default=None)
    if worst is None:
        return []
    measured = ", ".join(f"{p} {v:.0f} MB" for p, v in peaks.items() if v is not None)
    if top["n"] >= RSS_TARGET_N:
        verdict = "met" if worst <= RSS_TARGET_MB else "NOT met"
        return [
            f"**Target:** worker peak RSS ≤ {RSS_TARGET_MB:.0f} MB at N = {RSS_TARGET_N:,}: "
            f"at N = {top['n']:,}, {measured} (median): {verdict}."
        ]
    return [
        f"**Target** (worker peak RSS ≤ {RSS_TARGET_MB:.0f} MB at N = {RSS_TARGET_N:,}): not measured here; "
        f"the largest N was {top['n']:,}: {measured} (median)."
    ]


def target_row(series: dict[str, Any]) -> list[str]:
    """The row of the report's targets table: worker peak RSS at the largest N of the series."""
    tiny = [t for t in series["trees"] if t["facts"].get("kind") == "tiny"]
    if not tiny:
        return []
    top = max(tiny, key=lambda t: t["n"])
    peaks = [v for v in (_median(top, f"{p}_worker_rss_mb") for p in ("apply", "plan")) if v is not None]
    if not peaks:
        return []
    met = ("yes" if max(peaks) <= RSS_TARGET_MB else "no") if top["n"] >= RSS_TARGET_N else f"(N < {RSS_TARGET_N:,})"
    return [
        f"| worker peak RSS, scale series at N = {top['n']:,} (tfo CLI, embedded, apply and plan) "
        f"| ≤ {RSS_TARGET_MB:.0f} MB at N = {RSS_TARGET_N:,} | {max(peaks):.0f} MB | {met} |"
    ]


def notes(series: dict[str, Any]) -> list[str]:
    lines = []
    for tree in sorted(series["trees"], key=lambda t: (t["facts"].get("kind") != "tiny", t["n"])):
        for phase in ("apply", "plan"):
            missed = _median(tree, f"{phase}_found_by_history") or 0
            still = _median(tree, f"{phase}_open_executions") or 0
            if missed:
                lines.append(
                    f"- N = {tree['n']:,} {phase}: {missed:.0f} executions were missing from the visibility "
                    "listing and were found through their parent's or predecessor's history."
                )
            if still:
                kinds = ", ".join(f"{k} {v}" for k, v in tree["facts"].get(f"{phase}_open_types", {}).items())
                lines.append(
                    f"- N = {tree['n']:,} {phase}: {still:.0f} executions were still open when the command ended"
                    + (f" ({kinds}; last round)" if kinds else "")
                    + "."
                )
    for failure in series.get("failed", []):
        lines.append(f"- failed: {failure}")
    return lines


def render_series(series: dict[str, Any]) -> list[str]:
    rounds = series["rounds"]
    out = [
        "",
        f"## Scale series: outputs-only workspaces, layered (width {series['width']}), "
        f"P = {series['parallelism']}, embedded",
        "",
        "For each N: `tfo apply --auto-approve`, then `tfo plan`, each in embedded mode (server start-up "
        f"included), {rounds} round{'s' if rounds != 1 else ''}"
        + (
            " (median, with min-max; only the first apply creates the outputs, later ones change nothing)"
            if rounds > 1
            else ""
        )
        + ". Every workspace below the first layer consumes the `id` output of 1-2 upstreams. "
        "The worker is the tfo process; CPU per workspace is CPU seconds / N. Largest payload and most events "
        "are over every workflow execution that started while the command ran (found with the visibility API, "
        'so whatever workflows a run is split into) and every earlier one it added events to ("+k earlier": '
        "the drift ledger, which is long-lived); the workflow type holding the figure is in brackets. "
        "Most events counts an execution's whole history at the command's end; largest payload, the events "
        "the command caused. "
        "The large-outputs rows add an output of "
        f"{series['large_output_bytes'] // 1024} KB per workspace that nothing consumes. "
        "Method: `bench/scale.py`."
        + (f" Run on {series['date']}: `python -m bench {shlex.join(series['argv'])}`." if "argv" in series else ""),
        "",
        COLUMNS,
        ALIGN,
    ]
    ordered = sorted(series["trees"], key=lambda t: (t["facts"].get("kind") != "tiny", t["n"]))
    for tree in ordered:
        out += [_row(tree, phase) for phase in ("apply", "plan")]
    out += ["", *linearity(series)]
    target = rss_target(series)
    if target:
        out += ["", *target]
    extra = notes(series)
    if extra:
        out += ["", *extra]
    return out


def summary_line(series: dict[str, Any]) -> str:
    parts = []
    for tree in sorted(series["trees"], key=lambda t: (t["facts"].get("kind") != "tiny", t["n"])):
        label = f"{tree['n']}" + ("L" if tree["facts"].get("kind") == "large" else "")
        wall = _median(tree, "apply_wall_s")
        rss = max((_median(tree, f"{p}_worker_rss_mb") or 0.0) for p in ("apply", "plan"))
        parts.append(f"{label}: apply {wall or 0:.0f}s, worker RSS {rss:.0f} MB")
    return "scale series: " + ("; ".join(parts) if parts else "nothing measured")
