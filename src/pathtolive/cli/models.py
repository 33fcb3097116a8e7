"""``pathtolive models …``, ``alias …`` and ``lineage``: the model registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pathtolive.cli.output import JsonOption, console, emit, table, when
from pathtolive.cli.state import open_context

if TYPE_CHECKING:
    from pathtolive.entities import ModelVersion

__all__ = ["alias_app", "lineage", "models_app"]

models_app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)
alias_app = typer.Typer(help="Movable names on model versions.", no_args_is_help=True)


@models_app.command("list")
def models_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List models with their latest version and aliases."""
    from pathtolive.service import models as service

    models = service.list_models(open_context(ctx))
    emit(
        models,
        as_json,
        lambda: console.print(
            table(
                "Models",
                ["name", "latest", "aliases", "created", "by"],
                [
                    [
                        m.name,
                        m.latest_version,
                        ", ".join(f"{a}@{v}" for a, v in m.aliases.items()),
                        when(m.created_at),
                        m.created_by,
                    ]
                    for m in models
                ],
            )
            if models
            else "No models yet: 'pathtolive run PIPELINE --register NAME' makes one."
        ),
    )


@models_app.command("show")
def models_show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@ALIAS or NAME.")],
    as_json: JsonOption = False,
) -> None:
    """Show a model version: artifact, flavor, signature, metrics, run, alias history."""
    from pathtolive.service import models as service
    from pathtolive.service.erasure import erased_inputs

    service_ctx = open_context(ctx)
    version = service.model_version(service_ctx, ref)
    history = service.alias_history(service_ctx, version.model)
    erased = erased_inputs(service_ctx, version.run_id)

    def render() -> None:
        _render_version(version)
        if erased:
            console.print(f"[bold red]trained on erased data {escape(', '.join(erased))}[/]")
        if history:
            console.print(
                table(
                    "Alias history",
                    ["when", "alias", "from", "to", "by", "reason"],
                    [
                        [when(h.at), h.alias, h.from_version, h.to_version, h.actor, h.reason]
                        for h in history
                    ],
                )
            )

    emit({"version": version, "alias_history": history, "erased_data": erased}, as_json, render)


def _render_version(version: ModelVersion) -> None:
    aliases = f" [{', '.join(version.aliases)}]" if version.aliases else ""
    console.print(
        f"[bold]{version.ref}[/]{escape(aliases)} {version.flavor}, "
        f"{version.artifact_bytes:,} bytes, artifact {version.artifact_digest}"
    )
    console.print(
        f"from run {version.run_id[:12]} ({version.source}), by {version.created_by}, "
        f"{when(version.created_at)}"
    )
    if version.description:
        console.print(escape(version.description))
    if version.metrics:
        console.print(
            "metrics: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(version.metrics.items()))
        )
    if version.signature:
        inputs = version.signature.get("inputs", [])
        output = version.signature.get("output", {})
        console.print(
            "signature: "
            + ", ".join(f"{i['name']}:{i['type']}" for i in inputs[:12])
            + (f" (+{len(inputs) - 12})" if len(inputs) > 12 else "")
            + f" → {output.get('kind', '?')}"
        )


@models_app.command("import-mlflow")
def models_import_mlflow(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="An MLflow model folder (with MLmodel).")],
    name: Annotated[str, typer.Option(help="Register under this model name.")],
    trust_pickle: Annotated[
        bool, typer.Option("--trust-pickle", help="Allow a pickle-format model (runs code).")
    ] = False,
    trust: Annotated[
        list[str] | None, typer.Option("--trust", help="A type to trust in a skops model.")
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="The dataset version it was trained on (NAME@VERSION), if it is in the "
            "workspace: the gates then refuse a holdout that shares rows with it."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a model from an MLflow model folder, without needing mlflow."""
    from pathtolive.service import models as service

    version = service.import_mlflow(
        open_context(ctx), folder, name, trust_pickle=trust_pickle, trusted=trust or [], data=data
    )
    emit(version, as_json, lambda: console.print(f"[green]Imported[/] {version.ref}"))


@models_app.command("import-onnx")
def models_import_onnx(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An ONNX model file (.onnx).")],
    name: Annotated[str, typer.Option(help="Register under this model name.")],
    data: Annotated[
        str | None,
        typer.Option(
            help="The dataset version it was trained on (NAME@VERSION): its schema types "
            "the inputs, and is checked against the graph's."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register an ONNX model (a graph, no code: nothing to trust), run by onnxruntime."""
    from pathtolive.service import models as service

    version = service.import_onnx(open_context(ctx), file, name, data=data)
    emit(version, as_json, lambda: console.print(f"[green]Imported[/] {version.ref}"))


@alias_app.command("set")
def alias_set(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version to point at, NAME@VERSION.")],
    alias: Annotated[str, typer.Argument(help="The alias, e.g. staging.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the alias history).")] = "",
    override: Annotated[
        str | None,
        typer.Option(help="Admins: move an alias that has a promotion policy, saying why."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Point an alias without a promotion policy at a model version (the move is recorded).
    live, and aliases under [models.NAME.promotion], move by promote/approve/rollback."""
    from pathtolive.service import models as service

    move = service.set_alias(open_context(ctx), ref, alias, reason=reason, override=override)
    emit(
        move,
        as_json,
        lambda: console.print(
            f"{move.model}@{alias} → {move.to_version}"
            + (f" (was {move.from_version})" if move.from_version else "")
        ),
    )


@alias_app.command("list")
def alias_list(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List aliases and the versions they point at."""
    from pathtolive.service import models as service

    models = service.list_models(open_context(ctx))
    rows = [
        {"model": m.name, "alias": alias, "version": version}
        for m in models
        if model is None or m.name == model
        for alias, version in m.aliases.items()
    ]
    emit(
        rows,
        as_json,
        lambda: console.print(
            table(
                "Aliases",
                ["model", "alias", "version"],
                [[r["model"], r["alias"], r["version"]] for r in rows],
            )
        ),
    )


def lineage(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="MODEL@VERSION, or DATASET@VERSION with --reverse.")],
    reverse: Annotated[
        bool, typer.Option("--reverse", help="From a dataset version to what it fed.")
    ] = False,
    openlineage: Annotated[
        Path | None,
        typer.Option(help="Also write OpenLineage run events (JSON lines) to this file."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Where a model came from (run, code, params, environment, data), or with --reverse
    every run and model version a dataset version fed."""
    from pathtolive.lineage import render_tree
    from pathtolive.service import lineage as lineage_service

    service_ctx = open_context(ctx)
    node = lineage_service.lineage(service_ctx, ref, reverse=reverse)
    if openlineage is not None:
        events = lineage_service.openlineage_events(service_ctx, node)
        openlineage.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")

    def render() -> None:
        for line in render_tree(node):
            console.print(escape(line))

    emit(node, as_json, render)


@models_app.command("card")
def models_card(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ALIAS.")],
    out: Annotated[Path, typer.Option(help="Folder to write NAME-vN.md and .html into.")] = Path(
        "."
    ),
    as_json: JsonOption = False,
) -> None:
    """Write the model card as Markdown and as one self-contained HTML file."""
    from pathtolive.service import models as service
    from pathtolive.service.card import model_card
    from pathtolive.ui import model_card_html, model_card_markdown

    service_ctx = open_context(ctx)
    version = service.model_version(service_ctx, ref)
    card = model_card(service_ctx, version.ref)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{version.model}-v{version.version}"
    markdown, page = stem.with_suffix(".md"), stem.with_suffix(".html")
    markdown.write_text(model_card_markdown(card), encoding="utf-8")
    page.write_text(model_card_html(card), encoding="utf-8")
    emit(
        {"markdown": markdown, "html": page},
        as_json,
        lambda: console.print(f"Wrote {markdown} and {page}"),
    )
