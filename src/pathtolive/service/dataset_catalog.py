"""The dataset catalog read from the metadata database alone: the datasets and their
versions. It needs no data library (pandas, pyarrow), so ``data list`` starts quickly;
:mod:`pathtolive.service.datasets` holds the operations that read or write the data."""

from __future__ import annotations

from pathtolive.auth import Permission
from pathtolive.entities import Dataset, DatasetVersion
from pathtolive.errors import NotFoundError
from pathtolive.refs import check_name
from pathtolive.service.context import ServiceContext
from pathtolive.store.metadata import MetadataSession

__all__ = ["list_datasets", "list_versions", "require_dataset"]


def list_datasets(ctx: ServiceContext) -> list[Dataset]:
    ctx.require(Permission.READ, "list datasets")
    with ctx.metadata.read() as session:
        return session.list_datasets()


def list_versions(ctx: ServiceContext, name: str) -> list[DatasetVersion]:
    ctx.require(Permission.READ, "list dataset versions")
    with ctx.metadata.read() as session:
        require_dataset(session, check_name(name))
        return session.list_versions(name)


def require_dataset(session: MetadataSession, name: str) -> None:
    """NotFoundError naming the known datasets, unless ``name`` is one."""
    if session.dataset_id(name) is None:
        known = [d.name for d in session.list_datasets()]
        hint = f"known datasets: {', '.join(known[:10])}" if known else "there are no datasets yet"
        raise NotFoundError(f"no dataset {name!r}; {hint} ('pathtolive data add' makes one)")
