"""Scenarios are data, overrides keep to the documented Hydra keys, outputs never replace a device."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.bad_input.conftest import ENERGY_CARD, POINTS_CSV, Case, run_case
from tpf.config import paths

EVIL = {
    "callback": "hydra:\n  callbacks:\n    x:\n      _target_: tpf.atomic.write_text_atomic\n      path: pwned.pth\n      text: boom\n",
    "open": "hydra:\n  callbacks:\n    x:\n      _target_: builtins.open\n      file: victim.txt\n      mode: w\n",
    "run_dir": "hydra:\n  run:\n    dir: /tmp/elsewhere\n",
    "target": "planner:\n  _target_: os.system\n",
    "partial": "workload:\n  classes:\n  - {_partial_: true, name: x}\n",
    "env": "scenario_title: ${oc.env:HOME}\n",
    "defaults": "defaults:\n  - override /hydra/launcher: basic\n",
    "not_a_mapping": "- just\n- a list\n",
    "yaml": "planner: [unclosed\n",
}

SCENARIO_CASES = [
    Case("scenario-callback-writes-file", ("plan", "scenario=evil_callback"), 1, ("evil_callback.yaml: hydra: a scenario may not set Hydra settings",)),
    Case("scenario-callback-builtins-open", ("plan", "scenario=evil_open"), 1, ("evil_open.yaml: hydra:",)),
    Case("scenario-sets-run-dir", ("plan", "scenario=evil_run_dir"), 1, ("evil_run_dir.yaml: hydra:",)),
    Case("scenario-target-in-group", ("plan", "scenario=evil_target"), 1, ("evil_target.yaml: planner._target_: a scenario may not name callables",)),
    Case("scenario-partial-in-list", ("plan", "scenario=evil_partial"), 1, ("workload.classes[0]._partial_",)),
    Case("scenario-oc-env", ("plan", "scenario=evil_env"), 1, ("evil_env.yaml: scenario_title: resolver interpolations",)),
    Case("scenario-hydra-defaults", ("plan", "scenario=evil_defaults"), 1, ("evil_defaults.yaml: defaults[0]: 'override /hydra/launcher'",)),
    Case("scenario-not-a-mapping", ("plan", "scenario=evil_not_a_mapping"), 1, ("evil_not_a_mapping.yaml: a scenario must be a mapping",)),
    Case("scenario-bad-yaml", ("plan", "scenario=evil_yaml"), 1, ("evil_yaml.yaml: cannot read scenario",)),
]

OVERRIDE_CASES = [
    Case("override-hydra-callback", ("plan", "+hydra.callbacks.x._target_=builtins.open"), 1, ("hydra.callbacks.x._target_: overrides may not name callables",)),
    Case("override-hydra-callback-value", ("plan", "+hydra.callbacks.x.path=/tmp/x"), 1, ("hydra.callbacks.x.path: this Hydra setting may not be overridden",)),
    Case("override-hydra-logging-file", ("plan", "hydra.job_logging.handlers.file.filename=/tmp/x"), 1, ("hydra.job_logging.handlers.file.filename: this Hydra setting",)),
    Case("override-launcher-target", ("plan", "hydra.launcher._target_=os.system"), 1, ("hydra.launcher._target_: overrides may not name callables",)),
    Case("override-target-in-group", ("plan", "+planner._target_=os.system"), 1, ("planner._target_: overrides may not name callables",)),
    Case("override-experimental-rerun", ("plan", "--experimental-rerun", "config.pickle"), 1, ("--experimental-rerun: refused",), {"config.pickle": b"\x80\x04N."}),
    Case("calibrate-hydra-callback", ("calibrate", "+hydra.callbacks.x._target_=builtins.open"), 1, ("hydra.callbacks.x._target_: overrides may not name callables",)),
    Case("override-unknown-key", ("plan", "facility.cap_kw=3"), 1, ("facility.cap_kw: unknown key",)),
    Case("override-run-dir-is-a-file", ("plan", "workload=small", "hydra.run.dir=afile"), 1, ("hydra.run.dir: afile is a file",), {"afile": "x"}),
    Case("override-run-dir-inside-a-file", ("plan", "workload=small", "hydra.run.dir=afile/run"), 1, ("hydra.run.dir: cannot create afile/run",), {"afile": "x"}),
    Case("override-run-dir-holds-a-run", ("plan", "workload=small", "hydra.run.dir=old"), 1, ("hydra.run.dir: old already holds a run",), {"old/.hydra/config.yaml": "x"}),
    Case("override-start-utc-not-a-date", ("plan", "workload=small", "grid=electricitymaps", "grid.csv_path=c.csv", "grid.start_utc=yesterday"), 1, ("grid.start_utc: not a date and time: 'yesterday'",), {"c.csv": "Datetime (UTC),Carbon Intensity gCO₂eq/kWh (direct)\n2023-01-01 00:00,100\n"}),
]

OUTPUT_CASES = [
    Case("predict-out-dev-null", ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "/dev/null"), 1, ("/dev/null: refusing to write: the path is a character device",), {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV}),
    Case("predict-out-folder", ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "{tmp}"), 1, ("refusing to write: the path is a folder",), {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV}),
    Case("predict-out-inside-a-file", ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "p.csv/x.csv"), 1, ("p.csv/x.csv: cannot write here: p.csv is a file",), {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV}),
    Case("policy-export-dev-null", ("policy", "export", "policy.json", "--format", "semantic-router", "--out", "/dev/null"), 1, ("/dev/null: refusing to write",), {"policy.json": lambda p: _demo_policy(p)}),
    Case("fit-out-dev-null", ("fit", "energy", "--data", "m.csv", "--out", "/dev/null"), 1, ("/dev/null",), {"m.csv": lambda p: _measurements(p)}),
]


def _demo_policy(path: Path) -> None:
    from tpf.policy.demo import main as demo

    assert demo([str(path)]) == 0


def _measurements(path: Path) -> None:
    from tests.bad_input.conftest import measurements_csv

    measurements_csv(path)


@pytest.fixture
def evil_scenarios(tmp_path, monkeypatch):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for source in paths.scenarios_dir().glob("*.yaml"):
        (folder / source.name).write_text(source.read_text())
    for name, text in EVIL.items():
        (folder / f"evil_{name}.yaml").write_text("# @package _global_\n" + text)
    monkeypatch.setattr(paths, "scenarios_dir", lambda: folder)
    return folder


@pytest.mark.parametrize("case", SCENARIO_CASES, ids=str)
def test_scenario(case, tmp_path, capsys, monkeypatch, evil_scenarios):
    run_case(case, tmp_path, capsys, monkeypatch)
    assert not (tmp_path / "pwned.pth").exists() and not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("case", OVERRIDE_CASES, ids=str)
def test_override(case, tmp_path, capsys, monkeypatch):
    run_case(case, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=str)
def test_output_path(case, tmp_path, capsys, monkeypatch):
    run_case(case, tmp_path, capsys, monkeypatch)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_fifo_output_is_refused_and_kept(tmp_path, capsys, monkeypatch):
    os.mkfifo(tmp_path / "pipe")
    case = Case("predict-out-fifo", ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "pipe"), 1,
                ("pipe: refusing to write: the path is a FIFO",), {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV})
    run_case(case, tmp_path, capsys, monkeypatch)
    assert stat.S_ISFIFO(os.stat(tmp_path / "pipe").st_mode)


def test_symlinked_output_writes_through_the_link(tmp_path, capsys, monkeypatch):
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    case = Case("predict-out-symlink", ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "link.csv"), 0,
                (), {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV})
    run_case(case, tmp_path, capsys, monkeypatch)
    assert (tmp_path / "link.csv").is_symlink()
    assert "energy_j" in (tmp_path / "real.csv").read_text()


def test_symlink_to_a_device_is_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "link.csv").symlink_to("/dev/null")
    case = Case("predict-out-symlink-to-device", ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "link.csv"), 1,
                ("link.csv: refusing to write: the path is a character device (the symlink leads to /dev/null)",),
                {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV})
    run_case(case, tmp_path, capsys, monkeypatch)


def test_debug_flag_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from tpf.cli import main

    with pytest.raises(Exception):  # noqa: B017  any error: --debug lets it through with its traceback
        main(["predict", "energy", "--card", "missing.yaml", "--data", "p.csv", "--out", "o.csv", "--debug"])
    os.environ.pop("TPF_DEBUG", None)


@pytest.mark.parametrize("layout", ["scenario", "scenarios"])
def test_scenarios_in_user_config_folders_are_checked_too(tmp_path, layout):
    from tpf.app import user_config_dirs
    from tpf.errors import ConfigError

    (tmp_path / layout).mkdir()
    (tmp_path / layout / "mine.yaml").write_text("# @package _global_\n" + EVIL["callback"])
    for args in (["--config-dir", str(tmp_path)], [f"hydra.searchpath=[file://{tmp_path}]"]):
        assert user_config_dirs(args) == [tmp_path]
        with pytest.raises(ConfigError, match=f"{layout}/mine.yaml: hydra: a scenario may not set Hydra settings"):
            paths.check_scenarios(["mine"], user_config_dirs(args))
