"""data: paths read from the data folder (TPF_DATA); a missing file names the setting."""

from __future__ import annotations

import pytest

from tpf.config.paths import DATA_ENV, data_dirs, resolve_path
from tpf.errors import ConfigError


def test_a_data_path_is_read_from_tpf_data(tmp_path, monkeypatch):
    (tmp_path / "carbon").mkdir()
    (tmp_path / "carbon" / "zone.csv").write_text("x\n")
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert data_dirs() == [tmp_path]
    assert resolve_path("data:carbon/zone.csv") == tmp_path / "carbon" / "zone.csv"


def test_a_missing_data_file_names_tpf_data(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match=r"data:carbon/none.csv: not found in the data folder \(TPF_DATA="):
        resolve_path("data:carbon/none.csv")
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"TPF_DATA is not set.*set TPF_DATA to the folder that holds carbon/"):
        resolve_path("data:carbon/none.csv")


def test_the_shipped_two_sites_scenario_reads_its_series_from_the_data_folder(tmp_path, monkeypatch):
    from tpf.config.build import build_inputs
    from tpf.config.compose import compose

    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match="set TPF_DATA"):
        build_inputs(compose(["scenario=two_sites"]))
