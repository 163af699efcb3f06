from __future__ import annotations

import numpy as np
import pytest

from tpf.domain import QueryClass, Workload
from tpf.errors import ConfigError, DataError
from tpf.simulate.workload import (
    assign_categories,
    diurnal_profile,
    iter_trace_chunks,
    read_azure_trace,
    read_trace,
    scale_time,
    synthetic_requests,
    tile_trace,
    write_trace,
)


def test_generic_trace_reads_with_categories(data_dir):
    batch = read_trace(data_dir / "small_trace.csv")
    assert len(batch) == 60
    assert batch.categories == ("history", "law", "math")
    assert batch.arrival_s[0] == 56.75 and batch.n_in_tokens[0] == 1188 and batch.n_out_tokens[0] == 99
    assert np.all(np.diff(batch.arrival_s) > 0)


def test_azure_trace_is_relative_to_first_request(data_dir):
    batch = read_azure_trace(data_dir / "small_azure.csv")
    generic = read_trace(data_dir / "small_trace.csv")
    assert len(batch) == 12
    np.testing.assert_allclose(batch.arrival_s, generic.arrival_s[:12] - generic.arrival_s[0], atol=1e-6)
    np.testing.assert_array_equal(batch.n_out_tokens, generic.n_out_tokens[:12])


def test_jsonl_round_trip(tmp_path, data_dir):
    batch = read_trace(data_dir / "small_trace.csv")
    again = read_trace(write_trace(batch, tmp_path / "t.jsonl"))
    np.testing.assert_allclose(again.arrival_s, batch.arrival_s)
    assert list(again.category_names()) == list(batch.category_names())


def test_chunks_match_whole_read(data_dir):
    chunks = list(iter_trace_chunks(data_dir / "small_trace.csv", chunk_rows=7))
    assert len(chunks) == 9
    np.testing.assert_array_equal(np.concatenate([c.request_id for c in chunks]), np.arange(60))
    np.testing.assert_array_equal(np.concatenate([c.arrival_s for c in chunks]), read_trace(data_dir / "small_trace.csv").arrival_s)


def _write(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("arrival_s,n_in_tokens,n_out_tokens\n0,10,5\n1,-3,5\n", r"row 2, column n_in_tokens: token count must be >= 0"),
        ("arrival_s,n_in_tokens,n_out_tokens\n0,10,5\n2,10,5\n1,10,5\n", r"row 3, column arrival_s: earlier than the row before"),
        ("arrival_s,n_in_tokens\n0,10\n", r"missing column\(s\) n_out_tokens"),
        ("arrival_s,n_in_tokens,n_out_tokens\n0,ten,5\n", r"row 1, column n_in_tokens: not a finite number"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-01-01 00:00:01,5,-1\n", r"row 1, column GeneratedTokens"),
        ("TIMESTAMP,ContextTokens\n2023-01-01 00:00:01,5\n", r"missing column\(s\) GeneratedTokens"),
    ],
)
def test_bad_traces_name_row_and_column(tmp_path, text, expected):
    with pytest.raises(DataError, match=expected) as info:
        read_trace(_write(tmp_path, text))
    assert "bad.csv" in str(info.value)


def test_unsorted_across_chunk_boundary_is_caught(tmp_path):
    path = _write(tmp_path, "arrival_s,n_in_tokens,n_out_tokens\n0,1,1\n5,1,1\n4,1,1\n6,1,1\n")
    with pytest.raises(DataError, match="row 3"):
        list(iter_trace_chunks(path, chunk_rows=2))


def test_category_mix_follows_weights():
    from tpf.simulate.workload import make_batch
    batch = make_batch(np.arange(20000.0), np.full(20000, 10.0), np.full(20000, 5.0))
    mixed = assign_categories(batch, {"a": 1.0, "b": 3.0})
    share_b = np.mean(mixed.category_names() == "b")
    assert abs(share_b - 0.75) < 0.015
    with pytest.raises(ConfigError, match="category_mix.a: must be >= 0"):
        assign_categories(batch, {"a": -1.0, "b": 1.0})


def test_scale_and_tile_follow_the_profile(data_dir):
    batch = read_trace(data_dir / "small_trace.csv")
    first_hour = batch.take(batch.arrival_s < 3600)
    assert np.allclose(scale_time(batch, 0.5).arrival_s, batch.arrival_s / 2)
    tiled = tile_trace(batch, [0.0, 1.0, 2.0, 3.0])
    counts = np.bincount((tiled.arrival_s // 3600).astype(int), minlength=4)
    assert counts.tolist() == [0, len(first_hour), 2 * len(first_hour), 3 * len(first_hour)]
    assert len(np.unique(tiled.request_id)) == len(tiled)
    assert np.all(np.diff(tiled.arrival_s) >= 0)


def test_tiling_thins_fractional_hours():
    from tpf.simulate.workload import make_batch
    batch = make_batch(np.linspace(0, 3599, 5000), np.full(5000, 10.0), np.full(5000, 5.0))
    tiled = tile_trace(batch, [0.5, 1.5])
    counts = np.bincount((tiled.arrival_s // 3600).astype(int), minlength=2)
    assert abs(counts[0] - 2500) < 150 and abs(counts[1] - 7500) < 150


def test_diurnal_profile_has_mean_one_and_ratio():
    profile = diurnal_profile(24, peak_hour=14, trough_ratio=0.4)
    assert abs(profile.mean() - 1.0) < 1e-12
    assert abs(profile.min() / profile.max() - 0.4) < 0.01


def test_synthetic_poisson_counts_and_bursts():
    workload = Workload((QueryClass("a", "math", 100.0, (2.0, 0.5)), QueryClass("b", "law", 50.0, (1.0,), 3.0)), n_periods=2)
    steady = synthetic_requests(workload, seed=1)
    per_class_period = np.bincount(steady.class_code * 2 + (steady.arrival_s // 3600).astype(int), minlength=4)
    expected = np.array([7200, 1800, 3600, 3600])
    assert np.all(np.abs(per_class_period - expected) < 4 * np.sqrt(expected))
    assert set(steady.n_out_tokens[steady.class_code == 1]) == {3.0}
    minute = lambda b: np.bincount((b.arrival_s // 60).astype(int), minlength=120)  # noqa: E731
    bursty = synthetic_requests(workload, seed=1, burst_cv=1.0)
    assert minute(bursty)[:60].var() > 3 * minute(steady)[:60].var()


def test_simultaneous_arrivals_keep_their_file_order(tmp_path):
    batch = read_trace(_write(tmp_path, "arrival_s,n_in_tokens,n_out_tokens\n0,10,5\n1,11,5\n1,12,5\n1,13,5\n2,14,5\n"))
    assert batch.arrival_s.tolist() == [0, 1, 1, 1, 2]
    assert batch.n_in_tokens.tolist() == [10, 11, 12, 13, 14]
    assert batch.request_id.tolist() == [0, 1, 2, 3, 4]


def test_mooncake_and_vidur_layouts_load_with_their_units(tmp_path):
    mooncake = tmp_path / "mooncake.jsonl"
    mooncake.write_text('{"timestamp": 0, "input_length": 6755, "output_length": 500, "hash_ids": [0, 1]}\n'
                        '{"timestamp": 0, "input_length": 7319, "output_length": 490, "hash_ids": [0, 14]}\n'
                        '{"timestamp": 3052, "input_length": 7234, "output_length": 794, "hash_ids": [0]}\n')
    batch = read_trace(mooncake)
    assert batch.arrival_s.tolist() == [0.0, 0.0, 3.052]
    assert batch.n_in_tokens.tolist() == [6755, 7319, 7234] and batch.n_out_tokens.tolist() == [500, 490, 794]
    vidur = tmp_path / "vidur.csv"
    vidur.write_text("arrived_at,num_prefill_tokens,num_decode_tokens\n0.5,100,20\n1.25,200,30\n")
    assert read_trace(vidur).arrival_s.tolist() == [0.5, 1.25]
    renamed = tmp_path / "mine.csv"
    renamed.write_text("t_ms,prompt,completion\n0,5,6\n1500,7,8\n")
    got = read_trace(renamed, "generic", {"arrival": "t_ms", "n_in": "prompt", "n_out": "completion", "time_unit": "ms"})
    assert got.arrival_s.tolist() == [0.0, 1.5] and got.n_out_tokens.tolist() == [6, 8]
