"""Atomic writes through Arrow schemas."""

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
