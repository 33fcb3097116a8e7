"""Bringing files, folders and DataFrames to canonical Parquet."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pathtolive.data import canonical
from pathtolive.data.canonical import to_canonical_parquet
from pathtolive.errors import InvalidInputError, UnsupportedFormatError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_is_streamed_into_a_temporary_parquet_file(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "loans.csv", "id,age,grade,score\n1,30,A,0.5\n2,41,B,\n3,,A,1.5\n")

    table = to_canonical_parquet(source, work_dir)

    assert table.temporary
    assert table.path.parent == work_dir
    assert table.source_format == "csv"
    assert table.rows == 3
    assert table.source_bytes == source.stat().st_size
    assert table.arrow_schema.names == ["id", "age", "grade", "score"]
    assert table.arrow_schema.field("age").type == pa.int64()
    assert table.arrow_schema.field("grade").type == pa.string()
    data = pq.read_table(table.path)
    assert data.column("age").to_pylist() == [30, 41, None]
    assert data.column("score").to_pylist() == [0.5, None, 1.5]


def test_tsv_and_gzipped_csv(tmp_path: Path, work_dir: Path) -> None:
    tsv = write(tmp_path / "a.tsv", "x\ty\n1\tp\n2\tq\n")
    gz = tmp_path / "a.csv.gz"
    with gzip.open(gz, "wt") as handle:
        handle.write("x,y\n1,p\n2,q\n")

    from_tsv = to_canonical_parquet(tsv, work_dir)
    from_gz = to_canonical_parquet(gz, work_dir)

    assert pq.read_table(from_tsv.path).equals(pq.read_table(from_gz.path))
    assert from_gz.source_format == "csv"


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".json"])
def test_json_lines(tmp_path: Path, work_dir: Path, suffix: str) -> None:
    lines = [{"a": 1, "b": "x", "c": True}, {"a": 2, "b": None, "c": False}]
    source = write(tmp_path / f"rows{suffix}", "\n".join(json.dumps(line) for line in lines))

    table = to_canonical_parquet(source, work_dir)

    assert table.source_format == "jsonl"
    assert pq.read_table(table.path).to_pylist() == lines


def test_a_parquet_file_is_its_own_canonical_form(tmp_path: Path, work_dir: Path) -> None:
    source = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), source)
    before = source.read_bytes()

    table = to_canonical_parquet(source, work_dir)

    assert table.path == source
    assert not table.temporary
    assert table.source_format == "parquet"
    assert table.rows == 3
    assert table.arrow_schema.names == ["a", "b"]
    assert source.read_bytes() == before
    assert list(work_dir.iterdir()) == []


def test_a_dataframe_is_written_without_pandas_metadata(work_dir: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "s": ["x", None], "c": pd.Categorical(["u", "v"])})

    table = to_canonical_parquet(frame, work_dir)

    assert table.source_format == "dataframe"
    assert table.rows == 2
    schema = pq.read_schema(table.path)
    assert b"pandas" not in (schema.metadata or {})
    assert schema.field("s").type == pa.string()  # pandas' large_string is normalised


def test_identical_input_gives_identical_bytes(tmp_path: Path, work_dir: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(50_000), "b": np.arange(50_000) * 0.5})
    source = tmp_path / "big.csv"
    frame.to_csv(source, index=False)

    first = to_canonical_parquet(source, work_dir).path.read_bytes()
    second = to_canonical_parquet(source, work_dir).path.read_bytes()

    assert first == second
    assert (
        to_canonical_parquet(frame, work_dir).path.read_bytes()
        == to_canonical_parquet(frame, work_dir).path.read_bytes()
    )


def test_bytes_do_not_depend_on_how_the_input_was_chunked(
    tmp_path: Path, work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = pd.DataFrame({"a": np.arange(40_000), "b": [f"s{i % 97}" for i in range(40_000)]})
    source = tmp_path / "big.csv"
    frame.to_csv(source, index=False)
    monkeypatch.setattr(canonical, "_MIN_ROW_GROUP_ROWS", 1 << 12)
    monkeypatch.setattr(canonical, "_MAX_ROW_GROUP_ROWS", 1 << 14)
    large_blocks = to_canonical_parquet(source, work_dir).path.read_bytes()

    monkeypatch.setattr(canonical, "_CSV_BLOCK_BYTES", 1 << 14)
    small_blocks = to_canonical_parquet(source, work_dir)

    assert small_blocks.path.read_bytes() == large_blocks
    metadata = pq.ParquetFile(small_blocks.path).metadata
    assert metadata.num_row_groups == 3
    assert metadata.row_group(0).num_rows == 1 << 14


def test_canonical_files_carry_statistics_and_fixed_compression(work_dir: Path) -> None:
    table = to_canonical_parquet(pd.DataFrame({"a": [3, 1, 2]}), work_dir)

    column = pq.ParquetFile(table.path).metadata.row_group(0).column(0)

    assert column.compression == "ZSTD"
    assert (column.statistics.min, column.statistics.max) == (1, 3)


def test_a_column_empty_in_the_first_rows_is_read_as_text(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "notes.csv", "a,note\n1,\n2,\n")

    table = to_canonical_parquet(source, work_dir)

    assert table.arrow_schema.field("note").type == pa.string()


def test_a_folder_of_files_is_one_table_in_name_order(tmp_path: Path, work_dir: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    write(folder / "part-2.csv", "a,b\n3,z\n")
    write(folder / "part-1.csv", "b,a\nx,1\ny,2\n")  # another column order is fine
    write(folder / "_SUCCESS", "")
    write(folder / ".hidden.csv", "junk")

    table = to_canonical_parquet(folder, work_dir)

    assert table.rows == 3
    assert pq.read_table(table.path).to_pydict() == {"b": ["x", "y", "z"], "a": [1, 2, 3]}
    assert table.source_bytes == sum(
        (folder / name).stat().st_size for name in ("part-1.csv", "part-2.csv")
    )


def test_a_folder_file_is_read_with_the_types_of_the_first(tmp_path: Path, work_dir: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    write(folder / "1.csv", "price\n1.5\n")
    write(folder / "2.csv", "price\n2\n")

    table = to_canonical_parquet(folder, work_dir)

    assert pq.read_table(table.path).column("price").to_pylist() == [1.5, 2.0]


def test_a_folder_of_parquet_files(tmp_path: Path, work_dir: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"a": pa.array([1.5])}), folder / "1.parquet")
    pq.write_table(pa.table({"a": pa.array([2], pa.int64())}), folder / "2.parquet")

    table = to_canonical_parquet(folder, work_dir)

    assert table.temporary
    assert table.source_format == "parquet"
    assert pq.read_table(table.path).column("a").to_pylist() == [1.5, 2.0]


def test_folder_files_with_other_columns_are_named(tmp_path: Path, work_dir: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    write(folder / "1.csv", "a,b\n1,2\n")
    write(folder / "2.csv", "a,c\n1,2\n")

    with pytest.raises(InvalidInputError, match=r"2\.csv does not have the columns.*'b'.*'c'"):
        to_canonical_parquet(folder, work_dir)


def test_folder_files_with_other_types_are_named(tmp_path: Path, work_dir: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.table({"a": pa.array([1])}), folder / "1.parquet")
    pq.write_table(pa.table({"a": pa.array(["x"])}), folder / "2.parquet")

    with pytest.raises(InvalidInputError, match=r"2\.parquet: column 'a' is string but int64"):
        to_canonical_parquet(folder, work_dir)


def test_a_folder_mixing_formats_is_refused(tmp_path: Path, work_dir: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    write(folder / "1.csv", "a\n1\n")
    write(folder / "2.jsonl", '{"a": 1}\n')

    with pytest.raises(InvalidInputError, match="mixes formats"):
        to_canonical_parquet(folder, work_dir)


def test_empty_and_nested_folders_are_refused(tmp_path: Path, work_dir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    nested = tmp_path / "nested"
    (nested / "inner").mkdir(parents=True)

    with pytest.raises(InvalidInputError, match="has no data files"):
        to_canonical_parquet(empty, work_dir)
    with pytest.raises(InvalidInputError, match="contains the folder 'inner'"):
        to_canonical_parquet(nested, work_dir)


def test_format_overrides_the_extension(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "export.txt", "a;b\n1;2\n".replace(";", "\t"))

    table = to_canonical_parquet(source, work_dir, fmt="tsv")

    assert table.arrow_schema.names == ["a", "b"]


def test_missing_file(tmp_path: Path, work_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"^file not found: .*nope\.csv$"):
        to_canonical_parquet(tmp_path / "nope.csv", work_dir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "secret.csv", "a\n1\n")
    source.chmod(0)

    with pytest.raises(InvalidInputError, match="permission denied"):
        to_canonical_parquet(source, work_dir)


def test_unsupported_extension(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "book.xlsx", "not really")

    with pytest.raises(UnsupportedFormatError, match=r"cannot tell the format.*--format"):
        to_canonical_parquet(source, work_dir)


def test_unknown_format_name(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "a.csv", "a\n1\n")

    with pytest.raises(UnsupportedFormatError, match="unknown format 'xlsx'; use one of csv"):
        to_canonical_parquet(source, work_dir, fmt="xlsx")


@pytest.mark.parametrize(
    ("name", "text"),
    [("empty.csv", ""), ("header.csv", "a,b\n"), ("empty.jsonl", "")],
)
def test_a_table_without_rows_is_refused(
    tmp_path: Path, work_dir: Path, name: str, text: str
) -> None:
    source = write(tmp_path / name, text)

    with pytest.raises(InvalidInputError, match=f"{name} has no rows; a dataset version needs"):
        to_canonical_parquet(source, work_dir)
    assert list(work_dir.iterdir()) == []


def test_an_empty_parquet_file_is_refused(tmp_path: Path, work_dir: Path) -> None:
    source = tmp_path / "zero.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), source)

    with pytest.raises(InvalidInputError, match="has no rows"):
        to_canonical_parquet(source, work_dir)


def test_a_row_with_the_wrong_number_of_fields_names_its_line(
    tmp_path: Path, work_dir: Path
) -> None:
    source = write(tmp_path / "broken.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n")

    with pytest.raises(
        InvalidInputError, match=r"broken\.csv line 3 has 2 fields where the header has 3"
    ):
        to_canonical_parquet(source, work_dir)


def test_a_later_value_of_another_type_names_the_column(
    tmp_path: Path, work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(canonical, "_CSV_BLOCK_BYTES", 1 << 12)
    rows = "".join(f"{i},{i % 7}\n" for i in range(3_000))
    source = write(tmp_path / "late.csv", f"amount,code\n{rows}oops,1\n")

    with pytest.raises(
        InvalidInputError,
        match=r"column 'amount' was read as int64 from the first rows, but a later row has "
        r"'oops'; fix that value, or save the data as Parquet",
    ):
        to_canonical_parquet(source, work_dir)
    assert list(work_dir.iterdir()) == []


def test_duplicate_column_names(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "dup.csv", "a,a\n1,2\n")

    with pytest.raises(InvalidInputError, match="more than one column named 'a'"):
        to_canonical_parquet(source, work_dir)


def test_an_unnamed_column(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "noname.csv", ",a\n1,2\n")

    with pytest.raises(InvalidInputError, match="column 1 has an empty name"):
        to_canonical_parquet(source, work_dir)


def test_a_corrupt_parquet_file(tmp_path: Path, work_dir: Path) -> None:
    source = tmp_path / "broken.parquet"
    source.write_bytes(b"PAR1 this is not parquet")

    with pytest.raises(InvalidInputError, match=r"broken\.parquet is not a readable Parquet"):
        to_canonical_parquet(source, work_dir)


def test_a_json_array_is_not_json_lines(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "rows.json", '[{"a": 1}, {"a": 2}]')

    with pytest.raises(UnsupportedFormatError, match="holds one JSON array; pathtolive reads"):
        to_canonical_parquet(source, work_dir)


def test_a_json_field_that_changes_type(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "rows.jsonl", '{"a": 1}\n{"a": "x"}\n')

    with pytest.raises(InvalidInputError, match=r"Column\(/a\) changed from number to string"):
        to_canonical_parquet(source, work_dir)


def test_malformed_json(tmp_path: Path, work_dir: Path) -> None:
    source = write(tmp_path / "rows.jsonl", '{"a": 1\n')

    with pytest.raises(InvalidInputError, match=r"cannot read .*rows\.jsonl as JSON Lines"):
        to_canonical_parquet(source, work_dir)


@pytest.mark.parametrize(
    ("column", "type_name"),
    [
        (pa.array([[1], [2]]), "list"),
        (pa.array([{"x": 1}, {"x": 2}]), "struct"),
        (pa.array([b"a", b"b"]), "binary"),
    ],
)
def test_unsupported_column_types_are_named(
    tmp_path: Path, work_dir: Path, column: pa.Array, type_name: str
) -> None:
    source = tmp_path / "odd.parquet"
    pq.write_table(pa.table({"ok": [1, 2], "odd": column}), source)

    with pytest.raises(
        InvalidInputError, match=f"column 'odd' has type {type_name}.*does not support"
    ):
        to_canonical_parquet(source, work_dir)


def test_dataframe_column_names_must_be_strings(work_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="column 1 has a name of type int"):
        to_canonical_parquet(pd.DataFrame({0: [1]}), work_dir)


def test_dataframe_with_duplicate_columns(work_dir: Path) -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])

    with pytest.raises(InvalidInputError, match="more than one column named 'a'"):
        to_canonical_parquet(frame, work_dir)


def test_dataframe_without_rows_or_columns(work_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="has no columns"):
        to_canonical_parquet(pd.DataFrame(), work_dir)
    with pytest.raises(InvalidInputError, match="has no rows"):
        to_canonical_parquet(pd.DataFrame({"a": []}), work_dir)


def test_dataframe_column_mixing_types_is_named(work_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="DataFrame column 'm' to Arrow"):
        to_canonical_parquet(pd.DataFrame({"m": [1, "x"]}), work_dir)


def test_parquet_with_an_unnamed_pandas_index_is_rewritten_without_it(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": range(10), "b": list("abcdefghij")})
    sampled = frame.sample(frac=0.5, random_state=0)
    sampled.to_parquet(tmp_path / "sampled.parquet")
    assert "__index_level_0__" in pq.read_schema(tmp_path / "sampled.parquet").names

    canonical = to_canonical_parquet(tmp_path / "sampled.parquet", tmp_path / "work")
    assert canonical.temporary
    assert canonical.arrow_schema.names == ["a", "b"]
    assert canonical.rows == 5
    back = pq.read_table(canonical.path).to_pandas()
    assert back["a"].tolist() == sampled["a"].tolist()


def test_parquet_without_an_index_column_is_kept_as_it_is(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1, 2, 3]}).to_parquet(tmp_path / "plain.parquet")
    canonical = to_canonical_parquet(tmp_path / "plain.parquet", tmp_path / "work")
    assert not canonical.temporary
    assert canonical.path == tmp_path / "plain.parquet"


def test_a_named_dataframe_index_is_kept_as_a_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"loan_id": [10, 11], "x": [1.0, 2.0]}).set_index("loan_id")
    canonical = to_canonical_parquet(frame, tmp_path)
    assert canonical.arrow_schema.names == ["loan_id", "x"]
    unnamed = pd.DataFrame({"x": [1.0, 2.0]}, index=[5, 9])
    assert to_canonical_parquet(unnamed, tmp_path).arrow_schema.names == ["x"]


def test_an_index_named_like_a_column_is_a_clear_error(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2]}, index=pd.Index([1, 2], name="x"))
    with pytest.raises(InvalidInputError, match="index 'x'"):
        to_canonical_parquet(frame, tmp_path)
