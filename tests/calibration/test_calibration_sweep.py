"""Energy sweeps end to end on a tiny random-initialized Llama on the CPU (estimate/replay meters)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from calibration.generation import TorchRunner  # noqa: E402
from calibration.meters import EstimateMeter  # noqa: E402
from calibration.models import ModelSpec, load_model, resolve_architecture  # noqa: E402
from calibration.pipeline import MeterSettings, SweepSettings, run_sweep  # noqa: E402
from calibration.sweep import SweepGrid, cell_keys  # noqa: E402
from tpf.errors import ConfigError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ESTIMATE = MeterSettings("estimate", estimate_hardware="h100_sxm", idle_s=0.0)
GRID = SweepGrid(n_in_tokens=(4, 16), n_out_tokens=(1, 6), batch_sizes=(1, 2), repetitions=2, warmup=1)


def settings(out_dir: Path, grid: SweepGrid = GRID, meter: MeterSettings = ESTIMATE) -> SweepSettings:
    return SweepSettings(ModelSpec("tiny-llama"), str(out_dir), grid, meter, progress=False)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def measured_keys(rows: list[dict[str, str]]) -> Counter:
    return Counter((r["phase"], r["n_in_tokens"], r["n_out_tokens"], r["batch_size"], r["repetition"])
                   for r in rows if r["warmup"] == "false")


def expected_keys(grid: SweepGrid) -> Counter:
    """Each window once: a prefill is measured once per (n_in, batch, repetition)."""
    keys = {(k[0], str(k[1]), str(k[2]), str(k[3]), str(k[4]))
            for n_in, n_out, batch in grid.cells()
            for k in cell_keys(n_in, n_out, batch, grid.repetitions)}
    return Counter(keys)


def table(out_dir: Path) -> Path:
    return out_dir / "tiny-llama" / "energy.csv"


def test_sweep_runs_end_to_end_and_labels_its_estimates(tmp_path):
    summary = run_sweep(settings(tmp_path / "{hardware}"))
    rows = read_rows(table(tmp_path / "h100_sxm"))  # {hardware} -> the estimate's hardware id
    assert measured_keys(rows) == expected_keys(GRID)  # every window once: prefill once per (n_in, batch)
    assert summary.rows_written == len(rows) and summary.oom_cells == []
    assert sum(r["warmup"] == "true" for r in rows) == 8  # one per cell
    assert {r["source"] for r in rows} == {"estimate"} and {r["method"] for r in rows} == {"estimate_roofline"}
    assert {r["status"] for r in rows} == {"ok"} and all(float(r["energy_j"]) > 0 for r in rows)
    by_key = {(r["phase"], r["n_in_tokens"], r["n_out_tokens"], r["batch_size"], r["repetition"]): float(r["energy_j"])
              for r in rows if r["warmup"] == "false"}
    # the roofline's window energy: total = prefill + decode
    total = by_key[("total", "16", "6", "2", "0")]
    assert total == pytest.approx(by_key[("prefill", "16", "1", "2", "0")] + by_key[("decode", "16", "6", "2", "0")])
    assert by_key[("decode", "16", "6", "2", "0")] > by_key[("decode", "4", "6", "2", "0")]  # longer context


def test_fit_reader_accepts_the_table(tmp_path):
    from tpf.schema import read_measurements

    run_sweep(settings(tmp_path / "{hardware}", SweepGrid((4,), (1, 3), (1,), 1, 0)))
    frame = read_measurements(table(tmp_path / "h100_sxm"))
    assert len(frame) == 4 and set(frame["phase"]) == {"prefill", "decode", "total"}


class CrashingMeter(EstimateMeter):
    """Fails like a killed process after ``crash_after`` windows."""

    def __init__(self, crash_after: int):
        super().__init__(resolve_architecture("tiny-llama"), "h100_sxm")
        self.crash_after, self.windows = crash_after, 0

    def end_window(self):
        if self.windows == self.crash_after:
            raise KeyboardInterrupt("simulated kill")
        self.windows += 1
        return super().end_window()


def test_interrupted_sweep_resumes_and_loses_no_row(tmp_path):
    reference_dir, crashed_dir = tmp_path / "reference", tmp_path / "crashed"
    run_sweep(settings(reference_dir))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(settings(crashed_dir), meter=CrashingMeter(crash_after=11))
    before = table(crashed_dir).read_text().splitlines()
    assert len(before) == 1 + 11
    summary = run_sweep(settings(crashed_dir))
    after_rows = read_rows(table(crashed_dir))
    assert table(crashed_dir).read_text().splitlines()[: len(before)] == before  # nothing rewritten
    assert measured_keys(after_rows) == measured_keys(read_rows(table(reference_dir)))  # nothing lost or doubled
    assert summary.rows_skipped == sum(1 for line in before[1:] if ",false,ok," in line)


def test_killed_process_resumes_and_loses_no_row(tmp_path):
    grid = SweepGrid((4, 8, 16, 32), (1, 48), (1, 2), repetitions=3, warmup=0)
    command = [
        sys.executable, "-m", "calibration.run", "sweep", "--model", "tiny-llama", "--out", str(tmp_path),
        "--meter", "estimate", "--estimate-hardware", "h100_sxm", "--idle-s", "0", "--no-progress",
        "--n-in", "4,8,16,32", "--n-out", "1,48", "--batch", "1,2", "--repetitions", "3", "--warmup", "0",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    path = tmp_path / "tiny-llama" / "energy.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and path.read_text().count("\n") >= 8:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait(timeout=60)
    if process.returncode != -signal.SIGKILL:
        pytest.skip(f"the sweep ended (rc {process.returncode}) before it could be killed")
    written_before = path.read_text().splitlines()
    run_sweep(settings(tmp_path, grid))
    rows = read_rows(path)
    assert measured_keys(rows) == expected_keys(grid)
    complete_before = [line for line in written_before[1:] if line.count(",") == len(rows[0]) - 1]
    assert path.read_text().splitlines()[1 : 1 + len(complete_before)] == complete_before


class OomAtBatch4(TorchRunner):
    def prefill(self, n_in_tokens, batch_size):
        if batch_size >= 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super().prefill(n_in_tokens, batch_size)


def test_out_of_memory_is_recorded_and_the_sweep_goes_on(tmp_path):
    grid = SweepGrid((4, 8), (1, 3), (1, 4), repetitions=1, warmup=1)
    summary = run_sweep(settings(tmp_path, grid), runner_factory=OomAtBatch4)
    rows = read_rows(tmp_path / "tiny-llama" / "energy.csv")
    oom = [r for r in rows if r["status"] == "oom"]
    assert sorted(summary.oom_cells) == [(4, 1, 4), (4, 3, 4), (8, 1, 4), (8, 3, 4)]
    assert {r["batch_size"] for r in oom} == {"4"} and all(r["energy_j"] == "" for r in oom)
    assert "out of memory" in oom[0]["error"]
    ok = [r for r in rows if r["status"] == "ok" and r["warmup"] == "false"]
    assert len(ok) == 2 * (1 + 1 + 2)  # batch 1: n_out 1 (prefill, total), n_out 3 (decode, total) + prefill once
    assert measured_keys(rows) == expected_keys(grid)  # every window has its row, ok or oom


def test_replay_meter_returns_the_logged_windows(tmp_path):
    grid = SweepGrid((4,), (1, 3), (1,), repetitions=2, warmup=0)
    run_sweep(settings(tmp_path / "log", grid))
    log = tmp_path / "log" / "tiny-llama" / "energy.csv"
    replay = MeterSettings("replay", replay_log=str(log), idle_s=0.0)
    run_sweep(SweepSettings(ModelSpec("tiny-llama"), str(tmp_path / "replayed"), grid, replay, "h100_sxm", False))
    replayed = read_rows(tmp_path / "replayed" / "tiny-llama" / "energy.csv")
    assert {r["method"] for r in replayed} == {"replay"} and {r["source"] for r in replayed} == {"replay"}
    logged = {(r["phase"], r["n_out_tokens"], r["repetition"]): r["energy_j"] for r in read_rows(log)}
    assert {(r["phase"], r["n_out_tokens"], r["repetition"]): r["energy_j"] for r in replayed} == logged


def test_bad_grid_reports_every_problem_with_its_place(tmp_path):
    bad = SweepGrid((0, 16), (-1,), (1, 0), repetitions=0, warmup=1)
    with pytest.raises(ConfigError) as caught:
        run_sweep(settings(tmp_path, bad))
    message = str(caught.value)
    for place in ("grid.n_in_tokens[0]: must be an integer >= 1, got 0", "grid.n_out_tokens[0]",
                  "grid.batch_sizes[1]", "grid.repetitions"):
        assert place in message
    assert not (tmp_path / "tiny-llama").exists()  # nothing written
    too_long = SweepGrid((4096,), (8,), (1,), 1, 0)
    with pytest.raises(ConfigError, match="exceeds the model's max_position_embeddings = 4096"):
        run_sweep(settings(tmp_path, too_long))


def test_unknown_architecture_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown architecture 'llama-9b'.*llama-3\.1-8b.*tiny-llama"):
        load_model(ModelSpec("llama-9b"))


def test_missing_nvml_refuses_with_a_clear_message(tmp_path, monkeypatch):
    from calibration.errors import NvmlMissingError

    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(NvmlMissingError, match="estimate"):
        run_sweep(settings(tmp_path, GRID, MeterSettings("nvml")))
