"""The pure parts of big runs: splitting into segments, what crosses between them, stored
configs, and a run's result cut to size."""

from __future__ import annotations

import io
import json

import pytest

from tfo.config.config_pages import CONFIG_PAGE_BYTES, ConfigPages, decode_page, encode, split_pages
from tfo.config.dag import Dag
from tfo.config.model import InputMapping, Operation
from tfo.config.payloads import (
    AttributeChange,
    OutputValue,
    ResourceChange,
    RunReport,
    WorkspaceReport,
    WorkspaceSpec,
    WorkspaceStatus,
)
from tfo.config.segment_models import EXTERNAL_VALUE_BYTES, SEGMENT_SPEC_BYTES, ExternalState
from tfo.workflows.run_report import RESULT_BYTES, bound_report
from tfo.workflows.segments import split
from tfo.workflows.spec_store import SpecStore


def spec(name: str, deps: list[str] = (), *, inputs: list[str] = (), pad: int = 0) -> WorkspaceSpec:  # type: ignore[assignment]
    return WorkspaceSpec(
        name=name,
        dir=f"/stack/{name}" + "x" * pad,
        depends_on=list(deps),
        inputs=[InputMapping(source_workspace=s, source_output="id", target_var=f"in_{s}") for s in inputs],
        operations=[Operation.PLAN, Operation.APPLY],
        binary="terraform",
        task_queue="q",
        lock_key=name,
    )


def layered(n: int, width: int, pad: int = 0) -> dict[str, WorkspaceSpec]:
    specs = {}
    for i in range(n):
        up = [f"w{j:05d}" for j in range(i - width, i) if j >= 0 and j // width == i // width - 1][:2]
        specs[f"w{i:05d}"] = spec(f"w{i:05d}", up, inputs=up[:1], pad=pad)
    return specs


@pytest.mark.parametrize(("n", "most", "pad"), [(1000, 100, 0), (600, 500, 400), (2000, 500, 0)])
def test_segments_keep_upstreams_first_and_stay_within_their_bounds(n: int, most: int, pad: int) -> None:
    specs = layered(n, 25, pad)
    order = Dag({name: s.depends_on for name, s in specs.items()}).by_depth()
    chunks = split(SpecStore.of(specs.values()).outlines, order, most=most)
    where = {name: i for i, chunk in enumerate(chunks) for name in chunk}
    assert sorted(where) == sorted(specs)  # each workspace in exactly one segment
    for i, chunk in enumerate(chunks):
        assert len(chunk) <= most
        carried = {u for name in chunk for m in specs[name].inputs for u in [m.source_workspace]} - set(chunk)
        size = sum(len(specs[x].model_dump_json()) for x in [*chunk, *carried])
        assert size <= SEGMENT_SPEC_BYTES, (i, size)
        for name in chunk:
            assert all(where[d] <= i for d in specs[name].depends_on), name


def test_external_outputs_go_by_value_within_a_budget_then_by_reference() -> None:
    value = "v" * 20_000
    known = ExternalState(
        done={f"u{i}": WorkspaceStatus.SUCCEEDED for i in range(5)},
        outputs={f"u{i}": {"id": OutputValue(value=value)} for i in range(5)},
        pending={"u4": ["id"]},
    )
    part = known.slice({"u0", "u1", "u2", "u3"})
    assert sorted(part.done) == ["u0", "u1", "u2", "u3"] and part.pending == {}
    by_value = [n for n, outs in part.outputs.items() if outs["id"].value == value]
    by_reference = [n for n, outs in part.outputs.items() if outs["id"].by_reference]
    assert len(by_value) == EXTERNAL_VALUE_BYTES // 20_000 == 2
    assert len(by_reference) == 2 and all(part.outputs[n]["id"].size for n in by_reference)
    assert len(part.model_dump_json()) < EXTERNAL_VALUE_BYTES + 4096


def test_a_stored_config_reads_back_page_by_page_and_only_unchanged() -> None:
    specs = [spec(f"w{i:05d}").model_dump(mode="json") for i in range(3000)]
    selection = [s["name"] for s in specs[::2]]
    pages = split_pages(specs, selection)
    data, sha = encode(pages)
    ref = ConfigPages(blob=f"config-{sha}.json", sha256=sha, pages=len(pages), workspaces=len(specs))
    assert len(pages) > 3
    back = [decode_page(data, ref, i) for i in range(ref.pages)]
    assert [s for p in back for s in p["specs"]] == specs
    assert [n for p in back for n in p["selection"]] == selection
    assert all(len(json.dumps(p, separators=(",", ":"))) <= CONFIG_PAGE_BYTES + 64 for p in back)
    with pytest.raises(ValueError, match="does not match its SHA-256"):
        decode_page(data.replace(b"w00001", b"w99999"), ref, 0)


def test_a_result_is_cut_to_its_bound_diffs_first_and_counts_kept() -> None:
    attrs = [AttributeChange(path=f"tags.k{i}", before="a" * 150, after="b" * 150) for i in range(50)]
    workspaces = {
        f"w{i:04d}": WorkspaceReport(
            status=WorkspaceStatus.SUCCEEDED,
            outcome="changes",
            resources=[ResourceChange(address=f"r.{i}", action="update", attributes=attrs)],
            outputs={"id": f"w{i:04d}"},
        )
        for i in range(400)
    }
    report = RunReport(run_id="r", mode="plan", workspaces=workspaces)
    assert len(report.model_dump_json()) > 4 * RESULT_BYTES
    cut = bound_report(report)
    assert len(cut.model_dump_json()) <= RESULT_BYTES
    assert sorted(cut.workspaces) == sorted(workspaces)
    assert all(len(ws.resources) == 1 for ws in cut.workspaces.values())  # which resources change: kept
    assert cut.workspaces["w0001"].outputs == {"id": "w0001"}  # values kept while they fit
    assert any(ws.diff_truncated for ws in cut.workspaces.values())
    small = RunReport(run_id="r", mode="plan", workspaces=dict(list(workspaces.items())[:2]))
    assert bound_report(small) is small


def test_the_spec_store_gives_back_equal_specs_and_their_outlines() -> None:
    specs = layered(60, 25, pad=10)
    store = SpecStore.of(specs.values())
    names = ["w00030", "w00000", "w00059"]
    assert store.specs(names) == [specs[n] for n in names]
    outline = store.outlines["w00030"]
    assert outline.depends_on == tuple(specs["w00030"].depends_on)
    assert outline.sources == (("w00005", "id"),)
    assert outline.size == len(specs["w00030"].model_dump_json())


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_json_report_written_a_workspace_at_a_time_is_the_public_json(count: int) -> None:
    report = RunReport(
        run_id="r",
        mode="plan",
        trigger="cli",
        error="boom" if count else None,
        workspaces={f"w{i}": WorkspaceReport(outputs={"k": [i, "é"]}, output_changes=["k"]) for i in range(count)},
    )
    out = io.StringIO()
    report.write_public_json(out)
    assert out.getvalue() == json.dumps(report.public_json()) + "\n"
