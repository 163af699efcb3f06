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

def _user_scenario(kind: str) -> dict[str, str]:
    """A user config folder ``cfg`` whose scenario ``evil`` holds the hostile content ``kind``."""
    return {"cfg/scenario/evil.yaml": "# @package _global_\n" + EVIL[kind]}


EVIL_RUN = ("plan", "--config-dir", "{tmp}/cfg", "scenario=evil")
SCENARIO_CASES = [
    Case("scenario-callback-writes-file", EVIL_RUN, 1, ("cfg/scenario/evil.yaml: hydra: a scenario may not set Hydra settings",), _user_scenario("callback")),
    Case("scenario-callback-builtins-open", EVIL_RUN, 1, ("evil.yaml: hydra:",), _user_scenario("open")),
    Case("scenario-sets-run-dir", EVIL_RUN, 1, ("evil.yaml: hydra:",), _user_scenario("run_dir")),
    Case("scenario-target-in-group", EVIL_RUN, 1, ("evil.yaml: planner._target_: a scenario may not name callables",), _user_scenario("target")),
    Case("scenario-partial-in-list", EVIL_RUN, 1, ("workload.classes[0]._partial_",), _user_scenario("partial")),
    Case("scenario-oc-env", EVIL_RUN, 1, ("evil.yaml: scenario_title: resolver interpolations",), _user_scenario("env")),
    Case("scenario-hydra-defaults", EVIL_RUN, 1, ("evil.yaml: defaults[0]: 'override /hydra/launcher'",), _user_scenario("defaults")),
    Case("scenario-not-a-mapping", EVIL_RUN, 1, ("evil.yaml: a scenario must be a mapping",), _user_scenario("not_a_mapping")),
    Case("scenario-bad-yaml", EVIL_RUN, 1, ("evil.yaml: cannot read scenario",), _user_scenario("yaml")),
    Case("scenario-package-hydra", EVIL_RUN, 1, ("evil.yaml: '# @package hydra'",), {"cfg/scenario/evil.yaml": "# @package hydra\ncallbacks:\n  x:\n    path: pwned.pth\n"}),
    Case("scenario-searchpath", ("plan", "hydra.searchpath=[file://{tmp}/cfg]", "scenario=evil"), 1, ("evil.yaml: hydra:",), _user_scenario("callback")),
    Case("user-group-option-callback", ("plan", "--config-dir", "{tmp}/cfg", "grid=mine"), 1, ("cfg/grid/mine.yaml: hydra:",), {"cfg/grid/mine.yaml": "# @package _global_\n" + EVIL["callback"]}),
    Case("user-group-option-target", ("plan", "--config-dir", "{tmp}/cfg", "grid=mine"), 1, ("cfg/grid/mine.yaml: _target_",), {"cfg/grid/mine.yaml": "name: mine\nkind: constant\n_target_: os.system\n"}),
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
    Case("config-dir-is-a-file", ("plan", "--config-dir", "afile"), 1, ("afile is a file, not a folder",), {"afile": "x"}),
    Case("config-dir-missing", ("plan", "--config-dir", "nowhere"), 1, ("folder not found:",)),
    Case("override-start-utc-not-a-date", ("plan", "workload=small", "grid=electricitymaps", "grid.csv_path=c.csv", "grid.start_utc=yesterday"), 1, ("grid.start_utc: not a date and time: 'yesterday'",), {"c.csv": "Datetime (UTC),Carbon Intensity gCO₂eq/kWh (direct)\n2023-01-01 00:00,100\n"}),
]

OUTPUT_CASES = [
    Case("predict-out-dev-null", ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "/dev/null"), 1, ("/dev/null: refusing to write: the path is a character device",), {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV}),
    Case("predict-out-folder", ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "{tmp}"), 1, ("refusing to write: the path is a folder",), {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV}),
    Case("predict-out-inside-a-file", ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "p.csv/x.csv"), 1, ("p.csv/x.csv: cannot write here: p.csv is a file",), {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV}),
    Case("policy-export-dev-null", ("policy", "export", "policy.json", "--format", "semantic-router", "--out", "/dev/null"), 1, ("/dev/null: refusing to write",), {"policy.json": lambda p: _demo_policy(p)}),
    Case("fit-out-dev-null", ("fit", "energy", "--data", "m.csv", "--out", "/dev/null"), 1, ("/dev/null",), {"m.csv": lambda p: _measurements(p)}),
    Case("init-into-a-file", ("init", "notes.txt"), 1, ("notes.txt is a file, not a folder",), {"notes.txt": "x\n"}),
    Case("init-over-a-device-link", ("init", "mine", "--force"), 1, ("refusing to write: the path is a character device",), {"mine/fleet/my_scenario.yaml": lambda p: p.symlink_to("/dev/null")}),
]


def _demo_policy(path: Path) -> None:
    from tpf.policy.demo import main as demo

    assert demo([str(path)]) == 0


def _measurements(path: Path) -> None:
    from tests.bad_input.conftest import measurements_csv

    measurements_csv(path)


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


def test_every_packaged_scenario_is_data():
    from tpf.config.safety import read_config_file

    for path in paths.scenarios_dir().glob("*.yaml"):
        assert isinstance(read_config_file(path), dict)
