"""`tpf calibrate` (Hydra) and `python -m calibration.run` (argparse) build the same settings."""

from __future__ import annotations

import csv

import pytest

from calibration.app import CONF_DIR, settings_from_config
from calibration.pipeline import AccuracySettings, SweepSettings
from calibration.run import build_parser, sweep_settings
from tpf.errors import ConfigError


def compose(overrides: list[str]) -> dict:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        cfg = hydra_compose(config_name="calibrate", overrides=overrides)
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("grid", ["default", "quick", "smoke"])
@pytest.mark.parametrize("meter", ["nvml", "estimate"])
def test_every_sweep_config_composes_to_valid_settings(grid, meter):
    settings = settings_from_config(compose([f"sweep_grid={grid}", f"meter={meter}"]))
    assert isinstance(settings, SweepSettings)
    assert settings.grid.problems() == [] and settings.meter.problems() == []
    assert settings.model.problems() == []


def test_default_grid_reaches_the_required_ranges():
    grid = settings_from_config(compose([])).grid
    assert max(grid.n_in_tokens) >= 4096 and max(grid.n_out_tokens) >= 1024 and max(grid.batch_sizes) >= 64
    assert min(grid.n_in_tokens) == min(grid.n_out_tokens) == min(grid.batch_sizes) == 1


def test_accuracy_config_and_argparse_agree(tmp_path):
    cfg = compose(["task=accuracy", "accuracy.items=items.jsonl", "model.weights=pretrained", "model.name=/m"])
    settings = settings_from_config(cfg)
    assert isinstance(settings, AccuracySettings)
    assert settings.strategies == ("zero_shot", "cot", "mv") and settings.votes == (5,)
    args = build_parser().parse_args(["sweep", "--model", "llama-3.1-8b", "--out", "o"])
    from_cli = sweep_settings(args)
    from_hydra = settings_from_config(compose(["out_dir=o"]))
    assert from_cli.grid == from_hydra.grid and from_cli.model == from_hydra.model


def test_bad_values_are_reported_with_their_place():
    with pytest.raises(ConfigError, match="task: must be one of"):
        settings_from_config(compose(["task=train"]))
    settings = settings_from_config(compose(["sweep_grid.n_in_tokens=[0,64]", "meter.kind=bogus"]))
    assert "grid.n_in_tokens[0]: must be an integer >= 1, got 0" in settings.grid.problems()
    assert any(p.startswith("meter.kind: must be one of") for p in settings.meter.problems())
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sweep", "--model", "m", "--out", "o", "--n-in", "1,x"])


def test_tpf_calibrate_runs_a_labelled_estimate_sweep(tmp_path):
    pytest.importorskip("transformers")
    from tpf.cli import main

    code = main(["calibrate", "model.name=tiny-llama", "sweep_grid=smoke", "meter=estimate",
                 f"out_dir={tmp_path}", "progress=false", "sweep_grid.n_in_tokens=[4]",
                 "sweep_grid.n_out_tokens=[3]", "sweep_grid.batch_sizes=[1]", f"hydra.run.dir={tmp_path}/hydra"])
    assert code == 0
    with (tmp_path / "tiny-llama" / "energy.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 1 + 3 * 2  # warm-up, then (prefill, decode, total) x 2 repetitions
    assert {r["source"] for r in rows} == {"estimate"}


def test_tpf_calibrate_reports_a_missing_value(tmp_path, capsys):
    from tpf.cli import main

    code = main(["calibrate", "meter=replay", f"hydra.run.dir={tmp_path}/hydra"])
    assert code == 1
    assert "meter.replay_log: required when meter.kind is replay" in capsys.readouterr().err
