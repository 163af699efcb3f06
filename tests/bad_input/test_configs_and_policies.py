"""Config values, policy files and calibration tables: clear errors naming the key, path or column."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.bad_input.conftest import Case
from tpf.errors import CalibrationError

SMALL = ("workload=small", "workload.n_periods=2", "report=minimal")
CONFIG_CASES = [
    Case("config-negative-cap", ("plan", *SMALL, "facility.power_cap_kw=-5"), 1, ("facility.power_cap_kw: must be in (0, 1e7], got -5.0",)),
    Case("config-pue-below-one", ("plan", *SMALL, "facility.pue=0.5"), 1, ("facility.pue",)),
    Case("config-pue-nan", ("plan", *SMALL, "facility.pue=nan"), 1, ("facility.pue",)),
    Case("config-text-for-number", ("plan", *SMALL, "facility.pue=high"), 1, ("facility.pue: must be a number, got 'high'",)),
    Case("config-text-for-optional-number", ("plan", *SMALL, "planner.carbon_budget_kg=lots"), 1, ("planner.carbon_budget_kg: must be a number or null, got 'lots'",)),
    Case("config-text-in-a-sweep", ("sweep", *SMALL, "grid.scale=a,2"), 1, ("grid.scale: must be a number, got 'a'",)),
    Case("config-unknown-group-option", ("plan", "grid=mars"), 1, ("grid: unknown option 'mars'; valid choices:",)),
    Case("config-unknown-scenario", ("plan", "scenario=nope"), 1, ("scenario: unknown option 'nope'",)),
    Case("config-carbon-scale-negative", ("plan", *SMALL, "grid.scale=-1"), 1, ("grid.scale",)),
    Case("config-carbon-above-range", ("plan", *SMALL, "grid.carbon_g_per_kwh=1e9"), 1, ("grid.carbon_g_per_kwh",)),
    Case("config-zero-periods", ("plan", "workload=small", "workload.n_periods=0", "report=minimal"), 1, ("workload.n_periods",)),
    Case("config-missing-csv-path", ("plan", *SMALL, "grid=electricitymaps", "grid.csv_path=null"), 1, ("grid.csv_path: required",)),
    Case("config-category-not-in-card", ("plan", *SMALL, "workload.classes=[{name: p, category: poetry, share: 1.0, n_in_tokens: 100, n_answer_tokens: 1}]"), 1, ("workload.classes[0].category: 'poetry' (class 'p') is not in the accuracy card",)),
    Case("config-bad-override-syntax", ("plan", "facility.pue=[1,"), 1, ("overrides",)),
    Case("config-simulate-too-many-queries", ("simulate", *SMALL, "simulate.max_queries=10"), 1, ("simulate.max_queries: the workload has about",)),
]


def _policy(edit):
    def make(path):
        from tpf.policy.demo import main as demo

        assert demo([str(path)]) == 0
        doc = json.loads(path.read_text())
        path.write_text(edit(doc) if callable(edit) else edit)
    return make


def _set(key, value):
    def edit(doc):
        doc[key] = value
        return json.dumps(doc)
    return edit


POLICY_CASES = [
    Case("policy-truncated", ("policy", "validate", "p.json"), 1, ("p.json",), {"p.json": _policy(lambda d: json.dumps(d)[:200])}),
    Case("policy-future-version", ("policy", "validate", "p.json"), 1, ("p.json", "version"), {"p.json": _policy(_set("format_version", 99))}),
    Case("policy-version-text", ("policy", "validate", "p.json"), 1, ("p.json", "version"), {"p.json": _policy(_set("format_version", "one"))}),
    Case("policy-no-classes", ("policy", "validate", "p.json"), 1, ("p.json", "classes"), {"p.json": _policy(_set("classes", []))}),
    Case("policy-not-utf8", ("policy", "validate", "p.json"), 1, ("p.json",), {"p.json": b"{\"format_version\": \xff}"}),
    Case("policy-missing-file", ("policy", "validate", "nope.json"), 1, ("nope.json",), {}),
    Case("policy-dev-zero", ("policy", "show", "/dev/zero"), 1, ("/dev/zero",), {}),
    Case("policy-show-a-list", ("policy", "show", "p.json"), 1, ("p.json",), {"p.json": "[1, 2]"}),
    Case("policy-export-into-a-file", ("policy", "export", "p.json", "--format", "semantic-router", "--out", "p.json/x.yaml"), 1, ("p.json/x.yaml: cannot write here",), {"p.json": _policy(lambda d: json.dumps(d))}),
]


COLUMNS = ("model", "dtype", "energy_j")
META = {"task": "energy_sweep", "model": "tiny", "weights": "random-init", "dtype": "float32", "hardware": "gpu-x", "source": "estimate"}


@pytest.mark.parametrize(("change", "column"), [({"dtype": "float16"}, "dtype"), ({"model": "other"}, "model")], ids=["dtype", "model"])
def test_calibration_resume_with_other_rows_names_the_column(tmp_path, change, column):
    from calibration.store import metadata_path, open_table

    table = tmp_path / "energy.csv"
    with open_table(table, COLUMNS, META) as handle:
        handle.append({"model": "tiny", "dtype": "float32", "energy_j": 1.0})
    metadata_path(table).unlink()
    with pytest.raises(CalibrationError, match=rf"energy.csv: row 1 \(line 2\), column {column}: the table holds"):
        open_table(table, COLUMNS, {**META, **change})
    assert table.read_text().count("\n") == 2  # nothing appended


def test_calibration_corrupted_metadata_is_named(tmp_path):
    from calibration.store import metadata_path, open_table

    table = tmp_path / "energy.csv"
    with open_table(table, COLUMNS, META):
        pass
    metadata_path(table).write_bytes(b"\x00{garbage")
    with pytest.raises(CalibrationError, match=r"energy.meta.json: the table's metadata file is unreadable or corrupted"):
        open_table(table, COLUMNS, META)


ROUTER_ARGUMENTS = [
    pytest.param(("\ud800", "math", 100, 3, 200.0), id="lone-surrogate-request-id"),
    pytest.param((1, "\udcff", 100, 3, 200.0), id="lone-surrogate-category"),
    pytest.param((1, "math", Decimal("NaN"), 3, 200.0), id="decimal-nan-tokens"),
    pytest.param((1, "math", 100, Decimal("sNaN"), Decimal("sNaN")), id="decimal-snan-hour-carbon"),
    pytest.param((1, "math", float("nan"), float("inf"), float("-inf")), id="nan-inf"),
    pytest.param((1, ["math"], {"n": 1}, "noon", "dirty"), id="wrong-types"),
    pytest.param((1, "math", 10**400, 10**400, 10**400), id="huge-integers"),
]


@pytest.mark.parametrize("arguments", ROUTER_ARGUMENTS)
def test_router_decide_never_raises(tmp_path, arguments):
    from tpf.policy import Router
    from tpf.policy.demo import main as demo

    assert demo([str(tmp_path / "p.json")]) == 0
    router = Router(tmp_path / "p.json")
    decision = router.decide(*arguments)
    assert decision == router.decide(*arguments) and decision.model in ("llama-8b", "llama-70b")
