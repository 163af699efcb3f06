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

LOGGING = {
    "factory": "version: 1\nhandlers:\n  x:\n    (): tpf.atomic.write_text_atomic\n    path: pwned.pth\n    text: owned\nroot: {handlers: [x]}\n",
    "file_elsewhere": "version: 1\nhandlers:\n  f: {class: logging.FileHandler, filename: pwned.pth}\nroot: {handlers: [f]}\n",
    "file_climbs_out": "version: 1\nhandlers:\n  f: {class: logging.FileHandler, filename: '${hydra.runtime.output_dir}/../pwned.pth'}\nroot: {handlers: [f]}\n",
    "foreign_class": "version: 1\nhandlers:\n  x: {class: logging.handlers.SocketHandler, host: example.org, port: 9}\nroot: {handlers: [x]}\n",
    "ext_object": "version: 1\nhandlers:\n  x: {class: logging.StreamHandler, stream: 'ext://os.environ'}\nroot: {handlers: [x]}\n",
    "setter": "version: 1\nhandlers:\n  x: {class: logging.StreamHandler, .: {terminator: x}}\nroot: {handlers: [x]}\n",
    "filter_factory": "version: 1\nfilters:\n  f: {(): os.system}\nhandlers:\n  x: {class: logging.NullHandler, filters: [f]}\n",
    "good": "version: 1\nformatters:\n  plain: {format: '%(message)s'}\nhandlers:\n  console: {class: logging.StreamHandler, formatter: plain, stream: 'ext://sys.stderr'}\n"
            "  file: {class: logging.FileHandler, formatter: plain, filename: '${hydra.runtime.output_dir}/${hydra.job.name}.log'}\n"
            "root: {handlers: [console, file], level: INFO}\ndisable_existing_loggers: false\n",
}
LOGGING_RUN = ("plan", "--config-dir", "{tmp}/cfg", "workload=small", "workload.n_periods=2", "report=minimal")


def _logging(kind: str, group: str = "job_logging") -> dict[str, str]:
    return {f"cfg/hydra/{group}/mine.yaml": LOGGING[kind]}


def _laughs(levels: int = 9) -> str:
    """A 'billion laughs' file: ``levels`` nested anchors of nine aliases each."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "# @package _global_\n" + "\n".join(lines) + "\n"


GOOD_SCENARIO = "# @package _global_\nworkload:\n  n_periods: 2\n"
ONE_BAD_FILE = {"cfg/scenario/laughs.yaml": _laughs(), "cfg/scenario/ok.yaml": GOOD_SCENARIO,
                "cfg/scenario/evil.yaml": "# @package _global_\n" + EVIL["callback"],
                "cfg/grid/bomb.yaml": _laughs(), "cfg/grid/mine.yaml": "name: mine\nkind: constant\ncarbon_g_per_kwh: 123\n",
                "cfg/hydra/job_logging/evil.yaml": LOGGING["factory"]}


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
    Case("logging-factory", (*LOGGING_RUN, "hydra/job_logging=mine"), 1, ("cfg/hydra/job_logging/mine.yaml: handlers.x.(): a logging config may not name a factory",), _logging("factory")),
    Case("logging-factory-hydra-logging", (*LOGGING_RUN, "hydra/hydra_logging=mine"), 1, ("cfg/hydra/hydra_logging/mine.yaml: handlers.x.()",), _logging("factory", "hydra_logging")),
    Case("logging-file-in-working-folder", (*LOGGING_RUN, "hydra/job_logging=mine"), 1, ("mine.yaml: handlers.f.filename: filename 'pwned.pth': a log file must be inside the run folder",), _logging("file_elsewhere")),
    Case("logging-file-climbs-out", (*LOGGING_RUN, "hydra/job_logging=mine"), 1, ("mine.yaml: handlers.f.filename",), _logging("file_climbs_out")),
    Case("logging-foreign-class", (*LOGGING_RUN, "hydra/job_logging=mine"), 1, ("mine.yaml: handlers.x.class: class 'logging.handlers.SocketHandler' is not allowed",), _logging("foreign_class")),
    Case("logging-ext-object", (*LOGGING_RUN, "hydra/job_logging=mine"), 1, ("mine.yaml: handlers.x.stream: 'ext://os.environ'",), _logging("ext_object")),
    Case("logging-attribute-setter", (*LOGGING_RUN, "hydra/job_logging=mine"), 1, ("mine.yaml: handlers.x..: a logging config may not set attributes",), _logging("setter")),
    Case("logging-filter-factory", (*LOGGING_RUN, "hydra/job_logging=mine"), 1, ("mine.yaml: filters.f.()",), _logging("filter_factory")),
    Case("logging-own-classes-run", (*LOGGING_RUN, "hydra/job_logging=mine"), 0, (), _logging("good")),
    Case("scenario-alias-bomb", ("plan", "--config-dir", "{tmp}/cfg", "scenario=laughs"), 1, ("cfg/scenario/laughs.yaml: its aliases expand to 4.9e+08 values, more than 100000",), {"cfg/scenario/laughs.yaml": _laughs()}),
    Case("scenario-alias-bomb-searchpath", ("plan", "hydra.searchpath=[file://{tmp}/cfg]", "scenario=laughs"), 1, ("laughs.yaml: its aliases expand to",), {"cfg/scenario/laughs.yaml": _laughs()}),
    Case("scenario-many-aliases", ("plan", "--config-dir", "{tmp}/cfg", "scenario=many"), 1, ("many.yaml: more than 100 aliases",), {"cfg/scenario/many.yaml": "# @package _global_\na: &a 1\nb: [" + ", ".join(["*a"] * 101) + "]\n"}),
    Case("scenario-deep-nesting", ("plan", "--config-dir", "{tmp}/cfg", "scenario=deep"), 1, ("deep.yaml: nested deeper than 64 levels",), {"cfg/scenario/deep.yaml": "# @package _global_\nx: " + "[" * 5000 + "]" * 5000 + "\n"}),
    Case("scenario-huge-file", ("plan", "--config-dir", "{tmp}/cfg", "scenario=huge"), 1, ("huge.yaml: larger than 1000000 bytes",), {"cfg/scenario/huge.yaml": "# @package _global_\n" + "# padding\n" * 200_000}),
    Case("group-option-alias-bomb", ("plan", "--config-dir", "{tmp}/cfg", "grid=bomb"), 1, ("cfg/grid/bomb.yaml: its aliases expand to",), ONE_BAD_FILE),
    Case("folder-with-bad-files-runs-a-good-scenario", ("plan", "--config-dir", "{tmp}/cfg", "scenario=ok", "workload=small", "report=minimal"), 0, (), ONE_BAD_FILE),
    Case("folder-with-bad-files-runs-a-good-scenario-searchpath", ("plan", "hydra.searchpath=[file://{tmp}/cfg]", "scenario=ok", "workload=small", "report=minimal"), 0, (), ONE_BAD_FILE),
    Case("folder-with-bad-files-runs-a-good-group-option", ("plan", "--config-dir", "{tmp}/cfg", "grid=mine", "workload=small", "workload.n_periods=2", "report=minimal"), 0, (), ONE_BAD_FILE),
    Case("scenario-selecting-a-bad-group-option", ("plan", "--config-dir", "{tmp}/cfg", "scenario=picks"), 1, ("cfg/grid/bomb.yaml: its aliases expand to",), {**ONE_BAD_FILE, "cfg/scenario/picks.yaml": "# @package _global_\ndefaults:\n  - override /grid: bomb\n"}),
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
    Case("override-run-dir-empty", ("plan", "workload=small", "hydra.run.dir="), 1, ("hydra.run.dir: empty; give a folder of its own",)),
    Case("override-run-dir-working-folder", ("plan", "workload=small", "hydra.run.dir=."), 1, ("hydra.run.dir: '.' is the working folder",)),
    Case("override-run-dir-unset-env", ("plan", "workload=small", "hydra.run.dir=${oc.env:TPF_SURELY_UNSET_VAR}"), 1, ("hydra.run.dir: '${oc.env:TPF_SURELY_UNSET_VAR}' names the environment variable TPF_SURELY_UNSET_VAR, which is not set",)),
    Case("option-after-override", ("plan", "workload=small", "workload.n_periods=2", "report=minimal", "--config-dir", "{tmp}/cfg", "scenario=ok"), 0, (), {"cfg/scenario/ok.yaml": GOOD_SCENARIO}),
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
