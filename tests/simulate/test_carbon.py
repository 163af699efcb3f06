from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tpf.errors import ConfigError, DataError
from tpf.simulate.carbon import (
    CarbonGapWarning,
    constant_series,
    country_intensity,
    per_hour,
    pue_per_hour,
    read_electricitymaps_csv,
    shipped_profile,
    window,
)


def test_direct_and_lca_columns(data_dir):
    direct = read_electricitymaps_csv(data_dir / "carbon_6h.csv", "direct")
    lca = read_electricitymaps_csv(data_dir / "carbon_6h.csv", "lca")
    assert direct.name == "XX-TEST"
    assert direct.tolist() == [200, 180, 150, 300, 400, 350]
    assert lca.iloc[0] == 260
    assert str(direct.index.tz) == "UTC"
    assert window(direct, "2023-07-01 02:00", 3).tolist() == [150, 300, 400]
    with pytest.raises(DataError, match="does not cover"):
        window(direct, "2023-07-01 04:00", 3)


def _rewrite(tmp_path, data_dir, edit):
    lines = (data_dir / "carbon_6h.csv").read_text().splitlines()
    path = tmp_path / "c.csv"
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


def test_gaps_are_filled_with_a_warning_that_counts_hours(tmp_path, data_dir):
    # drop the 02:00 row and blank the 04:00 value: 2 hours to fill
    def edit(lines):
        out = [line for line in lines if "2023-07-01 02:00" not in line]
        return [line.replace(",400,470,", ",,470,") for line in out]
    with pytest.warns(CarbonGapWarning, match="filled 2 missing hour"):
        series = read_electricitymaps_csv(_rewrite(tmp_path, data_dir, edit))
    assert len(series) == 6
    assert series.iloc[2] == pytest.approx(240.0)  # halfway between 180 (01:00) and 300 (03:00)
    assert series.iloc[4] == pytest.approx(325.0)


def test_other_time_zone_than_declared_is_an_error(tmp_path, data_dir):
    header_cet = _rewrite(tmp_path, data_dir, lambda lines: [lines[0].replace("(UTC)", "(CET)")] + lines[1:])
    with pytest.raises(DataError, match="time zone 'CET'.*declared 'UTC'"):
        read_electricitymaps_csv(header_cet)
    offset = _rewrite(tmp_path, data_dir, lambda lines: [lines[0]] + [line.replace(":00:00,", ":00:00+02:00,") for line in lines[1:]])
    with pytest.raises(DataError, match=r"row 1.*offset \+02:00.*declared UTC"):
        read_electricitymaps_csv(offset)


def test_duplicate_unsorted_negative_missing(tmp_path, data_dir):
    dup = _rewrite(tmp_path, data_dir, lambda lines: lines[:3] + [lines[2]] + lines[3:])
    with pytest.raises(DataError, match="row 3.*duplicate"):
        read_electricitymaps_csv(dup)
    swapped = _rewrite(tmp_path, data_dir, lambda lines: [lines[0], lines[2], lines[1]] + lines[3:])
    with pytest.raises(DataError, match="row 2.*not sorted"):
        read_electricitymaps_csv(swapped)
    negative = _rewrite(tmp_path, data_dir, lambda lines: [lines[0], lines[1].replace(",200,", ",-5,")] + lines[2:])
    with pytest.raises(DataError, match="row 1.*must be >= 0"):
        read_electricitymaps_csv(negative)
    no_column = _rewrite(tmp_path, data_dir, lambda lines: [lines[0].replace("(direct)", "(other)")] + lines[1:])
    with pytest.raises(DataError, match="missing column"):
        read_electricitymaps_csv(no_column)


def test_constant_country_and_shipped_profiles(tmp_path):
    assert constant_series(300, "2023-01-01", 5).tolist() == [300.0] * 5
    path = tmp_path / "countries.csv"
    pd.DataFrame({"iso_code": ["FRA", "FRA", "DEU"], "year": [2021, 2022, 2022],
                  "carbon_intensity": [60.0, 85.0, 380.0]}).to_csv(path, index=False)
    assert country_intensity(path, "fra") == 85.0
    with pytest.raises(DataError, match="no row with iso_code 'XYZ'"):
        country_intensity(path, "XYZ")
    solar, coal = shipped_profile("US-CAL-CISO"), shipped_profile("US-MIDW-LGEE")
    assert solar.shape == (24,) and coal.min() > solar.max()
    with pytest.raises(ConfigError, match="must be one of"):
        shipped_profile("MARS")


def test_per_hour_shapes_and_pue_bounds():
    assert per_hour(5.0, 3, "x").tolist() == [5.0, 5.0, 5.0]
    assert per_hour(np.arange(24.0), 30, "x")[24:].tolist() == list(range(6))
    with pytest.raises(ConfigError, match="x: needs 1, 24 or >= 30"):
        per_hour(np.arange(5.0), 30, "x")
    with pytest.raises(ConfigError, match=r"facility.pue\[1\]: must be >= 1.0"):
        pue_per_hour([1.2, 0.9, 1.1], 3)


def test_real_series_reads_without_gaps(shared_data):
    series = read_electricitymaps_csv(shared_data / "carbon" / "electricitymaps_2023" / "US-CAL-CISO_2023_hourly.csv")
    assert len(series) == 8760 and 150 < series.mean() < 350


def test_local_time_series_are_converted_to_utc(tmp_path, data_dir):
    local = _rewrite(tmp_path, data_dir, lambda lines: [lines[0].replace("(UTC)", "(Europe/Madrid)")] + lines[1:])
    series = read_electricitymaps_csv(local, declared_tz="Europe/Madrid")
    assert str(series.index[0]) == "2023-06-30 22:00:00+00:00"  # 00:00 in Madrid (UTC+2 in July)
    assert series.tolist() == [200, 180, 150, 300, 400, 350]


def test_a_30_minute_series_is_averaged_to_hours(tmp_path):
    from tpf.carbon import read_carbon_series

    times = [f"2023-07-01 0{h}:{m}:00" for h in range(3) for m in ("00", "30")]
    values = [100, 200, 300, 500, 0, 50]
    path = tmp_path / "half_hourly.csv"
    path.write_text("Datetime (UTC),Carbon Intensity gCO₂eq/kWh (direct)\n"
                    + "".join(f"{t},{v}\n" for t, v in zip(times, values, strict=True)))
    series = read_carbon_series(path)
    assert series.interval_minutes == 30 and series.hourly.tolist() == [150.0, 400.0, 25.0]
    assert "30-minute series averaged to hours" in series.note()
