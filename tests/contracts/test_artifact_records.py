"""Every artifact store backend keeps write-once records (the audit chain's checkpoints)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pathtolive.errors import ConflictError, InvalidInputError, NotFoundError
from tests.contracts.conftest import Backend


def test_a_record_is_written_once_and_listed(backend: Backend) -> None:
    store = backend.store
    assert store.list_records("checkpoints") == []
    store.put_record("checkpoints/0001-a.json", b'{"a": 1}')
    store.put_record("checkpoints/0002-b.json", b'{"b": 2}')
    assert store.list_records("checkpoints/") == [
        "checkpoints/0001-a.json",
        "checkpoints/0002-b.json",
    ]
    assert store.get_record("checkpoints/0002-b.json") == b'{"b": 2}'
    with pytest.raises(ConflictError, match="never replaced"):
        store.put_record("checkpoints/0001-a.json", b"other")
    assert store.get_record("checkpoints/0001-a.json") == b'{"a": 1}'
    # Records are not objects: the content-addressed listing does not see them.
    assert list(store.iter_digests()) == []
    assert backend.list_temporary() == []


def test_a_missing_record_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFoundError):
        backend.store.get_record("checkpoints/nope.json")


@pytest.mark.parametrize(
    "name", ["objects/ab", "tmp/x", "checkpoints/../objects/x", "checkpoints/", "x", "../y"]
)
def test_record_names_outside_their_prefixes_are_refused(backend: Backend, name: str) -> None:
    with pytest.raises(InvalidInputError):
        backend.store.put_record(name, b"x")


def test_of_writers_racing_for_one_record_name_exactly_one_wins(backend: Backend) -> None:
    if backend.name.startswith("memory"):
        pytest.skip("fsspec's memory filesystem looks a name up, then writes it: no guard")
    name = "checkpoints/0001-raced.json"
    writers = 4  # SeaweedFS makes conditional writes to one key wait their turn
    start = threading.Barrier(writers)

    def write(index: int) -> bytes | None:
        data = f'{{"writer": {index}}}'.encode()
        start.wait()
        try:
            backend.store.put_record(name, data)
        except ConflictError:
            return None
        return data

    with ThreadPoolExecutor(max_workers=writers) as pool:
        written = [data for data in pool.map(write, range(writers)) if data is not None]

    assert len(written) == 1
    assert backend.store.get_record(name) == written[0]
    assert backend.store.list_records("checkpoints") == [name]
