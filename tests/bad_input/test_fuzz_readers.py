"""Property-based fuzz of the readers: every input gives a clear error (a TpfError) or a correct result.

"Correct" is checked against what the input says: a well-formed series or trace
comes back with exactly its values and order; whatever a reader accepts obeys
its documented invariants (hourly UTC index, intensities in [0, 5000], arrival
times non-decreasing, token counts finite and >= 0, cards predicting finite,
positive energy and accuracies in [0, 1]).
"""

from __future__ import annotations

import os
import string
import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bad_input.conftest import ACCURACY_CARD, ENERGY_CARD, carbon_csv
from tpf.carbon import MAX_G_PER_KWH, read_carbon_series
from tpf.cards import AccuracyCard, EnergyCard, load_card
from tpf.config.safety import read_config_file
from tpf.errors import TpfError
from tpf.schema import read_accuracy, read_measurements
from tpf.simulate.workload import read_trace

# TPF_FUZZ_EXAMPLES=500 for a longer run (500 examples per property passed when this suite was written)
FUZZ = settings(max_examples=int(os.environ.get("TPF_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

cell_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**12, 10**12).map(str),
    st.text(alphabet=string.printable, max_size=8),
    st.sampled_from(["", "nan", "inf", "-0", "1e9", "1e-300", "NaN", "null", "2023-07-01 00:00", "\ufeff1", "\ud800"]),
)


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    path.write_bytes(text)
    return path


# --- carbon series --------------------------------------------------------------------------

@FUZZ
@given(values=st.lists(st.floats(0, MAX_G_PER_KWH, allow_nan=False), min_size=1, max_size=30),
       minutes=st.sampled_from([60, 30, 15]))
def test_carbon_well_formed_series_are_read_exactly(tmp_path, values, minutes):
    per_hour = 60 // minutes
    values = values[: len(values) - len(values) % per_hour] or values[:per_hour] * per_hour
    times = [(pd.Timestamp("2023-07-01") + pd.Timedelta(minutes=minutes * i)).strftime("%Y-%m-%d %H:%M:%S")
             for i in range(len(values))]
    path = _write(tmp_path, "c.csv", carbon_csv([repr(v) for v in values], times))
    series = read_carbon_series(path)
    expected = np.asarray(values).reshape(-1, per_hour).mean(axis=1)
    np.testing.assert_allclose(series.hourly.to_numpy(), expected, rtol=1e-12, atol=1e-9)
    assert series.interval_minutes == minutes


@FUZZ
@given(cells=st.lists(st.tuples(cell_text, cell_text), min_size=0, max_size=12))
def test_carbon_any_rows_give_a_clear_error_or_a_valid_series(tmp_path, cells):
    text = "Datetime (UTC),Carbon Intensity gCO₂eq/kWh (direct)\n" + "".join(f"{t},{v}\n" for t, v in cells)
    path = _write(tmp_path, "c.csv", text.replace("\n\n", "\n"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            series = read_carbon_series(path).hourly
    except TpfError:
        return
    assert str(series.index.tz) == "UTC" and len(series) >= 1
    assert np.all(np.diff(series.index.asi8) == 3_600_000_000_000)
    assert np.all((series.to_numpy() >= 0) & (series.to_numpy() <= MAX_G_PER_KWH))


# --- traces -----------------------------------------------------------------------------------

@FUZZ
@given(gaps=st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0, 7.25]), min_size=1, max_size=30),
       tokens=st.integers(0, 100_000), unit=st.sampled_from(["s", "ms"]))
def test_trace_well_formed_rows_keep_values_and_file_order(tmp_path, gaps, tokens, unit):
    arrivals = np.cumsum(gaps)
    scale = 1000.0 if unit == "ms" else 1.0
    rows = "".join(f"{float(a) * scale!r},{tokens + i},{i}\n" for i, a in enumerate(arrivals))
    path = _write(tmp_path, "t.csv", "t,prompt,answer\n" + rows)
    batch = read_trace(path, "generic", {"arrival": "t", "n_in": "prompt", "n_out": "answer", "time_unit": unit})
    np.testing.assert_allclose(batch.arrival_s, arrivals, rtol=1e-12)
    assert batch.n_out_tokens.tolist() == list(range(len(arrivals)))  # file order, ties included


@FUZZ
@given(cells=st.lists(st.tuples(cell_text, cell_text, cell_text), min_size=0, max_size=10),
       header=st.sampled_from(["arrival_s,n_in_tokens,n_out_tokens", "TIMESTAMP,ContextTokens,GeneratedTokens",
                               "arrived_at,num_prefill_tokens,num_decode_tokens", "a,b,c"]))
def test_trace_any_rows_give_a_clear_error_or_a_valid_batch(tmp_path, cells, header):
    path = _write(tmp_path, "t.csv", header + "\n" + "".join(",".join(c) + "\n" for c in cells))
    try:
        batch = read_trace(path)
    except TpfError:
        return
    assert len(batch) >= 1 and np.all(np.diff(batch.arrival_s) >= 0)
    for column in (batch.arrival_s, batch.n_in_tokens, batch.n_out_tokens):
        assert np.all(np.isfinite(column)) and np.all(column >= 0)


# --- cards --------------------------------------------------------------------------------------

yaml_values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.lists(st.floats(-10, 10), max_size=4), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _leaf_paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaf_paths(value, (*prefix, index))
    yield prefix


def _mutated(text: str, data) -> str:
    doc = yaml.safe_load(text)
    paths = [p for p in _leaf_paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            if data.draw(st.booleans()) or not isinstance(target, dict):
                target[path[-1]] = data.draw(yaml_values)
            else:
                del target[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
    return yaml.safe_dump(doc)


def _card_is_usable(card) -> None:
    if isinstance(card, EnergyCard):
        r = card.valid_range
        grid = np.array(np.meshgrid(r.n_in_tokens, r.n_out_tokens, r.batch_size)).reshape(3, -1)
        energy = card.energy_j(*grid)
        assert np.all(np.isfinite(energy)) and np.all(energy > 0)
        assert card.idle_power_w >= 0 and card.gpus_per_replica >= 1
    else:
        assert isinstance(card, AccuracyCard)
        for curve in card.curves:
            raw = curve.accuracy(np.array([0.0, 1.0, 64.0, 1e6]))
            assert np.all(np.isfinite(raw)) and np.all((raw >= 0) & (raw <= 1))


@FUZZ
@given(data=st.data(), base=st.sampled_from([ENERGY_CARD, ACCURACY_CARD]))
def test_card_mutations_give_a_clear_error_or_a_usable_card(tmp_path, data, base):
    path = _write(tmp_path, "card.yaml", _mutated(base, data))
    try:
        card = load_card(path)
    except TpfError as exc:
        assert "card.yaml" in str(exc)
        return
    _card_is_usable(card)


@FUZZ
@given(cut=st.integers(0, len(ENERGY_CARD)), junk=st.binary(max_size=8))
def test_truncated_or_garbled_cards_give_a_clear_error_or_a_usable_card(tmp_path, cut, junk):
    path = _write(tmp_path, "card.yaml", ENERGY_CARD.encode()[:cut] + junk)
    try:
        card = load_card(path)
    except TpfError:
        return
    _card_is_usable(card)


# --- tables and scenarios ----------------------------------------------------------------------------

MEASUREMENT_HEADER = ("model", "hardware", "n_in_tokens", "n_out_tokens", "batch_size", "energy_j")
ACCURACY_HEADER = ("model", "category", "strategy", "budget_tokens", "votes", "item_id", "correct")


def _read_table(tmp_path, reader, header, cells):
    """``reader`` on a CSV of ``header`` and ``cells``; None when it refused with a TpfError."""
    path = _write(tmp_path, "t.csv", ",".join(header) + "\n" + "".join(",".join(c) + "\n" for c in cells))
    try:
        return reader(path)
    except TpfError:
        return None


@FUZZ
@given(cells=st.lists(st.lists(cell_text, min_size=6, max_size=6), min_size=0, max_size=6))
def test_measurement_tables_give_a_clear_error_or_checked_rows(tmp_path, cells):
    table = _read_table(tmp_path, read_measurements, MEASUREMENT_HEADER, cells)
    for column in ("n_in_tokens", "n_out_tokens", "energy_j", "batch_size") if table is not None else ():
        values = table[column].to_numpy(float)
        assert np.all(np.isfinite(values)) and np.all(values >= 0)


@FUZZ
@given(cells=st.lists(st.lists(cell_text, min_size=7, max_size=7), min_size=0, max_size=6))
def test_accuracy_tables_give_a_clear_error_or_checked_rows(tmp_path, cells):
    table = _read_table(tmp_path, read_accuracy, ACCURACY_HEADER, cells)
    assert table is None or not table.duplicated(list(ACCURACY_HEADER[:6])).any()


scenario_values = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=12), st.sampled_from(["${oc.env:HOME}", "${now:%H}", "_target_"])),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(["hydra", "_target_", "planner", "callbacks", "run", "x", "_partial_"]), children, max_size=3)),
    max_leaves=8,
)


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(["hydra", "planner", "workload", "scenario_title", "defaults", "grid"]), scenario_values, max_size=4))
def test_scenarios_give_a_clear_error_or_data_only(tmp_path, doc):
    path = _write(tmp_path, "s.yaml", yaml.safe_dump(doc))
    try:
        data = read_config_file(path)
    except TpfError:
        return
    text = yaml.safe_dump(data)
    assert "hydra" not in data and "_target_:" not in text and "_partial_:" not in text and "${oc.env" not in text


# --- the router never raises -----------------------------------------------------------------------------

odd_values = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(), st.binary(max_size=4),
    st.sampled_from([Decimal("NaN"), Decimal("sNaN"), Decimal("1e400"), "\ud800", "\udcff-x", 10**400, [], {}, object()]),
)


@FUZZ
@given(request_id=odd_values, category=odd_values, n_in=odd_values, hour=odd_values, carbon=odd_values)
def test_router_decides_for_any_arguments(tmp_path_factory, request_id, category, n_in, hour, carbon):
    router = _router(tmp_path_factory)
    first = router.decide(request_id, category, n_in, hour, carbon)
    assert first == router.decide(request_id, category, n_in, hour, carbon)  # deterministic


_ROUTER = {}


def _router(tmp_path_factory):
    if "router" not in _ROUTER:
        from tpf.policy import Router
        from tpf.policy.demo import main as demo

        path = tmp_path_factory.mktemp("policy") / "policy.json"
        assert demo([str(path)]) == 0
        _ROUTER["router"] = Router(path)
    return _ROUTER["router"]

