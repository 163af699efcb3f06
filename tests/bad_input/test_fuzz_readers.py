"""Property-based fuzz of the readers: every input gives a clear error (a TpfError) or a correct result.

"Correct" is checked against a slow reference reader (standard library only,
one row at a time, the documented rules) for carbon series and traces, and
against what the input says: a well-formed series or trace
comes back with exactly its values and order; whatever a reader accepts obeys
its documented invariants (hourly UTC index, intensities in [0, 5000], arrival
times non-decreasing, token counts finite and >= 0, cards predicting finite,
positive energy and accuracies in [0, 1]).
"""

from __future__ import annotations

import math
import os
import string
import warnings
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.bad_input.conftest import ACCURACY_CARD, ENERGY_CARD, carbon_csv
from tpf.carbon import MAX_G_PER_KWH, read_carbon_series
from tpf.cards import AccuracyCard, EnergyCard, load_card
from tpf.config.safety import read_config_file
from tpf.errors import TpfError
from tpf.schema import MAX_TOKENS_PER_REQUEST, read_accuracy, read_measurements
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



# --- readers against slow reference readers ---------------------------------------------------------
#
# Each reference reads the same text with the standard library only, one row at a time, and
# applies the documented rules; a reader either refuses (TpfError) or returns what the reference
# returns. Where the reference refuses, the reader must refuse too.

CARBON_CELLS = st.one_of(st.floats(0, MAX_G_PER_KWH, allow_nan=False).map(repr),
                         st.sampled_from(["", "nan", "-1", "1e9", "inf", "abc", "0", "5000"]))


def _reference_carbon_values(cells: list[str]) -> list[float | None] | None:
    """Values in [0, 5000] (None for a blank or nan cell); None when a cell is refused."""
    values: list[float | None] = []
    for cell in cells:
        if cell.strip().lower() in ("", "nan"):
            values.append(None)
            continue
        try:
            number = float(cell)
        except ValueError:
            return None
        if not math.isfinite(number) or not 0 <= number <= MAX_G_PER_KWH:
            return None
        values.append(number)
    return values


def _reference_interval_s(seconds: list[int]) -> int | None:
    """The series' interval: the smallest step, dividing the hour and every step, steady (no run of
    four equal longer steps), every time on its grid; None when refused."""
    steps = [b - a for a, b in zip(seconds, seconds[1:], strict=False)]
    if any(step <= 0 for step in steps):
        return None
    interval = min(steps) if steps else 3600
    if interval > 3600 or 3600 % interval or any(step % interval for step in steps):
        return None
    if any(time % interval for time in seconds):
        return None
    for i in range(len(steps) - 3):
        if steps[i] != interval and steps[i] == steps[i + 1] == steps[i + 2] == steps[i + 3]:
            return None
    return interval


def reference_carbon(rows: list[tuple[str, str]]) -> list[tuple[int, float]] | None:
    """(hour start in epoch seconds, gCO2/kWh) per hour, or None where the rules refuse the file."""
    try:
        seconds = [int(datetime.strptime(t, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp()) for t, _ in rows]
    except ValueError:
        return None
    values = _reference_carbon_values([v for _, v in rows])
    interval = _reference_interval_s(seconds) if rows else None
    if values is None or interval is None or all(v is None for v in values):
        return None
    grid: list[float | None] = [None] * ((seconds[-1] - seconds[0]) // interval + 1)
    for time, value in zip(seconds, values, strict=True):
        grid[(time - seconds[0]) // interval] = value
    known = [i for i, v in enumerate(grid) if v is not None]
    filled = []
    for i, value in enumerate(grid):
        before = max((k for k in known if k <= i), default=known[0])
        after = min((k for k in known if k >= i), default=known[-1])
        low, high = grid[before], grid[after]
        filled.append(value if value is not None else low if before == after else
                      low + (high - low) * (i - before) / (after - before))
    hours: dict[int, list[float]] = {}
    for i, value in enumerate(filled):
        time = seconds[0] + i * interval
        hours.setdefault(time - time % 3600, []).append(value)
    return [(hour, sum(v) / len(v)) for hour, v in sorted(hours.items())]


@FUZZ
@given(minutes=st.sampled_from([15, 30, 60]), first=st.integers(0, 7), cells=st.lists(CARBON_CELLS, min_size=1, max_size=24),
       keep=st.lists(st.booleans(), min_size=24, max_size=24), swap=st.integers(-1, 23),
       stretch=st.sampled_from([1, 1, 1, 2]))
def test_carbon_reader_refuses_or_equals_the_reference(tmp_path, minutes, first, cells, keep, swap, stretch):
    start = datetime(2023, 7, 1, tzinfo=UTC)
    rows = [((start + timedelta(minutes=minutes * (first + i) * (stretch if i < 6 else 1))).strftime("%Y-%m-%d %H:%M"), v)
            for i, v in enumerate(cells) if keep[i] or i == 0]
    if 0 <= swap < len(rows) - 1:
        rows[swap], rows[swap + 1] = rows[swap + 1], rows[swap]
    path = _write(tmp_path, "c.csv", "Datetime (UTC),Carbon Intensity gCO₂eq/kWh (direct)\n"
                  + "".join(f"{t},{v}\n" for t, v in rows))
    expected = reference_carbon(rows)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            series = read_carbon_series(path).hourly
    except TpfError:
        event(f"refused (reference {'refuses' if expected is None else 'accepts'})")
        return
    event("accepted")
    assert expected is not None, f"the reader accepted what the rules refuse: {rows}"
    got = list(zip((series.index.asi8 // 10**9).tolist(), series.to_numpy(float).tolist(), strict=True))
    assert [h for h, _ in got] == [h for h, _ in expected]
    np.testing.assert_allclose([v for _, v in got], [v for _, v in expected], rtol=1e-9, atol=1e-9)


TRACE_CELLS = st.one_of(st.integers(0, 100_000).map(str), st.floats(0, 1e4, allow_nan=False).map(repr),
                        st.sampled_from(["", "nan", "-1", "inf", "1e12", "1e8", "abc", "0"]))


def reference_trace(rows: list[list[str]]) -> tuple[list[float], list[float], list[float]] | None:
    """Arrival times (s) and token counts of a generic trace, or None where the rules refuse it:
    every cell a finite number, arrivals >= 0 and never earlier than the row before, tokens in [0, 1e8]."""
    columns: tuple[list[float], list[float], list[float]] = ([], [], [])
    for row in rows:
        for column, cell in zip(columns, row, strict=True):
            try:
                number = float(cell)
            except ValueError:
                return None
            if not math.isfinite(number) or number < 0:
                return None
            column.append(number)
    arrivals, n_in, n_out = columns
    if not arrivals or any(b < a for a, b in zip(arrivals, arrivals[1:], strict=False)):
        return None
    if any(count > MAX_TOKENS_PER_REQUEST for count in n_in + n_out):
        return None
    return columns


@FUZZ
@given(rows=st.lists(st.lists(TRACE_CELLS, min_size=3, max_size=3), min_size=0, max_size=12), sort=st.booleans())
def test_trace_reader_refuses_or_equals_the_reference(tmp_path, rows, sort):
    if sort:
        rows = sorted(rows, key=lambda row: float(row[0]) if _is_float(row[0]) else 0.0)
    path = _write(tmp_path, "t.csv", "arrival_s,n_in_tokens,n_out_tokens\n" + "".join(",".join(r) + "\n" for r in rows))
    expected = reference_trace(rows)
    try:
        batch = read_trace(path)
    except TpfError:
        event(f"refused (reference {'refuses' if expected is None else 'accepts'})")
        return
    event("accepted")
    assert expected is not None, f"the reader accepted what the rules refuse: {rows}"
    for got, want in zip((batch.arrival_s, batch.n_in_tokens, batch.n_out_tokens), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def _is_float(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
