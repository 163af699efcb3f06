"""Scenarios kept outside the package: --config-dir, hydra.searchpath and tpf init."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tpf.app import main
from tpf.config.compose import compose
from tpf.config.overrides import parse_command_line
from tpf.config.starter import write_starter
from tpf.errors import ConfigError

SMALL = ["workload.n_periods=2", "report=minimal"]


def _user_folder(root: Path) -> Path:
    """A scenario folder with its own fleet, workload and carbon profile."""
    folder = root / "my_configs"
    (folder / "scenario").mkdir(parents=True)
    (folder / "fleet").mkdir()
    (folder / "workload").mkdir()
    (folder / "grid").mkdir()
    (folder / "fleet" / "tiny.yaml").write_text(
        "name: tiny\nentries:\n  - {model: llama-3.2-1b, hardware: '${hardware.name}', gpus: 2}\n"
        "  - {model: llama-3.1-8b, hardware: '${hardware.name}', gpus: 3}\n")
    (folder / "workload" / "two_classes.yaml").write_text(
        "name: two_classes\nn_periods: 2\ntotal_rate_per_s: 2\nclasses:\n"
        "  - {name: m, category: math, n_in_tokens: 140, share: 0.5}\n"
        "  - {name: h, category: humanities, n_in_tokens: 260, share: 0.5}\n")
    (folder / "grid" / "flat_dirty.yaml").write_text(
        "name: flat_dirty\nkind: profile\nhourly_g_per_kwh: [800, 900]\n")
    (folder / "scenario" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /fleet: tiny\n  - override /workload: two_classes\n"
        "  - override /grid: flat_dirty\nscenario_title: mine\n")
    return folder


def test_a_scenario_folder_outside_the_repository_runs_with_config_dir(tmp_path, monkeypatch):
    folder = _user_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    code = main(["plan", "--config-dir", str(folder), "scenario=mine", "report=minimal",
                 f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["title"].startswith("mine")
    config = compose(["scenario=mine"], config_dirs=[folder])
    assert [e.gpus for e in config.fleet.entries] == [2, 3]
    assert [c.name for c in config.workload.classes] == ["m", "h"]
    assert config.grid.hourly_g_per_kwh == [800, 900]


def test_hydra_searchpath_adds_the_folder_to_every_group(tmp_path):
    folder = _user_folder(tmp_path)
    code = main(["plan", f"hydra.searchpath=[file://{folder}]", "scenario=power_capped", "fleet=tiny",
                 "workload=two_classes", "grid=flat_dirty", *SMALL, f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "overrides: fleet=tiny, workload=two_classes, grid=flat_dirty" in summary["title"]
    assert "Setting: 2 x llama-3.2-1b + 3 x llama-3.1-8b on l40s" in summary["description"]


def test_user_options_are_checked_with_the_user_folder(tmp_path):
    folder = _user_folder(tmp_path)
    with pytest.raises(ConfigError, match="scenario: unknown option 'minx'; valid choices: capacity, carbon_whatif, mine"):
        main(["plan", f"--config-dir={folder}", "scenario=minx"])
    with pytest.raises(ConfigError, match="folder not found"):
        main(["plan", "--config-dir", str(tmp_path / "missing"), "scenario=mine"])


def test_cfg_job_with_a_space_prints_the_config(capsys):
    assert main(["plan", "--cfg", "job", "facility.pue=1.1"]) == 0
    assert "pue: 1.1" in capsys.readouterr().out
    line = parse_command_line(["--cfg", "job", "-cd", "/x", "a=1"])
    assert line.overrides == ["a=1"] and line.config_dirs == [Path("/x")]


def test_tpf_init_writes_a_starter_that_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = write_starter(tmp_path / "start", "mine")
    assert {p.relative_to(tmp_path / "start").as_posix() for p in written} == {
        "fleet/mine.yaml", "grid/mine.yaml", "scenario/mine.yaml", "workload/mine.yaml"}
    config = compose(["scenario=mine"], config_dirs=[tmp_path / "start"])
    assert config.fleet.name == "mine" and config.workload.name == "mine" and config.grid.name == "mine"
    with pytest.raises(ConfigError, match="would overwrite"):
        write_starter(tmp_path / "start", "mine")
    code = main(["plan", "--config-dir", str(tmp_path / "start"), "scenario=mine", *SMALL,
                 f"hydra.run.dir={tmp_path / 'run'}"])
    assert code == 0
