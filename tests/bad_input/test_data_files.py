"""Tables, cards, traces and carbon series: every bad file is a clear error naming file, row or key."""

from __future__ import annotations

from tests.bad_input.conftest import (
    ACCURACY_CARD,
    ACCURACY_POINTS_CSV,
    ENERGY_CARD,
    POINTS_CSV,
    Case,
    accuracy_table,
    carbon_csv,
    measurement_rows,
)


def _table(edit):
    def make(path):
        edit(measurement_rows()).to_csv(path, index=False)
    return make


def _set(column, value, row=0):
    def edit(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return edit


FIT = ("fit", "energy", "--data", "m.csv", "--out", "card.yaml")
TABLE_CASES = [
    Case("fit-huge-n-in", FIT, 1, ("m.csv", "row 1", "n_in_tokens", "must be <= 1e+08"), {"m.csv": _table(_set("n_in_tokens", "1e300"))}),
    Case("fit-outlier-mad-nan", (*FIT, "--outlier-mad", "nan"), 1, ("--outlier-mad", "got nan"), {"m.csv": _table(lambda f: f)}),
    Case("fit-outlier-mad-negative", (*FIT, "--outlier-mad", "-1"), 1, ("--outlier-mad",), {"m.csv": _table(lambda f: f)}),
    Case("fit-text-energy", FIT, 1, ("m.csv", "row 1", "energy_j"), {"m.csv": _table(_set("energy_j", "lots"))}),
    Case("fit-negative-energy", FIT, 1, ("m.csv", "row 1", "energy_j"), {"m.csv": _table(_set("energy_j", "-5"))}),
    Case("fit-all-tiny-energies", FIT, 1, ("m.csv", "column energy_j: the fit is zero everywhere"), {"m.csv": _table(lambda f: f.assign(energy_j=1e-300))}),
    Case("fit-utf8-bom", FIT, 0, (), {"m.csv": lambda p: p.write_bytes(b"\xef\xbb\xbf" + measurement_rows().to_csv(index=False).encode())}),
    Case("fit-only-oom-rows", FIT, 1, ("m.csv", "no usable rows", "status other than ok"), {"m.csv": _table(lambda f: f.assign(status="oom"))}),
    Case("fit-not-utf8", FIT, 1, ("m.csv",), {"m.csv": b"model,hardware\n\xff\xfe,\x80\n"}),
    Case("fit-header-only", FIT, 1, ("m.csv", "no data rows"), {"m.csv": "model,hardware,n_in_tokens,n_out_tokens,batch_size,energy_j\n"}),
    Case("fit-missing-file", FIT, 1, ("m.csv",), {}),
    Case("fit-out-file-without-yaml-suffix", ("fit", "energy", "--data", "m.csv", "--out", "notes.txt"), 1, ("--out: notes.txt is an existing file without a .yaml suffix",), {"m.csv": _table(lambda f: f), "notes.txt": "keep"}),
    Case("fit-out-into-a-file", ("fit", "energy", "--data", "m.csv", "--out", "m.csv/card.yaml"), 1, ("m.csv/card.yaml: cannot write here",), {"m.csv": _table(lambda f: f)}),
    Case("fit-accuracy-repeated-item", ("fit", "accuracy", "--data", "a.csv", "--out", "c.yaml"), 1, ("a.csv", "row 2", "column item_id: 'q1' repeats"), {"a.csv": "model,category,strategy,budget_tokens,votes,item_id,correct\nm,math,zero_shot,0,1,q1,1\nm,math,zero_shot,0,1,q1,0\nm,math,zero_shot,0,1,q2,1\n"}),
    Case("fit-accuracy-bom", ("fit", "accuracy", "--data", "a.csv", "--out", "c.yaml"), 0, (), {"a.csv": b"\xef\xbb\xbf" + accuracy_table().encode()}),
    Case("fit-accuracy-correct-above-items", ("fit", "accuracy", "--data", "a.csv", "--out", "c.yaml"), 1, ("a.csv", "n_correct"), {"a.csv": accuracy_table([("m", "math", "zero_shot", "0", "1", "10", "11")])}),
    Case("import-n-in-tokens-not-a-number", ("import", "mlenergy-v2", "x.csv", "--out", "o.csv", "--n-in-tokens", "chat=abc"), 1, ("--n-in-tokens: must be a number > 0 for task 'chat'", "'abc'"), {"x.csv": "model,gpu\n"}),
    Case("import-missing-path", ("import", "wilkins", "nothere", "--out", "o.csv"), 1, ("tpf import: error: nothere: no such file or folder",)),
    Case("import-n-in-tokens-negative", ("import", "mlenergy-v2", "x.csv", "--out", "o.csv", "--n-in-tokens", "-3"), 1, ("--n-in-tokens",), {"x.csv": "model,gpu\n"}),
]

PREDICT = ("predict", "energy", "--card", "card.yaml", "--data", "p.csv", "--out", "o.csv")
PREDICT_ACC = ("predict", "accuracy", "--card", "card.yaml", "--data", "p.csv", "--out", "o.csv")


def _card(old, new, text=ENERGY_CARD):
    assert old in text
    return {"card.yaml": text.replace(old, new), "p.csv": POINTS_CSV if text is ENERGY_CARD else ACCURACY_POINTS_CSV}


OPERATING = """operating_curves:
- {engine: vllm, batch_size: [1.0], power_w: [200.0], throughput_tokens_per_s: [50.0], n_out_tokens: 100.0, tdp_w: 350.0, idle_power_w: 50.0}
"""


def _saved_card_cut(path):
    """A card as ``tpf`` saves it, cut at a line boundary before its last keys."""
    from tpf.cards import load_card, save_card

    path.write_text(ENERGY_CARD)
    save_card(load_card(path), path)
    text = path.read_text()
    path.write_text(text[: text.index("notes:")])


def _card_laughs() -> str:
    return "{" + ", ".join([f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 9) + "]" for i in range(9)]) + "}\n"


CARD_CASES = [
    Case("card-nan-coefficient", PREDICT, 1, ("card.yaml", "energy.coefficients[0]: must be a finite number"), _card("[0.5, 4.0, 0.001]", "[.nan, 4.0, 0.001]")),
    Case("card-inf-coefficient", PREDICT, 1, ("card.yaml", "energy.coefficients[1]"), _card("[0.5, 4.0, 0.001]", "[0.5, .inf, 0.001]")),
    Case("card-negative-prediction", PREDICT, 1, ("card.yaml", "energy.coefficients: predict"), _card("[0.5, 4.0, 0.001]", "[-1000000.0, 4.0, 0.001]")),
    Case("card-string-coefficient", PREDICT, 1, ("card.yaml", "energy.coefficients[0]: must be a finite number, got 'abc'"), _card("[0.5, 4.0, 0.001]", "[abc, 4.0, 0.001]")),
    Case("card-wrong-coefficient-count", PREDICT, 1, ("card.yaml", "energy.coefficients: family bilinear takes 3"), _card("[0.5, 4.0, 0.001]", "[0.5, 4.0]")),
    Case("card-string-format-version", PREDICT, 1, ("card.yaml", "format_version: must be an integer, got 'one'"), _card("format_version: 1", "format_version: one")),
    Case("card-list-format-version", PREDICT, 1, ("card.yaml", "format_version: must be an integer"), _card("format_version: 1", "format_version: [1]")),
    Case("card-newer-format-version", PREDICT, 1, ("card.yaml", "format_version: 9 is newer"), _card("format_version: 1", "format_version: 9")),
    Case("card-string-valid-range", PREDICT, 1, ("card.yaml", "valid_range: must be a mapping"), _card("valid_range: {n_in_tokens: [16, 2048], n_out_tokens: [8, 1024], batch_size: [1, 1]}", "valid_range: wide")),
    Case("card-reversed-valid-range", PREDICT, 1, ("card.yaml", "valid_range.n_in_tokens: must have 0 <= low <= high"), _card("n_in_tokens: [16, 2048]", "n_in_tokens: [2048, 16]")),
    Case("card-missing-energy", PREDICT, 1, ("card.yaml", "energy: required, missing"), _card("energy: {family: bilinear, coefficients: [0.5, 4.0, 0.001], target: energy_j}\n", "")),
    Case("card-unknown-family", PREDICT, 1, ("card.yaml", "energy.family: must be one of"), _card("{family: bilinear, coefficients: [0.5", "{family: cubic, coefficients: [0.5")),
    Case("card-negative-idle", PREDICT, 1, ("card.yaml", "idle_power_w: must be a finite number >= 0"), _card("idle_power_w: 50.0", "idle_power_w: -5")),
    Case("card-truncated", PREDICT, 1, ("card.yaml",), {"card.yaml": ENERGY_CARD[: ENERGY_CARD.index("valid_range")] + "valid_range: {n_in_tok", "p.csv": POINTS_CSV}),
    Case("card-truncated-at-a-line", PREDICT, 1, ("card.yaml", "valid_range: required, missing"), {"card.yaml": ENERGY_CARD[: ENERGY_CARD.index("valid_range")], "p.csv": POINTS_CSV}),
    Case("card-not-utf8", PREDICT, 1, ("card.yaml", "not UTF-8"), {"card.yaml": b"kind: energy\nmodel: \xff\xfe\n", "p.csv": POINTS_CSV}),
    Case("card-truncated-mid-number", PREDICT, 1, ("card.yaml", "the file ends mid-line (truncated?)"), {"card.yaml": ENERGY_CARD.rstrip("\n")[:-2], "p.csv": POINTS_CSV}),
    Case("card-saved-missing-tail", PREDICT, 1, ("card.yaml", "missing from a card tpf wrote (truncated?)"), {"card.yaml": _saved_card_cut, "p.csv": POINTS_CSV}),
    Case("card-operating-power-nan", PREDICT, 1, ("card.yaml", "operating_curves[0].power_w[0]: must be a finite number, got nan"), {"card.yaml": ENERGY_CARD + OPERATING.replace("power_w: [200.0]", "power_w: [.nan]"), "p.csv": POINTS_CSV}),
    Case("card-operating-throughput-inf", PREDICT, 1, ("card.yaml", "operating_curves[0].throughput_tokens_per_s[0]: must be a finite number"), {"card.yaml": ENERGY_CARD + OPERATING.replace("throughput_tokens_per_s: [50.0]", "throughput_tokens_per_s: [.inf]"), "p.csv": POINTS_CSV}),
    Case("card-operating-curve-loads", PREDICT, 0, (), {"card.yaml": ENERGY_CARD + OPERATING, "p.csv": POINTS_CSV}),
    Case("card-alias-bomb", PREDICT, 1, ("card.yaml", "aliases expand to"), {"card.yaml": ENERGY_CARD + "notes: " + _card_laughs(), "p.csv": POINTS_CSV}),
    Case("card-not-a-card", PREDICT, 1, ("card.yaml", "not a tpf card"), {"card.yaml": "- 1\n- 2\n", "p.csv": POINTS_CSV}),
    Case("card-a-inf-above-one", PREDICT_ACC, 1, ("card.yaml", "curves[0].params.a_inf: an accuracy must be in [0, 1], got 5"), _card("a_inf: 0.6", "a_inf: 5", ACCURACY_CARD)),
    Case("card-tau-zero", PREDICT_ACC, 1, ("card.yaml", "curves[0].params.tau_tokens: must be > 0, got 0"), _card("tau_tokens: 100.0", "tau_tokens: 0", ACCURACY_CARD)),
    Case("card-missing-param", PREDICT_ACC, 1, ("card.yaml", "curves[0].params.a_0: required for family saturating_budget"), _card("a_0: 0.2, ", "", ACCURACY_CARD)),
    Case("card-unknown-strategy", PREDICT_ACC, 1, ("card.yaml", "curves[1].strategy: must be one of"), _card("strategy: zero_shot", "strategy: telepathy", ACCURACY_CARD)),
    Case("card-accuracy-nan", PREDICT_ACC, 1, ("card.yaml", "curves[1].params.acc: must be a finite number"), _card("acc: 0.25", "acc: .nan", ACCURACY_CARD)),
    Case("card-accuracy-no-curves", PREDICT_ACC, 1, ("card.yaml", "curves: must be a non-empty list"), {"card.yaml": "kind: accuracy\ncurves: []\n", "p.csv": ACCURACY_POINTS_CSV}),
    Case("predict-unknown-category", PREDICT_ACC, 1, ("p.csv", "row 1: column category: 'poetry' is not in the accuracy card"), {"card.yaml": ACCURACY_CARD, "p.csv": ACCURACY_POINTS_CSV.replace("math", "poetry")}),
    Case("predict-points-text-tokens", PREDICT, 1, ("p.csv", "row 1", "n_in_tokens"), {"card.yaml": ENERGY_CARD, "p.csv": POINTS_CSV.replace(",100,", ",many,")}),
]

SMALL = ("workload=small", "workload.n_periods=3", "report=minimal")
CARBON = ("plan", *SMALL, "grid=electricitymaps", "grid.csv_path=c.csv")
HOURS3 = ["100", "200", "300"]
CARBON_CASES = [
    Case("carbon-unsorted", CARBON, 1, ("c.csv", "row 2", "not sorted"), {"c.csv": carbon_csv(HOURS3, ["2023-07-01 01:00", "2023-07-01 00:00", "2023-07-01 02:00"])}),
    Case("carbon-duplicate-hour", CARBON, 1, ("c.csv", "row 2", "duplicate"), {"c.csv": carbon_csv(["1", "2", "3", "4"], ["2023-07-01 00:00", "2023-07-01 00:00", "2023-07-01 01:00", "2023-07-01 02:00"])}),
    Case("carbon-above-range", CARBON, 1, ("c.csv", "row 2", "<= 5000", "1e+09"), {"c.csv": carbon_csv(["100", "1e9", "300"])}),
    Case("carbon-negative", CARBON, 1, ("c.csv", "row 1", ">= 0"), {"c.csv": carbon_csv(["-1", "200", "300"])}),
    Case("carbon-text-value", CARBON, 1, ("c.csv", "row 3", "not a finite number: 'high'"), {"c.csv": carbon_csv(["100", "200", "high"])}),
    Case("carbon-infinite-value", CARBON, 1, ("c.csv", "row 2", "not a finite number"), {"c.csv": carbon_csv(["100", "inf", "300"])}),
    Case("carbon-offset-timestamps", CARBON, 1, ("c.csv", "row 1", "offset +02:00"), {"c.csv": carbon_csv(HOURS3, [f"2023-07-01 0{h}:00:00+02:00" for h in range(3)])}),
    Case("carbon-other-zone-header", CARBON, 1, ("c.csv", "time zone 'CET'"), {"c.csv": carbon_csv(HOURS3, header="Datetime (CET)")}),
    Case("carbon-not-a-timestamp", CARBON, 1, ("c.csv", "row 2", "not a timestamp"), {"c.csv": carbon_csv(HOURS3, ["2023-07-01 00:00", "noon", "2023-07-01 02:00"])}),
    Case("carbon-too-short", CARBON, 1, ("c.csv", "does not cover 3 hours"), {"c.csv": carbon_csv(["100", "200"])}),
    Case("carbon-daily-rows", CARBON, 1, ("c.csv", "24 h apart"), {"c.csv": carbon_csv(HOURS3, ["2023-07-01", "2023-07-02", "2023-07-03"])}),
    Case("carbon-irregular-rows", CARBON, 1, ("c.csv", "regular grid"), {"c.csv": carbon_csv(["1", "2", "3", "4"], ["2023-07-01 00:00", "2023-07-01 00:25", "2023-07-01 01:00", "2023-07-01 02:00"])}),
    Case("carbon-start-before-series", (*CARBON, "grid.start_utc=2020-01-01"), 1, ("c.csv", "grid.start_utc=2020-01-01", "does not cover"), {"c.csv": carbon_csv(HOURS3)}),
    Case("carbon-local-time-dst-gap", (*CARBON, "grid.time_zone=Europe/Madrid"), 1, ("c.csv", "cannot read the times as 'Europe/Madrid' local time"), {"c.csv": carbon_csv(HOURS3, ["2023-03-26 01:00", "2023-03-26 02:00", "2023-03-26 03:00"], header="Datetime (Europe/Madrid)")}),
    Case("carbon-unknown-time-zone", (*CARBON, "grid.time_zone=Mars/Olympus"), 1, ("c.csv", "'Mars/Olympus'"), {"c.csv": carbon_csv(HOURS3, header="Datetime")}),
    Case("carbon-missing-column", CARBON, 1, ("c.csv", "missing column"), {"c.csv": "Datetime (UTC),value\n2023-07-01 00:00,1\n"}),
    Case("carbon-header-only", CARBON, 1, ("c.csv", "no rows"), {"c.csv": carbon_csv([])}),
    Case("carbon-not-utf8", CARBON, 1, ("c.csv",), {"c.csv": b"Datetime (UTC),x\n\xff\xfe\n"}),
    Case("carbon-interval-changes", CARBON, 1, ("c.csv", "rows 1 to 5", "30 min apart from 2023-07-01 00:00:00+00:00, but 15 min apart elsewhere: the interval changes mid-file"),
         {"c.csv": carbon_csv(["1"] * 14, [f"2023-07-01 {m // 60:02d}:{m % 60:02d}" for m in [*range(0, 180, 30), *range(180, 300, 15)]])}),
    Case("carbon-local-autumn-repeat-refused", (*CARBON, "grid.time_zone=Europe/Madrid"), 1, ("c.csv", "cannot read the times as 'Europe/Madrid' local time", "grid.dst=first|last"),
         {"c.csv": carbon_csv(HOURS3, ["2023-10-29 01:00", "2023-10-29 02:00", "2023-10-29 03:00"], header="Datetime (Europe/Madrid)")}),
    Case("carbon-local-autumn-repeat-first", ("plan", "workload=small", "workload.n_periods=2", "report=minimal", "grid=electricitymaps", "grid.csv_path=c.csv", "grid.time_zone=Europe/Madrid", "grid.dst=first", "grid.start_utc=2023-10-28 23:00"), 0, (),
         {"c.csv": carbon_csv(HOURS3, ["2023-10-29 01:00", "2023-10-29 02:00", "2023-10-29 03:00"], header="Datetime (Europe/Madrid)")}),
    Case("carbon-bad-dst-choice", (*CARBON, "grid.time_zone=Europe/Madrid", "grid.dst=maybe"), 1, ("grid.dst: must be one of refuse, first, last",),
         {"c.csv": carbon_csv(HOURS3, header="Datetime (Europe/Madrid)")}),
    Case("carbon-local-time-no-regex-warning", (*CARBON, "grid.time_zone=Europe/Madrid"), 0, (),
         {"c.csv": carbon_csv(HOURS3, ["2023-07-01 02:00", "2023-07-01 03:00", "2023-07-01 04:00"], header="Datetime (Europe/Madrid)")}),
    Case("carbon-file-missing", (*SMALL[:0], "plan", *SMALL, "grid=electricitymaps", "grid.csv_path=nope.csv"), 1, ("nope.csv",), {}),
]

TRACE = ("simulate", *SMALL, "workload.trace.path=t.csv")
TRACE_CASES = [
    Case("trace-header-only", TRACE, 1, ("t.csv", "no requests"), {"t.csv": "arrival_s,n_in_tokens,n_out_tokens\n"}),
    Case("trace-azure-header-only", TRACE, 1, ("t.csv", "no requests"), {"t.csv": "TIMESTAMP,ContextTokens,GeneratedTokens\n"}),
    Case("trace-negative-arrival", TRACE, 1, ("t.csv", "row 1", "column arrival_s: arrival time must be >= 0"), {"t.csv": "arrival_s,n_in_tokens,n_out_tokens\n-1,10,5\n2,10,5\n"}),
    Case("trace-step-back", TRACE, 1, ("t.csv", "row 3", "not sorted"), {"t.csv": "arrival_s,n_in_tokens,n_out_tokens\n0,10,5\n2,10,5\n1,10,5\n"}),
    Case("trace-text-tokens", TRACE, 1, ("t.csv", "row 2", "n_in_tokens"), {"t.csv": "arrival_s,n_in_tokens,n_out_tokens\n0,10,5\n1,ten,5\n"}),
    Case("trace-missing-column", TRACE, 1, ("t.csv", "missing column(s) n_out_tokens"), {"t.csv": "arrival_s,n_in_tokens\n0,10\n"}),
    Case("trace-dev-zero", ("simulate", *SMALL, "workload.trace.path=/dev/zero"), 1, ("workload.trace.path", "not a regular file"), {}),
    Case("trace-folder", ("simulate", *SMALL, "workload.trace.path={tmp}"), 1, ("workload.trace.path", "not a regular file"), {}),
    Case("trace-bad-jsonl", ("simulate", *SMALL, "workload.trace.path=t.jsonl"), 1, ("t.jsonl", "cannot read trace"), {"t.jsonl": '{"timestamp": 0, "input_length": 5\nnot json\n'}),
    Case("trace-bad-time-unit", (*TRACE, "workload.trace.time_unit=fortnights"), 1, ("workload.trace.time_unit",), {"t.csv": "arrival_s,n_in_tokens,n_out_tokens\n0,10,5\n"}),
    Case("trace-bad-format", (*TRACE, "workload.trace.format=parquet"), 1, ("workload.trace.format",), {"t.csv": "arrival_s,n_in_tokens,n_out_tokens\n0,10,5\n"}),
    Case("trace-mapped-column-absent", (*TRACE, "workload.trace.arrival_column=ts"), 1, ("t.csv", "missing column(s) ts"), {"t.csv": "arrival_s,n_in_tokens,n_out_tokens\n0,10,5\n"}),
    Case("trace-context-tokens-1e12", TRACE, 1, ("t.csv", "row 2, column n_in_tokens: token count must be >= 0 and <= 1e+08, got 1e+12"), {"t.csv": "arrival_s,n_in_tokens,n_out_tokens\n0,10,5\n1,1e12,5\n"}),
    Case("trace-azure-context-tokens-1e12", TRACE, 1, ("t.csv", "row 1, column ContextTokens: token count must be >= 0 and <= 1e+08"), {"t.csv": "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1000000000000,5\n"}),
    Case("trace-not-utf8", TRACE, 1, ("t.csv",), {"t.csv": b"arrival_s,n_in_tokens,n_out_tokens\n\xff,1,1\n"}),
]
