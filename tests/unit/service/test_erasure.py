"""Dataset access audit and erasure through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from pathtolive import Workspace, env
from pathtolive.errors import ConflictError, DataErasedError, PathToLiveError
from pathtolive.service import datasets as dataset_service
from pathtolive.service import models as model_service
from pathtolive.service.context import ServiceContext
from pathtolive.service.erasure import dataset_access, erased_inputs, forget_version
from pathtolive.service.tokens import create_token
from pathtolive.service.workspace import init_workspace, open_workspace


def _frame(reverse: bool = False) -> pd.DataFrame:
    """Forty rows; ``reverse`` holds the same values in another order (another version
    that meets the first one's contract)."""
    values = [float(i) for i in range(40)]
    return pd.DataFrame({"x": values[::-1] if reverse else values, "y": [i % 2 for i in range(40)]})


@pytest.fixture
def ctx(
    tmp_path: Path, metadata_url: str, clean_environ: dict[str, str]
) -> Iterator[ServiceContext]:
    ctx = init_workspace(
        tmp_path / "ws", metadata_url=metadata_url, environ=clean_environ, local_role="admin"
    )
    dataset_service.add_dataset(ctx, _frame(), "loans")
    dataset_service.add_dataset(ctx, _frame(reverse=True), "loans")
    yield ctx
    ctx.close()


def _as(ctx: ServiceContext, principal: str, role: str) -> ServiceContext:
    secret = create_token(ctx, principal=principal, role=role).secret
    return open_workspace(
        ctx.settings.root,
        environ={**ctx.settings.environ, env.TOKEN: secret},
        metadata_url=ctx.settings.metadata_url,
        artifact_url=ctx.settings.artifact_url,
    )


def test_reads_are_audited_per_version_with_the_readers_principal(ctx: ServiceContext) -> None:
    viewer = _as(ctx, "val", "viewer")
    try:
        dataset_service.load_frame(viewer, "loans@1", purpose="quarterly review")
    finally:
        viewer.close()
    dataset_service.load_frame(ctx, "loans@2")
    (read,) = dataset_access(ctx, "loans@1")
    assert (read.actor, read.details["purpose"], read.details["role"]) == (
        "val",
        "quarterly review",
        "viewer",
    )
    assert [e.details["purpose"] for e in dataset_access(ctx, "loans@2")] == ["load"]
    tombstone = Workspace(ctx).forget("loans@2", reason="request")
    assert (tombstone.forgotten, tombstone.forgotten_reason) == (True, "request")


def test_forgetting_marks_the_models_and_refuses_every_read(ctx: ServiceContext) -> None:
    data = dataset_service.load_frame(ctx, "loans@1")
    model = LogisticRegression().fit(data[["x"]], data["y"])
    version = model_service.register_model(ctx, model, "risk", data="loans@1")
    other = model_service.register_model(ctx, model, "risk", data="loans@2")

    result = forget_version(ctx, "loans@1", reason="erasure request")
    assert result.bytes_deleted
    assert result.model_versions == ("risk@1",)
    assert result.version.forgotten_by == "ada"
    assert erased_inputs(ctx, version.run_id) == ["loans@1"]
    assert erased_inputs(ctx, other.run_id) == []
    with pytest.raises(DataErasedError, match=r"loans@1 was erased on .* by ada"):
        dataset_service.load_frame(ctx, "loans@1")
    with pytest.raises(DataErasedError):
        model_service.register_model(ctx, model, "risk", data="loans@1")
    events = dataset_access(ctx, "loans@1")
    assert [(e.action, e.details.get("purpose")) for e in events] == [
        ("dataset.forgotten", None),
        ("dataset.read", "model signature sample"),
        ("dataset.read", "load"),
    ]
    assert len(dataset_service.load_frame(ctx, "loans@2")) == 40


def test_of_two_concurrent_erasures_exactly_one_is_recorded(ctx: ServiceContext) -> None:
    contexts = [
        open_workspace(
            ctx.settings.root,
            environ=ctx.settings.environ,
            metadata_url=ctx.settings.metadata_url,
            artifact_url=ctx.settings.artifact_url,
        )
        for _ in range(2)
    ]
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def forget(each: ServiceContext) -> None:
        start.wait()
        try:
            outcomes.append(forget_version(each, "loans@2", reason="request"))
        except PathToLiveError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=forget, args=(each,)) for each in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for each in contexts:
        each.close()
    refused = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(outcomes) == 2
    assert len(refused) == 1
    assert "erased already" in refused[0].message
    events = [e for e in dataset_access(ctx, "loans@2") if e.action == "dataset.forgotten"]
    assert len(events) == 1
