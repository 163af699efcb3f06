"""report.md: a readable account of one run, figures embedded beside it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from tpf.domain import J_PER_KWH
from tpf.report.record import RunRecord
from tpf.report.simulation import operating_point_status


def _number(value: object, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_number(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _headline(record: RunRecord) -> str:
    totals = record.totals
    rows = [
        ("status", record.status),
        (f"objective ({record.objective_name})", record.objective),
        ("queries", totals.get("queries")),
        ("query-weighted accuracy", totals.get("accuracy")),
        ("IT energy (kWh)", totals.get("it_energy_kwh")),
        ("facility energy (kWh)", totals.get("facility_energy_kwh")),
        ("operational carbon (kgCO2)", totals.get("carbon_kg")),
        ("embodied carbon of powered GPUs (kgCO2e, estimate)", totals.get("embodied_kg")),
        ("carbon intensity from", record.grid_source or "-"),
        ("peak facility power (kW)", totals.get("peak_facility_kw")),
        ("facility power cap (kW)", record.power_cap_kw),
        ("binding constraints", ", ".join(record.binding_constraints) or "none"),
    ]
    return markdown_table(("quantity", "value"), rows)


def _cards(record: RunRecord) -> str:
    rows = [
        (c.kind, c.model, c.hardware, c.source + (" (ESTIMATE)" if c.is_estimate else ""), c.method, f"`{c.path}`")
        for c in record.cards
    ]
    text = markdown_table(("card", "model", "hardware", "source", "method", "file"), rows)
    if any(c.is_estimate for c in record.cards):
        text += (
            "\n\nEstimates: at least one energy card is not a measurement on this hardware "
            "(roofline or transferred from another GPU); every energy, power and carbon "
            "figure below inherits that uncertainty."
        )
    return text


def _unit_words(unit: str) -> str:
    return unit.replace("_", " ")


def _price_unit(record: RunRecord, name: str) -> str:
    row_unit = record.shadow_price_units.get(name, "")
    if not (record.objective_unit and row_unit):
        return ""
    return f"{_unit_words(record.objective_unit)} per {_unit_words(row_unit)}"


def _row_base(name: str) -> tuple[str, str]:
    """``gpu_busy[3]`` -> (``gpu_busy``, ``3``); a name without an index -> (name, "")."""
    if name.endswith("]") and "[" in name:
        base, index = name[:-1].split("[", 1)
        return base, index
    return name, ""


def _ranges(numbers: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``0..2, 5``."""
    numbers, parts = sorted(numbers), []
    first = previous = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == previous + 1:
            previous = n
            continue
        parts.append(str(first) if first == previous else f"{first}..{previous}")
        if n is not None:
            first = previous = n
    return ", ".join(parts)


def _index_label(base: str, indices: list[str]) -> str:
    """Rows of one constraint as one label: ``gpu_busy[0..10]``, ``gpu_busy[m,0..23; n,0..5]``
    (a trailing period index in ranges per leading index)."""
    if len(indices) == 1:
        return f"{base}[{indices[0]}]"
    heads: dict[str, list[int]] = {}
    for index in indices:
        head, _, last = index.rpartition(",")
        if not last.strip().isdigit():
            shown = "; ".join(indices[:4]) + (f"; ... ({len(indices)} rows)" if len(indices) > 4 else "")
            return f"{base}[{shown}]"
        heads.setdefault(head.strip(), []).append(int(last))
    return f"{base}[" + "; ".join(f"{head},{_ranges(n)}" if head else _ranges(n)
                                  for head, n in heads.items()) + "]"


def grouped_prices(record: RunRecord) -> list[tuple[str, float, str, str]]:
    """(rows, shadow price, unit, binding): rows of one constraint with the same price (4 digits),
    unit and binding state grouped under one label, e.g. ``gpu_busy[0..10]``; binding first, then by size."""
    binding = set(record.binding_constraints)
    groups: dict[tuple[str, str, str, bool], list[str]] = {}
    values: dict[tuple[str, str, str, bool], float] = {}
    for name, value in record.shadow_prices.items():
        base, index = _row_base(name)
        key = (base, _number(float(value)), _price_unit(record, name), name in binding)
        groups.setdefault(key, []).append(index)
        values[key] = float(value)
    rows = [(_index_label(base, idx) if idx != [""] else base, values[key], unit, "yes" if is_binding else "")
            for key, idx in groups.items() for base, _, unit, is_binding in [key]]
    return sorted(rows, key=lambda r: (r[3] != "yes", r[0].startswith("gpu_busy["), -abs(r[1])))


def _shadow_prices(record: RunRecord, max_rows: int = 12) -> str:
    if not record.shadow_prices:
        return "No shadow prices (no constraint with a dual value)."
    rows = grouped_prices(record)
    table = markdown_table(("constraint (rows)", "shadow price", "unit", "binding"), rows[:max_rows])
    if len(rows) > max_rows:
        table += (f"\n\n({max_rows} of {len(rows)} groups shown, {len(record.shadow_prices)} non-zero "
                  "shadow prices in all; every one in summary.json.)")
    return table


def _shadow_intro(record: RunRecord) -> str:
    unit = _unit_words(record.objective_unit) if record.objective_unit else "objective units"
    return (f"What loosening each constraint by one of its units would change the objective "
            f"({record.objective_name}), in {unit} per that unit (the unit column). Rows of one "
            "constraint with the same price are grouped (`gpu_busy[0..10]`: periods 0 to 10).")


def _baselines(record: RunRecord) -> str:
    if record.baselines is None or not len(record.baselines):
        return "No baselines computed."
    table = record.baselines
    columns = [c for c in ("name", "accuracy", "facility_energy_kwh", "carbon_kg", "feasible", "note") if c in table]
    text = markdown_table(columns, table[columns].itertuples(index=False))
    plan_kwh = record.totals.get("facility_energy_kwh")
    if plan_kwh and "facility_energy_kwh" in table:
        plan_accuracy = float(record.totals.get("accuracy") or 0.0)
        feasible = table["feasible"] if "feasible" in table else pd.Series(True, index=table.index)
        lines, broken = [], []
        for name, accuracy, other, ok in zip(table["name"], table["accuracy"].astype(float),
                                             table["facility_energy_kwh"].astype(float), feasible, strict=True):
            if not ok:
                broken.append(f"- {name}: breaks the fleet's limits (infeasible); no saving claimed")
            elif other > 0 and (accuracy <= plan_accuracy + 1e-9 or str(name).startswith("cheapest single")):
                saving = 100.0 * (1.0 - plan_kwh / other)
                verdict = (f"the plan needs {saving:.1f}% less facility energy" if saving >= 0
                           else f"the plan uses {-saving:.1f}% more facility energy")
                lines.append(f"- vs {name} (accuracy {accuracy:.3f}): {verdict}")
        if lines:
            text += "\n\nPlan against the baselines it matches or beats in accuracy:\n" + "\n".join(lines)
        if broken:
            text += "\n\nBaselines the fleet cannot run:\n" + "\n".join(broken)
        if not table["name"].astype(str).str.startswith("cheapest single configuration").any():
            text += "\n\nNo single configuration reaches the plan's accuracy within the fleet's limits."
    return text


def _routing_summary(allocation: pd.DataFrame) -> str:
    if not len(allocation):
        return "No allocation."
    label = allocation["model"] + " " + allocation["strategy"].astype(str) + " " + allocation[
        "budget_tokens"].astype(int).astype(str) + "t x" + allocation["votes"].astype(int).astype(str)
    if "batch_size" in allocation:
        label = label + " @batch " + allocation["batch_size"].map(lambda b: f"{b:g}")
    table = allocation.assign(option=label).groupby(["class_name", "option"])["queries"].sum().reset_index()
    totals = table.groupby("class_name")["queries"].transform("sum")
    table = table.assign(share=table["queries"] / totals).sort_values(["class_name", "share"], ascending=[True, False])
    table = table[table["share"] >= 0.005]
    rows = list(zip(table["class_name"], table["option"], table["share"], table["queries"], strict=True))
    return markdown_table(("class", "option (model strategy budget votes, operating point)", "share of the day", "queries"), rows)


def _plan_busy_split_kwh(record: RunRecord) -> tuple[float | None, float | None]:
    """The plan's IT energy on the simulator's split: idle power of powered GPUs while not
    serving, and the queries at their whole card energy (idle power while serving included).

    The plan books idle power for every powered GPU-hour and each query's energy above idle;
    per model its idle share times utilization moves from the first to the second."""
    hourly = record.hourly_plan
    idle_columns = [c for c in hourly.columns if c.startswith("idle_energy_kwh_")]
    if not idle_columns or "dynamic_energy_kwh" not in hourly:
        return None, None
    idle_unbusy = serving = 0.0
    for column in idle_columns:
        utilization_column = "utilization_" + column.removeprefix("idle_energy_kwh_")
        idle = hourly[column].fillna(0.0).to_numpy(float)
        utilization = hourly[utilization_column].fillna(0.0).clip(0.0, 1.0).to_numpy(float) \
            if utilization_column in hourly else 0.0
        idle_unbusy += float((idle * (1.0 - utilization)).sum())
        serving += float((idle * utilization).sum())
    return idle_unbusy, float(hourly["dynamic_energy_kwh"].sum()) + serving


def _sim_kwh(totals: dict[str, float], key: str) -> float | None:
    return totals[key] / J_PER_KWH if key in totals else None


def _simulation(record: RunRecord) -> str:
    if record.simulation_hourly is None:
        return ""
    totals, plan = record.simulation_totals, record.totals
    plan_idle, plan_queries = _plan_busy_split_kwh(record)
    rows = [
        ("queries", plan.get("queries"), totals.get("served_queries")),
        ("query-weighted accuracy", plan.get("accuracy"), totals.get("expected_accuracy")),
        ("IT energy (kWh)", plan.get("it_energy_kwh"), totals.get("it_energy_kwh")),
        ("  idle power of powered GPUs while not serving (kWh)", plan_idle, _sim_kwh(totals, "idle_energy_j")),
        ("  queries, whole card energy while serving (kWh)", plan_queries, _sim_kwh(totals, "query_energy_j")),
        ("facility energy (kWh)", plan.get("facility_energy_kwh"), totals.get("facility_energy_kwh")),
        ("carbon (kgCO2)", plan.get("carbon_kg"), totals.get("carbon_kg")),
        ("peak facility power (kW; plan: hourly mean, simulation: per minute)",
         plan.get("peak_facility_kw"), totals.get("peak_facility_kw")),
    ]
    table = [(name, p, q, _difference(p, q)) for name, p, q in rows]
    text = "## Plan and simulation\n\n" + markdown_table(("quantity", "plan", "simulation", "difference"), table)
    text += (
        "\n\nIT energy is split the same way on both sides: idle power of the powered GPUs for the "
        "time they serve no batch, and the queries at their card's whole energy (which includes the "
        "GPU's idle power while it serves). The plan books idle power for every powered GPU-hour and "
        "each query above idle; its split here moves each model's idle energy times its planned "
        "utilization to the queries (`hourly_plan.csv`: `idle_energy_kwh_<model>`, `utilization_<model>`)."
        + ("" if plan_idle is not None else " This plan has no per-model GPU figures: its split is not shown.")
    )
    text += (
        "\n\nThe simulator is a witness: it takes the plan's decisions (the routing policy and the "
        "GPUs powered per model and hour, as whole replicas) and prices everything else from the cards: "
        "each request's own tokens, the batch its arrivals form (bounded by the KV cache), the idle power "
        "of every powered GPU. The plan's prices and operating points never enter it. "
        f"{operating_point_status(record)[1].capitalize()}. The simulation's own figures:\n\n"
    )
    text += markdown_table(("quantity", "value"), list(totals.items()))
    if record.simulation_model_hourly is not None:
        from tpf.report.fidelity import fidelity_markdown

        text += "\n\n" + fidelity_markdown(record.simulation_model_hourly)
    return text + "\n\nPer-hour figures: `hourly.csv`.\n"


def _warnings(record: RunRecord) -> list[str]:
    if not record.warnings:
        return []
    return ["## Warnings", "", *[f"- **{w}**" for w in record.warnings], ""]


def _difference(plan: object, simulated: object) -> str:
    if not isinstance(plan, int | float) or not isinstance(simulated, int | float) or not plan:
        return "-"
    return f"{100.0 * (float(simulated) / float(plan) - 1.0):+.2f}%"


def _fleet(record: RunRecord) -> str:
    if not record.fleet:
        return ""
    rows = [(model, v["gpu_h_powered"], v["gpu_h_unpowered"], v["idle_facility_kwh"], v["dynamic_facility_kwh"],
             v["keep_fleet_on_extra_facility_kwh"]) for model, v in record.fleet.items()]
    text = "## GPUs powered\n\n" + markdown_table(
        ("model", "GPU-hours powered", "GPU-hours unpowered", "idle facility kWh", "dynamic facility kWh",
         "facility kWh to keep the rest on"), rows)
    extra = sum(v["keep_fleet_on_extra_facility_kwh"] for v in record.fleet.values())
    text += (f"\n\nThe plan leaves {sum(v['gpu_h_unpowered'] for v in record.fleet.values()):.4g} GPU-hours "
             f"of the fleet unpowered; keeping the whole fleet on would add {extra:.4g} kWh of facility "
             "energy (their idle power; `planner.keep_fleet_on=true` plans that way). GPUs powered, "
             "operating point (query-weighted batch size), utilization of the powered GPUs and idle vs "
             "dynamic energy per model and hour: `hourly_plan.csv`.")
    return text + _fractional_note(record) + "\n"


def _fractional_note(record: RunRecord) -> str:
    """Say so where the plan's GPU counts per model and hour are fractional."""
    columns = [c for c in record.hourly_plan.columns if c.startswith("gpus_on_")]
    counts = record.hourly_plan[columns].fillna(0.0).to_numpy(float).ravel() if columns else []
    fractional = int(sum(abs(v - round(v)) > 1e-6 for v in counts))
    if not fractional:
        return ""
    return (f"\n\nFractional GPU counts: {fractional} of {len(counts)} (model, hour) counts in "
            "`hourly_plan.csv` are not whole numbers. The plan treats GPUs as continuous "
            "(`planner.integer_gpus=false`): a count of 2.4 is 2.4 GPU-hours of power in that hour, "
            "e.g. 3 GPUs on for 80% of it; `planner.integer_gpus=true` plans whole GPUs.")


def report_markdown(record: RunRecord, figures: dict[str, str]) -> str:
    """The whole report.md."""
    parts = [f"# {record.title or record.scenario}", ""]
    if record.description:
        parts += [record.description, ""]
    parts += [f"Command `tpf {record.command}`, scenario `{record.scenario}`.", ""]
    parts += _warnings(record)
    if record.diagnosis is not None:
        parts += ["## Infeasible: no plan meets the constraints", "", "```", record.diagnosis, "```", ""]
    parts += ["## Result", "", _headline(record), ""]
    parts += ["## Cards (where the numbers come from)", "", _cards(record), ""]
    if record.feasible:
        parts += ["## Routing per class", "", _routing_summary(record.allocation), ""]
        fleet = _fleet(record)
        if fleet:
            parts += [fleet]
        parts += ["## Shadow prices", "", _shadow_intro(record), "", _shadow_prices(record), ""]
        parts += ["## Baselines", "", _baselines(record), ""]
    if record.options_note:
        parts += ["## Options", "", record.options_note, ""]
    sim = _simulation(record)
    if sim:
        parts += [sim]
    if figures:
        parts += ["## Figures", ""]
        for title, name in figures.items():
            parts += [f"### {title}", "", f"![{title}]({name})", ""]
    files = "summary.json, plan.csv, hourly_plan.csv" + (", hourly.csv" if sim else "")
    files += ", policy.json" if record.policy_path else ""
    parts += ["## Files", "", f"{files}; the resolved config is in `.hydra/config.yaml`.", ""]
    return "\n".join(parts)
