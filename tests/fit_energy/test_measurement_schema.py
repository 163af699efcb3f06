"""Bad input gets one clear error naming the file, the row and the column."""

from __future__ import annotations

import pandas as pd
import pytest

from tpf.errors import DataError
from tpf.schema import (
    MEASUREMENT_COLUMNS,
    aggregate_accuracy,
    columns_markdown,
    read_accuracy,
    read_measurements,
)

HEADER = "model,hardware,n_in_tokens,n_out_tokens,batch_size,energy_j,duration_s"
GOOD = "m,h,10,20,1,100.5,1.5"


def _write(tmp_path, lines, name="measurements.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_good_table_is_typed_with_defaults(tmp_path):
    path = _write(tmp_path, [HEADER, GOOD, "m,h,10,20,4,400,", ""])
    table = read_measurements(path)
    assert list(table["energy_j"]) == [100.5, 400.0]
    assert table["phase"].tolist() == ["total", "total"]
    assert table["gpu_count"].tolist() == [1, 1]
    assert not table["warmup"].any()
    assert pd.isna(table["duration_s"].iloc[1])


@pytest.mark.parametrize(
    "header, row, place",
    [
        (HEADER, "m,h,10,20,1,-3,1.5", "row 2 (line 3), column energy_j: must be a number > 0, got '-3'"),
        (HEADER, "m,h,10,20,1,lots,1.5", "row 2 (line 3), column energy_j: must be a number > 0, got 'lots'"),
        (HEADER, "m,h,0,20,1,100,1.5", "row 2 (line 3), column n_in_tokens: must be a number > 0, got '0'"),
        (HEADER, "m,h,10,0,1,100,1.5", "row 2 (line 3), column n_out_tokens: must be > 0 (0 only on phase=prefill rows)"),
        (HEADER, "m,h,10,20,0.5,100,1.5", "row 2 (line 3), column batch_size: must be a number >= 1, got '0.5'"),
        (HEADER, ",h,10,20,1,100,1.5", "row 2 (line 3), column model: missing value"),
        (HEADER + ",strategy", GOOD + ",beam", "row 2 (line 3), column strategy: must be one of zero_shot|cot|mv, got 'beam'"),
        (HEADER + ",phase", GOOD + ",middle", "row 2 (line 3), column phase: must be one of prefill|decode|total"),
        (HEADER + ",warmup", GOOD + ",maybe", "row 2 (line 3), column warmup: must be true|false"),
        (HEADER + ",gpu_count", GOOD + ",1.5", "row 2 (line 3), column gpu_count: must be an integer >= 1, got '1.5'"),
        (HEADER, HEADER, "row 2 (line 3): repeats the header line"),
    ],
)
def test_bad_cell_names_file_row_and_column(tmp_path, header, row, place):
    first = GOOD if header == HEADER else GOOD + "," + _NEUTRAL[header.split(",")[-1]]
    path = _write(tmp_path, [header, first, row])
    with pytest.raises(DataError) as info:
        read_measurements(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert place in message
    assert "problem" not in message  # exactly one problem, stated on its own


_NEUTRAL = {"strategy": "cot", "phase": "total", "warmup": "false", "gpu_count": "2"}


def test_zero_output_tokens_allowed_on_prefill_rows(tmp_path):
    path = _write(tmp_path, [HEADER + ",phase", "m,h,10,0,1,100,1.5,prefill"])
    assert read_measurements(path)["n_out_tokens"].tolist() == [0.0]


def test_missing_column_is_named(tmp_path):
    path = _write(tmp_path, ["model,hardware,n_in_tokens,n_out_tokens,batch_size,duration_s", "m,h,1,2,1,1"])
    with pytest.raises(DataError, match=rf"{path}: missing required column\(s\) energy_j of the measurement table"):
        read_measurements(path)


def test_duplicated_header_column_is_named(tmp_path):
    path = _write(tmp_path, [HEADER + ",energy_j", GOOD + ",3"])
    with pytest.raises(DataError, match=rf"{path}: column\(s\) energy_j appear more than once"):
        read_measurements(path)


def test_every_problem_is_reported_at_once(tmp_path):
    path = _write(tmp_path, [HEADER, "m,h,10,20,1,-1,1.5", GOOD, "m,h,x,20,1,100,-2"])
    with pytest.raises(DataError) as info:
        read_measurements(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: 3 problem(s) in the data:"
    assert "row 1 (line 2), column energy_j" in lines[1]
    assert "row 3 (line 4), column n_in_tokens" in lines[2]
    assert "row 3 (line 4), column duration_s" in lines[3]


def test_empty_file(tmp_path):
    path = _write(tmp_path, [HEADER])
    with pytest.raises(DataError, match="no data rows"):
        read_measurements(path)


def test_catalog_renders_as_markdown():
    text = columns_markdown(MEASUREMENT_COLUMNS)
    assert text.count("\n") == len(MEASUREMENT_COLUMNS) + 1
    assert "| `energy_j` | yes | J | a number > 0 |" in text


ACC_HEADER = "model,category,strategy,budget_tokens,votes,n_items,n_correct"


def test_accuracy_aggregated_and_per_item(tmp_path):
    aggregated = read_accuracy(_write(tmp_path, [ACC_HEADER, "m,math,cot,256,1,100,41.5", "m,math,mv,,5,100,50"], "a.csv"))
    assert aggregated["budget_tokens"].tolist() == [256.0, 0.0]
    assert aggregated["votes"].tolist() == [1, 5]
    per_item = read_accuracy(_write(tmp_path, [
        "model,category,strategy,budget_tokens,votes,item_id,correct",
        "m,law,zero_shot,0,1,q1,1", "m,law,zero_shot,0,1,q2,false", "m,law,zero_shot,0,1,q3,yes",
    ], "b.csv"))
    counts = aggregate_accuracy(per_item)
    assert counts[["n_items", "n_correct"]].values.tolist() == [[3, 2.0]]


@pytest.mark.parametrize(
    "row, place",
    [
        ("m,math,greedy,0,1,10,5", "row 1 (line 2), column strategy: must be one of zero_shot|cot|mv, got 'greedy'"),
        ("m,math,cot,0,1,10,11", "row 1 (line 2), column n_correct: must be <= n_items"),
        ("m,math,cot,0,3,10,5", "row 1 (line 2), column votes: must be 1 unless strategy is mv"),
        ("m,math,cot,-5,1,10,5", "row 1 (line 2), column budget_tokens: must be a number >= 0, got '-5'"),
    ],
)
def test_accuracy_bad_rows(tmp_path, row, place):
    path = _write(tmp_path, [ACC_HEADER, row], "acc.csv")
    with pytest.raises(DataError, match=f"^{path}: " + place.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
        read_accuracy(path)


def test_accuracy_needs_a_layout(tmp_path):
    path = _write(tmp_path, ["model,category,strategy", "m,math,cot"], "acc.csv")
    with pytest.raises(DataError, match="n_items and n_correct .* or item_id and correct"):
        read_accuracy(path)


def test_rows_recorded_as_failed_are_dropped_not_rejected(tmp_path):
    from tpf.schema import read_measurements

    path = tmp_path / "m.csv"
    path.write_text(
        "model,hardware,n_in_tokens,n_out_tokens,batch_size,energy_j,duration_s,status\n"
        "m,h,16,8,1,10.0,0.5,ok\n"
        "m,h,16,8,64,,,oom\n"
        "m,h,32,8,1,12.0,0.6,ok\n"
    )
    table = read_measurements(path)
    assert list(table["batch_size"]) == [1, 1]
    assert list(table["energy_j"]) == [10.0, 12.0]
