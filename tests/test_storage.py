"""Atomic writes through Arrow schemas."""

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from formset.storage import atomic_path, read_table, write_table

SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("value", pa.float32())])


def test_round_trip_with_provenance(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    write_table(pd.DataFrame({"value": [1.5, None], "id": ["a", "b"], "extra": [1, 2]}), path, SCHEMA, {"stage": "x"})
    back = read_table(path, SCHEMA)
    assert list(back.columns) == ["id", "value"]
    assert back["value"].isna().tolist() == [False, True]
    assert b"formset.provenance" in pq.read_schema(path).metadata


def test_schema_violations_fail_loudly(tmp_path):
    with pytest.raises(KeyError):
        write_table(pd.DataFrame({"id": ["a"]}), tmp_path / "t.parquet", SCHEMA)
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        write_table(pd.DataFrame({"id": ["a"], "value": ["not a number"]}), tmp_path / "t.parquet", SCHEMA)
    with pytest.raises(ValueError):
        write_table(pd.DataFrame({"id": [None], "value": [1.0]}), tmp_path / "t.parquet", SCHEMA)
    assert not (tmp_path / "t.parquet").exists()


def test_a_failed_write_leaves_the_previous_version_intact(tmp_path):
    path = tmp_path / "t.parquet"
    write_table(pd.DataFrame({"id": ["old"], "value": [1.0]}), path, SCHEMA)
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half a parquet file")
            raise RuntimeError("killed mid-write")
    assert read_table(path, SCHEMA)["id"].tolist() == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"], "no temporary left behind"


def test_absent_table_reads_empty_with_schema(tmp_path):
    df = read_table(tmp_path / "nothing", SCHEMA)
    assert len(df) == 0 and list(df.columns) == ["id", "value"]


# --- what the writes promise, exactly (make mutation) ---------------------------------------------


def test_a_table_is_written_into_folders_that_do_not_exist_yet_compressed_with_zstd(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "a" / "b" / "t.parquet"
    write_table(pd.DataFrame({"id": ["x"], "value": [1.0]}, index=[7]), path, SCHEMA)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_table(path).column_names == ["id", "value"]  # the index is not stored


def test_the_same_table_and_provenance_give_the_same_bytes(tmp_path):
    first, second = tmp_path / "1.parquet", tmp_path / "2.parquet"
    table = pd.DataFrame({"id": ["x"], "value": [1.0]})
    write_table(table, first, SCHEMA, {"stage": "s", "params": {"b": 1, "a": 2}})
    write_table(table, second, SCHEMA, {"params": {"a": 2, "b": 1}, "stage": "s"})
    assert first.read_bytes() == second.read_bytes()


def test_a_folder_is_replaced_whole_and_a_link_is_replaced_not_followed(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "old.txt").write_text("old")
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in folder.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    target = tmp_path / "target"
    target.mkdir()
    (target / "kept.txt").write_text("kept")
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    with atomic_path(link) as tmp:
        tmp.write_text("a file now")
    assert not link.is_symlink() and link.read_text() == "a file now"
    assert (target / "kept.txt").read_text() == "kept"


def test_an_arrow_table_is_checked_in_full(tmp_path):
    from formset.storage import to_arrow

    offsets = pa.py_buffer(np.array([0, 1], dtype=np.int32).tobytes())
    not_utf8 = pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(b"\xff")])
    table = pa.table({"value": pa.array([1.0], pa.float32()), "id": not_utf8})
    with pytest.raises(pa.ArrowInvalid):
        to_arrow(table, SCHEMA)
    ok = to_arrow(pa.table({"value": pa.array([2.0]), "id": ["a"]}), SCHEMA)
    assert ok.schema == SCHEMA and ok.column("value").to_pylist() == [2.0]


def test_reading_a_folder_reads_every_partition_below_it(tmp_path):
    write_table(pd.DataFrame({"id": ["a"], "value": [1.0]}), tmp_path / "t" / "one.parquet", SCHEMA)
    write_table(pd.DataFrame({"id": ["b"], "value": [2.0]}), tmp_path / "t" / "sub" / "two.parquet", SCHEMA)
    (tmp_path / "t" / "notes.txt").write_text("not a table")
    assert read_table(tmp_path / "t", SCHEMA)["id"].tolist() == ["a", "b"]
    assert read_table(tmp_path / "t")["id"].tolist() == ["a", "b"]
    assert read_table(tmp_path / "t" / "one.parquet")["value"].tolist() == [1.0]


def test_reading_what_is_not_there(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    assert list(read_table(tmp_path / "empty", SCHEMA).columns) == ["id", "value"]
    assert read_table(tmp_path / "empty").empty


def test_json_is_written_indented_with_sorted_keys_and_a_final_newline(tmp_path):
    from formset.storage import write_json

    write_json({"b": [1], "a": None}, tmp_path / "x" / "out.json")
    assert (tmp_path / "x" / "out.json").read_text() == '{\n  "a": null,\n  "b": [\n    1\n  ]\n}\n'


def test_a_write_in_progress_is_a_hidden_temporary_beside_the_target(tmp_path):
    with atomic_path(tmp_path / "t.parquet") as tmp:
        folder = tmp.parent
        assert folder.parent == tmp_path and tmp.name == "t.parquet"
        assert re.fullmatch(r"\.t\.parquet\.[a-z0-9_]{8}\.tmp", folder.name), folder.name  # mkdtemp's 8 random
        tmp.write_bytes(b"x")
    assert not folder.exists()


def test_a_schema_given_to_read_is_the_schema_read(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"extra": [1], "value": pa.array([2.5], pa.float64()), "id": ["a"]}), tmp_path / "t.parquet")
    table = read_table(tmp_path / "t.parquet", SCHEMA)
    assert list(table.columns) == ["id", "value"] and table["value"].dtype == np.float32
    assert list(read_table(tmp_path / "t.parquet").columns) == ["extra", "value", "id"]
