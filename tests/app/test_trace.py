"""``tpf simulate`` replaying a trace: tiling, time scaling, class mix, tokens, bad paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tpf.app import main
from tpf.config.build import build_inputs
from tpf.config.compose import compose
from tpf.errors import ConfigError, DataError
from tpf.run import run_scenario

TRACE = Path(__file__).parent / "data" / "synthetic_azure_trace.csv"
# workload=small starts at 12:00: the profile's multipliers for 12:00, 13:00, 14:00
PROFILE_12_TO_14 = (1.52, 1.58, 1.60)
SMALL_TRACE = ["workload=small", "workload.n_periods=3", "report=minimal",
               f"workload.trace.path={TRACE}", "workload.trace.format=azure"]


@pytest.fixture(scope="module")
def raw_trace() -> pd.DataFrame:
    return pd.read_csv(TRACE)


def test_trace_run_end_to_end_tiled_over_three_hours(tmp_path, raw_trace):
    config = compose(SMALL_TRACE)
    summary = run_scenario(config, "simulate", "paper_l40s", tmp_path)
    hourly = pd.read_csv(tmp_path / "hourly.csv")
    assert len(hourly) == 3
    # hour h holds the one-hour trace at profile[h] times its rate (whole copy + thinned copy)
    expected = len(raw_trace) * np.asarray(PROFILE_12_TO_14)
    assert hourly["served_queries"].to_numpy() == pytest.approx(expected, rel=0.1)
    simulated = summary["simulation"]
    # the plan is made for the replayed demand, query for query
    assert summary["queries"] == pytest.approx(simulated["served_queries"])
    plan = pd.read_csv(tmp_path / "plan.csv")
    assert plan.groupby("period")["queries"].sum().to_numpy() == pytest.approx(hourly["served_queries"].to_numpy())
    assert simulated["expected_accuracy"] == pytest.approx(summary["accuracy"], abs=0.02)
    assert simulated["it_energy_j"] == pytest.approx(simulated["query_energy_j"] + simulated["idle_energy_j"])
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["simulation"]["served_queries"] == simulated["served_queries"]


def test_replayed_requests_take_input_tokens_from_the_trace_and_classes_from_the_mix(raw_trace):
    inputs = build_inputs(compose(SMALL_TRACE))
    requests = inputs.extras["requests"]
    assert set(np.unique(requests.n_in_tokens)) <= set(raw_trace["ContextTokens"].astype(float))
    assert requests.n_in_tokens.mean() == pytest.approx(raw_trace["ContextTokens"].mean(), rel=0.1)
    names = np.asarray(requests.class_names)[requests.class_code]
    shares = pd.Series(names).value_counts(normalize=True)
    # workload=small: math 0.4, health 0.3, sociology 0.3
    assert shares["math"] == pytest.approx(0.4, abs=0.05)
    assert shares["health"] == pytest.approx(0.3, abs=0.05)
    # answer_tokens=class: a zero-shot answer is the class's n_answer_tokens (1)
    assert np.all(requests.n_out_tokens == 1.0)
    # the plan's classes carry the trace's mean input tokens and the replay's rates
    math = next(c for c in inputs.workload.classes if c.name == "math")
    mine = names == "math"
    assert math.n_in_tokens == pytest.approx(requests.n_in_tokens[mine].mean())
    assert sum(math.rate_per_s) * 3600 == pytest.approx(mine.sum())


def test_answer_tokens_from_the_trace(raw_trace):
    inputs = build_inputs(compose([*SMALL_TRACE, "workload.trace.answer_tokens=trace"]))
    requests = inputs.extras["requests"]
    assert set(np.unique(requests.n_out_tokens)) <= set(raw_trace["GeneratedTokens"].astype(float))
    mean_answer = np.mean([c.n_answer_tokens for c in inputs.workload.classes])
    assert mean_answer == pytest.approx(raw_trace["GeneratedTokens"].mean(), rel=0.15)


def test_time_scale_and_replay_without_tiling(raw_trace):
    base = len(build_inputs(compose(SMALL_TRACE)).extras["requests"])
    faster = build_inputs(compose([*SMALL_TRACE, "workload.trace.time_scale=0.5"])).extras["requests"]
    assert len(faster) == pytest.approx(2 * base, rel=0.05)
    once = build_inputs(compose([*SMALL_TRACE, "workload.trace.tile=false"]))
    requests = once.extras["requests"]
    assert len(requests) == len(raw_trace)  # the one-hour trace, replayed once
    assert [sum(c.rate_per_s[1:]) for c in once.workload.classes] == [0.0, 0.0, 0.0]


def test_bad_trace_path_is_a_clear_error_naming_it(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "trace.csv"
    with pytest.raises(ConfigError, match=r"workload\.trace\.path: trace file not found: .*nowhere/trace\.csv"):
        build_inputs(compose([*SMALL_TRACE, f"workload.trace.path={missing}"]))
    code = main(["simulate", *SMALL_TRACE, f"workload.trace.path={missing}", f"hydra.run.dir={tmp_path}"])
    assert code == 1
    assert f"trace file not found: '{missing}'" in capsys.readouterr().err
    assert not (tmp_path / "summary.json").exists()


def test_trace_of_the_wrong_format_or_bad_rows_is_refused(tmp_path):
    with pytest.raises(DataError, match="format generic expects columns arrival_s.* but the file's columns match the azure layout"):
        build_inputs(compose([*SMALL_TRACE, "workload.trace.format=generic"]))
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00,10,5\n2023-11-16 18:00:01,-3,5\n")
    with pytest.raises(DataError, match="row 2, column ContextTokens"):
        build_inputs(compose([*SMALL_TRACE, f"workload.trace.path={bad}"]))


def test_generic_trace_categories_must_match_the_classes(tmp_path):
    trace = tmp_path / "trace.jsonl"
    rows = [{"arrival_s": t, "n_in_tokens": 200, "n_out_tokens": 4, "category": c}
            for t, c in ((0.5, "math"), (1.0, "health"), (2.0, "math"))]
    trace.write_text("".join(json.dumps(r) + "\n" for r in rows))
    requests = build_inputs(compose([*SMALL_TRACE, f"workload.trace.path={trace}",
                                     "workload.trace.format=generic"])).extras["requests"]
    names = np.asarray(requests.class_names)[requests.class_code]
    categories = requests.category_names()
    assert set(zip(names, categories, strict=True)) == {("math", "math"), ("health", "health")}
    trace.write_text(json.dumps({**rows[0], "category": "law"}) + "\n")
    with pytest.raises(DataError, match=r"\['law'\] match no class of the workload; valid categories: health"):
        build_inputs(compose([*SMALL_TRACE, f"workload.trace.path={trace}", "workload.trace.format=generic"]))


def test_azure_conv_option_replays_the_real_trace(shared_data):
    config = compose(["workload=azure_conv", "workload.n_periods=1", "report=minimal"])
    requests = build_inputs(config).extras["requests"]
    # 19,366 requests in the trace's hour, at the 00:00 multiplier 0.48
    assert len(requests) == pytest.approx(19366 * 0.48, rel=0.02)
