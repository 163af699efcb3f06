"""Crash-safe tables: metadata first, rows fsynced, resume after a torn last line."""

from __future__ import annotations

import json

import pytest

from calibration.store import metadata_path, open_table
from tpf.errors import CalibrationError

COLUMNS = ("phase", "n_in_tokens", "energy_j", "warmup")
META = {"task": "energy_sweep", "model": "tiny-llama", "weights": "random-init", "dtype": "float32",
        "hardware": "h100_sxm", "source": "estimate"}


def test_metadata_is_on_disk_before_the_first_row(tmp_path):
    path = tmp_path / "run" / "energy.csv"
    with open_table(path, COLUMNS, META):
        saved = json.loads(metadata_path(path).read_text())
        assert saved["model"] == "tiny-llama"
        assert saved["runs"][0]["git_commit"]
        assert path.read_text() == "phase,n_in_tokens,energy_j,warmup\n"


def test_each_row_is_readable_as_soon_as_it_is_appended(tmp_path):
    path = tmp_path / "energy.csv"
    with open_table(path, COLUMNS, META) as table:
        table.append({"phase": "prefill", "n_in_tokens": 4, "energy_j": 1.5, "warmup": False})
        assert path.read_text().splitlines()[1] == "prefill,4,1.5,false"
        table.append({"phase": "total", "n_in_tokens": 4, "energy_j": float("nan"), "warmup": True})
        assert path.read_text().splitlines()[2] == "total,4,,true"


def test_resume_reads_rows_and_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "energy.csv"
    with open_table(path, COLUMNS, META) as table:
        table.append({"phase": "prefill", "n_in_tokens": 4, "energy_j": 1.5, "warmup": False})
    with path.open("a") as stream:
        stream.write("decode,4,2.")  # the row being written when the process died
    with open_table(path, COLUMNS, META) as table:
        assert [r["phase"] for r in table.existing_rows] == ["prefill"]
        table.append({"phase": "decode", "n_in_tokens": 4, "energy_j": 2.5, "warmup": False})
    assert path.read_text().splitlines()[1:] == ["prefill,4,1.5,false", "decode,4,2.5,false"]
    runs = json.loads(metadata_path(path).read_text())["runs"]
    assert len(runs) == 2 and runs[-1]["resumed_after_rows"] == 1


def test_resume_refuses_a_different_measurement(tmp_path):
    path = tmp_path / "energy.csv"
    open_table(path, COLUMNS, META).close()
    with pytest.raises(CalibrationError, match="model: table has 'tiny-llama', this run has 'llama-3.1-8b'"):
        open_table(path, COLUMNS, {**META, "model": "llama-3.1-8b"})
    with pytest.raises(CalibrationError, match="columns"):
        open_table(path, ("phase",), META)


def test_unknown_column_is_refused(tmp_path):
    with open_table(tmp_path / "t.csv", COLUMNS, META) as table, pytest.raises(CalibrationError, match="bogus"):
        table.append({"bogus": 1})


def test_resume_refuses_rows_of_another_dtype_naming_the_column(tmp_path):
    table = tmp_path / "energy.csv"
    with open_table(table, (*COLUMNS, "dtype"), META) as handle:
        handle.append({"phase": "prefill", "n_in_tokens": 4, "energy_j": 1.5, "warmup": False, "dtype": "float32"})
    metadata_path(table).unlink()  # the metadata is gone: the rows themselves must say what they are
    with pytest.raises(CalibrationError, match=r"row 1 \(line 2\), column dtype: the table holds 'float32' but this run measures 'float16'"):
        open_table(table, (*COLUMNS, "dtype"), {**META, "dtype": "float16"})


def test_corrupted_metadata_is_a_clear_error(tmp_path):
    table = tmp_path / "energy.csv"
    with open_table(table, COLUMNS, META):
        pass
    metadata_path(table).write_text("{not json")
    with pytest.raises(CalibrationError, match="metadata file is unreadable or corrupted"):
        open_table(table, COLUMNS, META)
