"""The bad-input suite: each case runs the ``tpf`` command in process on a hostile input.

A case is one line: the files it writes into a fresh folder, the command line,
the exit code it must give, and the texts its error message must contain (the
file, row, column or key at fault). Every case also asserts that nothing
printed a traceback and that the error is a designed one (not the catch-all
"unexpected ..." line that stands behind every command).
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tpf.cli import main as tpf_main

FileMaker = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One hostile input: ``files`` (name -> text, bytes or a maker), the command, what must come out."""

    name: str
    argv: tuple[str, ...]
    code: int = 1
    says: tuple[str, ...] = ()
    files: dict[str, str | bytes | FileMaker] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def write_files(folder: Path, files: dict[str, str | bytes | FileMaker]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def run_case(case: Case, folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Run ``case`` in ``folder``; assert exit code, no traceback, a designed message naming its place."""
    write_files(folder, case.files)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("TPF_DEBUG", raising=False)
    code = tpf_main([a.replace("{tmp}", str(folder)) for a in case.argv])
    out, err = capsys.readouterr()
    text = out + err
    assert "Traceback" not in text, text
    assert "unexpected " not in err, err
    assert "np.float64(" not in text and "np.int64(" not in text, text  # plain numbers in messages
    assert "interpreted as a regular expression" not in text, text  # no pandas warning leaks
    assert code == case.code, text
    for expected in case.says:
        assert expected.replace("{tmp}", str(folder)) in text, f"{expected!r} not in:\n{text}"
    if code != 0:  # a refused input writes nothing it was asked for and leaves devices alone
        assert not list(folder.glob("outputs/*/*/summary.json")) and not (folder / "o.csv").exists()
        assert not (folder / "pwned.pth").exists() and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    return text


# --- good inputs that cases spoil --------------------------------------------------------------

N_IN, N_OUT = (16, 128, 512, 2048), (8, 64, 256, 1024)


def measurement_rows(energy: Callable[[float, float], float] = lambda i, o: 0.5 * i + 4 * o + 0.001 * i * o) -> pd.DataFrame:
    cells = list(itertools.product(N_IN, N_OUT)) * 2
    return pd.DataFrame({
        "model": "model-a", "hardware": "gpu-x",
        "n_in_tokens": [float(i) for i, _ in cells], "n_out_tokens": [float(o) for _, o in cells],
        "batch_size": 1.0, "energy_j": [energy(i, o) for i, o in cells],
        "duration_s": [0.001 * i + 0.02 * o for i, o in cells],
    })


def measurements_csv(path: Path) -> None:
    measurement_rows().to_csv(path, index=False)


ENERGY_CARD = """kind: energy
format_version: 1
model: model-a
hardware: gpu-x
energy: {family: bilinear, coefficients: [0.5, 4.0, 0.001], target: energy_j}
duration: {family: bilinear, coefficients: [0.001, 0.02, 0.0], target: duration_s}
valid_range: {n_in_tokens: [16, 2048], n_out_tokens: [8, 1024], batch_size: [1, 1]}
idle_power_w: 50.0
source: measured
"""

ACCURACY_CARD = """kind: accuracy
format_version: 1
curves:
- {model: m, category: math, strategy: cot, family: saturating_budget, params: {a_inf: 0.6, a_0: 0.2, tau_tokens: 100.0}, n_items: 1000}
- {model: m, category: math, strategy: zero_shot, family: constant, params: {acc: 0.25}, n_items: 1000}
"""

POINTS_CSV = "model,hardware,n_in_tokens,n_out_tokens,batch_size\nmodel-a,gpu-x,100,50,1\n"
ACCURACY_POINTS_CSV = "model,category,strategy,budget_tokens,votes\nm,math,cot,100,1\n"


def accuracy_table(rows: list[tuple[str, ...]] | None = None) -> str:
    header = "model,category,strategy,budget_tokens,votes,n_items,n_correct\n"
    body = rows or [("m", "math", "cot", str(b), "1", "1000", str(int(1000 * (0.6 - 0.4 * np.exp(-b / 100)))))
                    for b in (0, 64, 128, 256, 512)]
    return header + "".join(",".join(r) + "\n" for r in body)


def carbon_csv(values: list[str], times: list[str] | None = None, header: str = "Datetime (UTC)") -> str:
    times = times or [f"2023-07-01 {h:02d}:00:00" for h in range(len(values))]
    lines = [f"{header},Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA)"]
    lines += [f"{t},XX,{v},{v}" for t, v in zip(times, values, strict=True)]
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def _no_debug() -> None:
    os.environ.pop("TPF_DEBUG", None)
