"""`schedules:` and `alerts:` in infra.yaml, through `tfo validate` in-process.

Every invalid config fails with exit 1 and one stderr line naming the file, the YAML
line (marked `#<` below) and the culprit. Secrets in alert URLs never reach the message.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tfo.config.drift_config import AlertEvent
from tfo.config.loader import load_config
from tfo.daemon.main import run

MARK = "#<"

WORKSPACES = """\
workspaces:
  - name: vpc
    dir: .
  - name: eks
    dir: .
    dependsOn: [vpc]
"""


@dataclass(frozen=True)
class Case:
    id: str
    sections: str
    expect: tuple[str, ...]
    forbid: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return WORKSPACES + textwrap.dedent(self.sections).lstrip("\n")

    def line(self) -> int:
        for number, text in enumerate(self.text.splitlines(), start=1):
            if MARK in text:
                return number
        raise AssertionError(f"case {self.id} has no {MARK} marker")


INVALID: list[Case] = [
    Case(
        "cron-and-every",
        """
        schedules:
          - name: drift-check  #<
            cron: "0 */6 * * *"
            every: 15m
        """,
        ("schedules[0]", "exactly one of 'cron' or 'every'"),
    ),
    Case(
        "neither-cron-nor-every",
        """
        schedules:
          - name: drift-check  #<
            workspaces: [vpc]
        """,
        ("schedules[0]", "exactly one of 'cron' or 'every'"),
    ),
    Case(
        "cron-four-fields",
        """
        schedules:
          - name: drift-check
            cron: "0 */6 * *"  #<
        """,
        ("schedules[0].cron", "'0 */6 * *'", "5 fields"),
    ),
    Case(
        "cron-six-fields",
        """
        schedules:
          - name: drift-check
            cron: "0 0 */6 * * *"  #<
        """,
        ("schedules[0].cron", "5 fields"),
    ),
    Case(
        "cron-minute-out-of-range",
        """
        schedules:
          - name: drift-check
            cron: "60 * * * *"  #<
        """,
        ("schedules[0].cron", "'60'", "minute", "0-59"),
    ),
    Case(
        "cron-hour-out-of-range",
        """
        schedules:
          - name: drift-check
            cron: "0 0-24 * * *"  #<
        """,
        ("schedules[0].cron", "'24'", "hour"),
    ),
    Case(
        "cron-bad-month-name",
        """
        schedules:
          - name: drift-check
            cron: "0 0 1 foo *"  #<
        """,
        ("schedules[0].cron", "'foo'", "month"),
    ),
    Case(
        "cron-day-of-month-zero",
        """
        schedules:
          - name: drift-check
            cron: "0 0 0 * *"  #<
        """,
        ("schedules[0].cron", "day of month", "1-31"),
    ),
    Case(
        "cron-zero-step",
        """
        schedules:
          - name: drift-check
            cron: "*/0 * * * *"  #<
        """,
        ("schedules[0].cron", "bad step '0'", "minute"),
    ),
    Case(
        "cron-word-step",
        """
        schedules:
          - name: drift-check
            cron: "0 */x * * *"  #<
        """,
        ("schedules[0].cron", "bad step 'x'", "hour"),
    ),
    Case(
        "cron-unknown-macro",
        """
        schedules:
          - name: drift-check
            cron: "@fortnightly"  #<
        """,
        ("schedules[0].cron", "@fortnightly"),
    ),
    Case(
        "bad-duration",
        """
        schedules:
          - name: drift-check
            every: 15 minutes  #<
        """,
        ("schedules[0].every", "invalid duration", "'15 minutes'"),
    ),
    Case(
        "bad-jitter",
        """
        schedules:
          - name: drift-check
            every: 15m
            jitter: soon  #<
        """,
        ("schedules[0].jitter", "invalid duration", "'soon'"),
    ),
    Case(
        "every-zero",
        """
        schedules:
          - name: drift-check  #<
            every: 0s
        """,
        ("schedules[0]", "'every' must be at least 1s"),
    ),
    Case(
        "unknown-workspace",
        """
        schedules:
          - name: drift-check
            every: 15m
            workspaces:
              - vpc
              - ekss  #<
        """,
        ("schedules[0] (drift-check)", "unknown workspace 'ekss'", "did you mean 'eks'?"),
    ),
    Case(
        "duplicate-schedule-name",
        """
        schedules:
          - name: drift-check
            every: 15m
          - name: drift-check  #<
            cron: "@hourly"
        """,
        ("schedules[1] (drift-check)", "duplicate schedule name"),
    ),
    Case(
        "unsafe-schedule-name",
        """
        schedules:
          - name: "drift check"  #<
            every: 15m
        """,
        ("schedules[0].name", "unsafe name 'drift check'"),
    ),
    Case(
        "unknown-key-in-schedule",
        """
        schedules:
          - name: drift-check
            evry: 15m  #<
        """,
        ("schedules[0].evry", "unknown key 'evry'", "did you mean 'every'?"),
    ),
    Case(
        "unknown-key-in-alerts",
        """
        alerts:
          urls: ["json://127.0.0.1:9000/hook"]
          remind_evry: 24h  #<
        """,
        ("alerts.remind_evry", "unknown key 'remind_evry'", "did you mean 'remind_every'?"),
    ),
    Case(
        "alerts-without-urls",
        """
        alerts:  #<
          on: [drift]
        """,
        ("alerts.urls", "required key is missing"),
    ),
    Case(
        "alerts-empty-urls",
        """
        alerts:
          urls: []  #<
        """,
        ("alerts.urls",),
    ),
    Case(
        "alerts-unknown-event",
        """
        alerts:
          urls: ["json://127.0.0.1:9000/hook"]
          on: [drift, nope]  #<
        """,
        ("alerts.on[1]", "'nope'", "drift", "changed", "resolved", "failure"),
    ),
    Case(
        "alerts-bad-remind-every",
        """
        alerts:
          urls: ["json://127.0.0.1:9000/hook"]
          remind_every: daily  #<
        """,
        ("alerts.remind_every", "invalid duration", "'daily'"),
    ),
    Case(
        "alerts-unparseable-url",
        """
        alerts:
          urls:
            - json://127.0.0.1:9000/hook
            - "bogus://admin:hunter2pass@chat.example.com/room"  #<
        """,
        ("alerts.urls[1]", "apprise cannot use URL", "'bogus://...'"),
        forbid=("hunter2pass", "admin", "chat.example.com"),
    ),
    Case(
        "alerts-url-token-only",
        """
        alerts:
          urls: ["slack://hunter2token"]  #<
        """,
        ("alerts.urls[0]", "apprise cannot use URL", "'slack://...'"),
        forbid=("hunter2token", "xoxb"),
    ),
    Case(
        "alerts-url-without-scheme",
        """
        alerts:
          urls: ["xoxb-hunter2token"]  #<
        """,
        ("alerts.urls[0]", "apprise cannot use URL"),
        forbid=("hunter2token", "xoxb"),
    ),
]


def test_unset_env_in_alert_url_is_left_to_the_sender(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the worker that sends alerts expands ${VAR}: validate, graph and plan run
    # where the token is rightly absent (issue 15, item 11).
    monkeypatch.delenv("TFO_TEST_SURELY_UNSET_VAR", raising=False)
    text = WORKSPACES + 'alerts:\n  urls: ["slack://${TFO_TEST_SURELY_UNSET_VAR}/#ops"]\n'
    path = _write(tmp_path, text)
    assert run(["validate", str(path)]) == 0
    assert run(["graph", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "TFO_TEST_SURELY_UNSET_VAR" not in out


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "infra.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", INVALID, ids=[c.id for c in INVALID])
def test_invalid_drift_config_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    monkeypatch.delenv("TFO_TEST_SURELY_UNSET_VAR", raising=False)
    path = _write(tmp_path, case.text)

    code = run(["validate", str(path)])

    out, err = capsys.readouterr()
    assert code == 1, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"tfo: error: {path}:{case.line()}: "), line
    for needle in case.expect:
        assert needle in line, f"{needle!r} not in {line!r}"
    for secret in case.forbid:
        assert secret not in line, f"{secret!r} leaked into {line!r}"


def test_every_case_id_is_unique() -> None:
    assert len({c.id for c in INVALID}) == len(INVALID)


def test_expanded_secret_of_an_unusable_url_is_never_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL expands to something apprise rejects: the message shows the template only."""
    monkeypatch.setenv("TFO_TEST_ALERT_TOKEN", "hunter2-from-env")
    path = _write(tmp_path, WORKSPACES + 'alerts:\n  urls: ["bogus://${TFO_TEST_ALERT_TOKEN}@host"]\n')

    assert run(["validate", str(path)]) == 1

    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "hunter2-from-env" not in err
    assert "${TFO_TEST_ALERT_TOKEN}" in err


VALID_SCHEDULES = """\
schedules:
  - name: hourly
    cron: "@hourly"
  - name: office-hours
    cron: "*/15 0-6 * jan-mar mon-fri"
    workspaces: [eks]
  - name: fast
    every: 15m
    jitter: 2m
    paused: true
  - name: numeric
    cron: "0,30 */6 1-31/2 1-12 0-7"
"""


def test_valid_schedules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, WORKSPACES + VALID_SCHEDULES)

    code = run(["validate", str(path)])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    assert "valid" in out
    schedules = {s.name: s for s in load_config(path).config.schedules}
    assert list(schedules) == ["hourly", "office-hours", "fast", "numeric"]
    assert schedules["hourly"].cron == "@hourly"
    assert schedules["office-hours"].cron == "*/15 0-6 * jan-mar mon-fri"
    assert schedules["office-hours"].workspaces == ["eks"]
    fast = schedules["fast"]
    assert (fast.cron, fast.every, fast.jitter, fast.paused) == (
        None,
        timedelta(minutes=15),
        timedelta(minutes=2),
        True,
    )
    assert schedules["hourly"].paused is False


@pytest.mark.parametrize("macro", ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"])
def test_cron_macros_are_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str], macro: str) -> None:
    path = _write(tmp_path, WORKSPACES + f'schedules:\n  - name: m\n    cron: "{macro}"\n')
    assert run(["validate", str(path)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("every", ["30s", "6h", "1h30m", "2d", "1s"])
def test_every_durations(tmp_path: Path, capsys: pytest.CaptureFixture[str], every: str) -> None:
    path = _write(tmp_path, WORKSPACES + f"schedules:\n  - name: m\n    every: {every}\n")
    assert run(["validate", str(path)]) == 0, capsys.readouterr().err


def test_valid_alerts_with_env_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TFO_TEST_HOOK_PORT", "9000")
    path = _write(
        tmp_path,
        WORKSPACES
        + textwrap.dedent("""\
            alerts:
              urls:
                - json://127.0.0.1:9000/hook
                - "json://127.0.0.1:${TFO_TEST_HOOK_PORT}/other"
              on: [drift, resolved]
              remind_every: 24h
            """),
    )

    code = run(["validate", str(path)])

    err = capsys.readouterr().err
    assert code == 0, err
    assert err == ""
    alerts = load_config(path).config.alerts
    assert alerts is not None
    # URLs stay templates in the config: the variable expands only when an alert is sent.
    assert alerts.urls[1] == "json://127.0.0.1:${TFO_TEST_HOOK_PORT}/other"
    assert alerts.on == [AlertEvent.DRIFT, AlertEvent.RESOLVED]
    assert alerts.remind_every == timedelta(hours=24)


def test_alerts_default_to_every_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, WORKSPACES + 'alerts:\n  urls: ["json://127.0.0.1:9000/hook"]\n')
    assert run(["validate", str(path)]) == 0, capsys.readouterr().err
    alerts = load_config(path).config.alerts
    assert alerts is not None
    assert alerts.on == list(AlertEvent)
    assert alerts.remind_every is None


def test_no_schedules_or_alerts_is_valid(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path, WORKSPACES))
    assert loaded.config.schedules == []
    assert loaded.config.alerts is None
