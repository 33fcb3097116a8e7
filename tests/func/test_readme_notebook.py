"""The README's notebook example runs as written, in this process, in the workspace the
quick start leaves (two versions of the loans, the April file beside them) with the
section's pipeline module: it adds data, runs the pipeline, tracks a run by hand, and
releases its model through the gates and the default policy (promote, then approve) so
``load_model("income-only@live")`` finds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathtolive import Workspace
from tests.func.test_readme_reference import blocks, loans, within
from tests.support.environ import as_ada_in

SECTION = "Pipelines, runs and the model registry"


def test_the_notebook_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline_code, notebook_code = blocks(SECTION, "python")
    as_ada_in(monkeypatch, tmp_path)
    first = loans(600, seed=1)
    with Workspace.init(tmp_path) as ws:
        ws.add_dataset(first, "loans")
        ws.add_dataset(within(loans(600, seed=2), first), "loans")
    within(loans(400, seed=3), first).to_csv("loans-april.csv", index=False)
    module = tmp_path / pipeline_code.splitlines()[0].removeprefix("# ").strip()
    module.parent.mkdir(parents=True)
    module.write_text(pipeline_code)

    exec(compile(notebook_code, "README notebook example", "exec"), {"__name__": "__main__"})

    printed = capsys.readouterr().out
    with Workspace.open(tmp_path) as ws:
        before, after = ws.dataset("loans@2").rows, ws.dataset("loans@3").rows
    assert printed.startswith(f"rows: {before} → {after} ")  # the diff of loans@2 and @3
    assert "income-only@1 passed all" in printed
    with Workspace.open(tmp_path) as ws:
        live = ws.model("income-only@live")
        assert live.version == 1
        run = ws.lineage("income-only@1")
        assert [v.version for v in ws.versions("loans")] == [1, 2, 3]
        tracked = ws.context.metadata.read
        with tracked() as session:
            stored = session.get_run(live.run_id)
            params = session.run_params(live.run_id)
        assert stored is not None
        # The run by hand has a pipeline run's lineage: data, code, environment, params.
        assert (stored.kind, stored.pipeline, stored.status) == (
            "notebook",
            "income-only",
            "succeeded",
        )
        assert stored.inputs == {"data": "loans@3"}
        assert stored.environment_digest is not None
        assert params == {"features": ["age", "income"]}
        assert set(live.metrics) == {"roc_auc"}
        assert run.children  # the lineage tree reaches its run and data
        actions = [event.action for event in ws.audit_log(limit=None)]
    for action in ("run.started", "run.finished", "gates.checked", "promotion.approved"):
        assert action in actions
