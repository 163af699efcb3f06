"""Figures of a run, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each function takes tidy tables and writes one PNG, returning its path:

* :func:`routing_mix`: queries per period stacked by model and strategy.
* :func:`power_and_carbon`: facility power per period against the cap, and the
  grid's carbon intensity on a second axis.
* :func:`pareto_fronts`: accuracy vs facility energy and vs carbon, with the
  chosen plan and the baselines marked.
* :func:`energy_curves` / :func:`accuracy_curves`: the cards' fitted curves,
  with their data points where the card names its data.
* :func:`sweep_plot`: a swept parameter against accuracy, energy and carbon.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from tpf.atomic import replacing
from tpf.cards import AccuracyCard, EnergyCard

PALETTE = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
    "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6",
)


def _new_figure(width_in: float, height_in: float, dpi: int) -> Figure:
    figure = Figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    """Write the PNG atomically: a failed draw leaves no half-written figure and keeps the previous one."""
    with replacing(path) as partial:
        figure.savefig(partial, format="png")
    return path


def option_label(model: str, strategy: str, budget_tokens: float, votes: float) -> str:
    """A short legend label: ``llama-3.1-8b zero-shot``, ``... CoT 256``, ``... MV x5``."""
    if strategy == "cot":
        return f"{model} CoT {int(budget_tokens)}"
    if strategy == "mv":
        return f"{model} MV x{int(votes)}"
    return f"{model} zero-shot"


def routing_mix(allocation: pd.DataFrame, path: Path, dpi: int = 110) -> Path:
    """Stacked bars: queries served per period by each (model, strategy, budget)."""
    table = allocation.assign(
        label=[
            option_label(m, s, b, v)
            for m, s, b, v in zip(
                allocation["model"], allocation["strategy"],
                allocation["budget_tokens"], allocation["votes"], strict=True,
            )
        ]
    )
    pivot = table.pivot_table(index="period", columns="label", values="queries", aggfunc="sum").fillna(0.0)
    pivot = pivot[pivot.sum().sort_values(ascending=False).index]
    figure = _new_figure(9, 4.2, dpi)
    axes = figure.add_subplot()
    bottom = np.zeros(len(pivot))
    for index, label in enumerate(pivot.columns):
        values = pivot[label].to_numpy()
        axes.bar(pivot.index, values, bottom=bottom, label=label, color=PALETTE[index % len(PALETTE)])
        bottom += values
    axes.set_xlabel("period (hour)")
    axes.set_ylabel("queries per period")
    axes.set_title("Routing mix per hour, by model and strategy")
    axes.legend(fontsize=8, ncols=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(figure, path)


def power_and_carbon(hourly: pd.DataFrame, power_cap_kw: float | None, path: Path, dpi: int = 110) -> Path:
    """Facility power (kW) per period against the cap; carbon intensity on the right axis.

    ``hourly`` needs ``period``, ``facility_kw`` and ``carbon_g_per_kwh``;
    optional ``it_kw``.
    """
    figure = _new_figure(9, 4.0, dpi)
    axes = figure.add_subplot()
    axes.bar(hourly["period"], hourly["facility_kw"], color="#7fa7d6", label="facility power (kW)")
    if "it_kw" in hourly:
        axes.plot(hourly["period"], hourly["it_kw"], color="#1f4e8c", marker=".", label="IT power (kW)")
    if power_cap_kw is not None:
        axes.axhline(power_cap_kw, color="#c0392b", linestyle="--", linewidth=2.2, zorder=5,
                     label=f"cap {power_cap_kw:g} kW")
    axes.set_xlabel("period (hour)")
    axes.set_ylabel("power (kW)")
    carbon_axes = axes.twinx()
    carbon_axes.plot(
        hourly["period"], hourly["carbon_g_per_kwh"], color="#2e7d32", marker="o", markersize=3,
        label="carbon intensity (g/kWh)",
    )
    carbon_axes.set_ylabel("carbon intensity (gCO2/kWh)")
    carbon_axes.set_ylim(bottom=0)
    # the power axes above the carbon twin: the cap line is never hidden under the intensity line
    axes.set_zorder(carbon_axes.get_zorder() + 1)
    axes.patch.set_visible(False)
    if power_cap_kw is not None:
        axes.set_ylim(0, max(axes.get_ylim()[1], 1.08 * power_cap_kw))
    handles = axes.get_legend_handles_labels()
    carbon_handles = carbon_axes.get_legend_handles_labels()
    axes.legend(handles[0] + carbon_handles[0], handles[1] + carbon_handles[1], fontsize=8,
                loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=4)
    axes.set_title(("Facility power per hour vs its cap" if power_cap_kw is not None
                    else "Facility power per hour (no power cap)") + ", and grid carbon intensity")
    return _save(figure, path)


#: Colours of the Pareto figure's baselines: 40 distinct ones before any repeats (tab20 + tab20b).
BASELINE_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
    "#dbdb8d", "#9edae5", "#393b79", "#5254a3", "#6b6ecf", "#9c9ede", "#637939", "#8ca252", "#b5cf6b",
    "#cedb9c", "#8c6d31", "#bd9e39", "#e7ba52", "#e7cb94", "#843c39", "#ad494a", "#d6616b", "#e7969c",
    "#7b4173", "#a55194", "#ce6dbd", "#de9ed6",
)
#: The Pareto figure's linear view reaches this multiple of the front's (and plan's) largest value.
ZOOM_FACTOR = 1.6


def baseline_points(baselines: pd.DataFrame | None) -> pd.DataFrame:
    """Baselines with equal accuracy, energy and carbon (4 digits) merged into one point:
    ``number`` (1, 2, ...), ``label`` (their names joined), ``feasible`` (all of them)."""
    if baselines is None or not len(baselines):
        return pd.DataFrame(columns=["number", "label", "feasible", "accuracy"])
    table = baselines.assign(feasible=baselines["feasible"].astype(bool) if "feasible" in baselines else True)
    keys = [c for c in ("accuracy", "facility_energy_kwh", "carbon_kg") if c in table]
    rounded = table[keys].astype(float).map(lambda v: float(f"{v:.4g}") if np.isfinite(v) else v)
    groups = table.assign(**{f"_{k}": rounded[k] for k in keys}).groupby([f"_{k}" for k in keys], sort=False)
    rows = [{**{k: float(rows[k].astype(float).iloc[0]) for k in keys},
             "label": " / ".join(rows["name"].astype(str)), "feasible": bool(rows["feasible"].all())}
            for _, rows in groups]
    out = pd.DataFrame(rows)
    return out.assign(number=np.arange(1, len(out) + 1))


def _zoom_limit(front: pd.DataFrame | None, chosen: dict[str, float], x: str) -> float | None:
    values = [float(v) for v in (front[x] if front is not None and x in front else []) if np.isfinite(v)]
    if x in chosen:
        values.append(float(chosen[x]))
    return ZOOM_FACTOR * max(values) if values and max(values) > 0 else None


def _draw_points(axes: Axes, front: pd.DataFrame | None, points: pd.DataFrame, x: str,
                 chosen: dict[str, float], numbered: bool, size: float) -> None:
    if front is not None and len(front) and x in front:
        ordered = front.sort_values(x)
        axes.plot(ordered[x], ordered["accuracy"], marker="o", markersize=size / 8, color="#34495e",
                  label="Pareto front", zorder=2)
    for row in points.itertuples(index=False):
        color = BASELINE_COLORS[(row.number - 1) % len(BASELINE_COLORS)]
        value = getattr(row, x)
        axes.scatter(value, row.accuracy, marker="s", s=size, zorder=3, linewidths=1.5,
                     facecolors=color if row.feasible else "none", edgecolors=color)
        if numbered:
            axes.annotate(str(row.number), (value, row.accuracy), xytext=(4, 3), textcoords="offset points",
                          fontsize=7, color="#222222")
    if x in chosen:
        axes.scatter(chosen[x], chosen["accuracy"], marker="*", s=size * 5, color="#c0392b",
                     label="chosen plan", zorder=4)


def _front_panel(axes: Axes, front: pd.DataFrame | None, x: str, xlabel: str,
                 chosen: dict[str, float], points: pd.DataFrame) -> None:
    """Linear view around the front and the plan; points beyond it in a log-scale inset."""
    limit = _zoom_limit(front, chosen, x)
    has_x = x in points
    inside = points[points[x].astype(float) <= limit] if has_x and limit else points
    beyond = points[points[x].astype(float) > limit] if has_x and limit else points.iloc[0:0]
    _draw_points(axes, front, inside if has_x else points.iloc[0:0], x, chosen, numbered=True, size=40)
    axes.set_ylabel("query-weighted accuracy")
    axes.grid(alpha=0.3)
    if limit:
        axes.set_xlim(0, limit)
    if len(beyond):
        numbers = ", ".join(str(n) for n in beyond["number"])
        axes.set_xlabel(xlabel + "\n" + textwrap.fill(f"beyond {limit:.3g}: {numbers} (inset, log scale)", 60))
        # upper left: above the front no plan reaches, so the inset hides no point of the main view
        inset = axes.inset_axes((0.06, 0.62, 0.3, 0.28))
        _draw_points(inset, front, points, x, chosen, numbered=False, size=12)
        inset.set_xscale("log")
        inset.axvspan(inset.get_xlim()[0], limit, color="#34495e", alpha=0.08)
        inset.tick_params(labelsize=6)
        inset.set_title("all points, log scale (shaded: main view)", fontsize=6)
    else:
        axes.set_xlabel(xlabel)


def pareto_fronts(fronts: dict[str, pd.DataFrame], chosen: dict[str, float],
                  baselines: pd.DataFrame | None, path: Path, dpi: int = 110) -> Path:
    """Accuracy vs facility energy (kWh) and vs carbon (kg), plan and baselines marked.

    ``fronts`` maps ``energy`` / ``carbon`` to tables with ``accuracy`` and
    ``facility_energy_kwh`` / ``carbon_kg``; ``baselines`` has ``name``,
    ``accuracy``, the same columns and optionally ``feasible``. Each panel is
    linear around the front and the plan; baselines beyond it show in an inset
    on a log scale. Baselines on one point share a number; infeasible ones
    are hollow; the key below names every number.
    """
    points = baseline_points(baselines)
    key_rows = (sum(len(textwrap.wrap(str(label), 95)) for label in points.get("label", [])) + 1) // 2 + 4
    figure = _new_figure(11, 4.6 + 0.19 * key_rows, dpi)
    left, right = figure.subplots(1, 2)
    _front_panel(left, fronts.get("energy"), "facility_energy_kwh", "facility energy (kWh)", chosen, points)
    _front_panel(right, fronts.get("carbon"), "carbon_kg", "carbon (kgCO2)", chosen, points)
    left.set_title("Accuracy vs energy")
    carbon = fronts.get("carbon")
    same = carbon is not None and carbon.attrs.get("solved_as") == "min_facility_energy"
    right.set_title("Accuracy vs carbon" + (" (front: the energy front's plans; constant intensity)" if same else ""))
    handles, labels = left.get_legend_handles_labels()
    for row in points.itertuples(index=False):
        color = BASELINE_COLORS[(row.number - 1) % len(BASELINE_COLORS)]
        handles.append(Line2D([], [], marker="s", linestyle="none", markeredgecolor=color, markeredgewidth=1.5,
                              markerfacecolor=color if row.feasible else "none"))
        text = f"{row.number}: {row.label}" + ("" if row.feasible else " (infeasible: breaks the limits)")
        labels.append(textwrap.fill(text, 95, subsequent_indent="    "))
    figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    return _save(figure, path)


@dataclass(frozen=True)
class WorkloadLengths:
    """The token lengths a workload's options run at: input lengths (least, query-weighted mean,
    most) and output lengths (least, most), in tokens."""

    n_in_tokens: tuple[float, float, float]
    n_out_tokens: tuple[float, float]

    @classmethod
    def of(cls, options: pd.DataFrame | None) -> WorkloadLengths | None:
        if options is None or not len(options) or not {"n_in_tokens", "n_out_tokens"} <= set(options):
            return None
        n_in, n_out = options["n_in_tokens"].astype(float), options["n_out_tokens"].astype(float)
        return cls((float(n_in.min()), float(n_in.mean()), float(n_in.max())),
                   (max(float(n_out.min()), 1.0), max(float(n_out.max()), 2.0)))


def energy_curves(cards: dict[str, EnergyCard], labels: dict[str, str], path: Path,
                  points: pd.DataFrame | None = None, dpi: int = 110,
                  lengths: WorkloadLengths | None = None) -> Path:
    """Energy per request (J) vs output tokens, one line per card.

    With ``lengths`` (the workload's own): at its mean input length over its output
    lengths (log scale), shaded between its shortest and longest inputs; without,
    at the middle of each card's fitted input range. ``points`` (optional):
    measured rows ``model, n_in_tokens, n_out_tokens, energy_j`` drawn as dots.
    """
    figure = _new_figure(9, 4.2, dpi)
    axes = figure.add_subplot()
    for index, (model, card) in enumerate(cards.items()):
        color = PALETTE[index % len(PALETTE)]
        low, high = lengths.n_out_tokens if lengths else card.valid_range.n_out_tokens
        n_out = np.geomspace(max(low, 1.0), max(high, 2.0), 60) if lengths else \
            np.linspace(max(low, 1.0), max(high, 2.0), 60)
        n_in_mid = lengths.n_in_tokens[1] if lengths else float(np.mean(card.valid_range.n_in_tokens))
        axes.plot(n_out, card.energy_j(n_in_mid, n_out), color=color,
                  label=f"{model}@{card.hardware} n_in={n_in_mid:.0f} ({labels.get(model, card.source)})")
        if lengths:
            axes.fill_between(n_out, card.energy_j(lengths.n_in_tokens[0], n_out),
                              card.energy_j(lengths.n_in_tokens[2], n_out), color=color, alpha=0.2, linewidth=0)
        if points is not None and len(points):
            mine = points[points["model"] == model]
            axes.scatter(mine["n_out_tokens"], mine["energy_j"], s=10, color=color, alpha=0.6)
    axes.set_ylabel("GPU energy per request (J), batch 1")
    has_points = points is not None and len(points) > 0
    if lengths:
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("output tokens per request (log scale): this workload's options")
        n_in = lengths.n_in_tokens
        axes.set_title(f"Energy cards at this workload's lengths: input {n_in[0]:.0f} to {n_in[2]:.0f} tokens "
                       f"(line: mean {n_in[1]:.0f}, band: range), output {lengths.n_out_tokens[0]:.0f} to "
                       f"{lengths.n_out_tokens[1]:.0f}", fontsize=10)
    else:
        axes.set_xlabel("output tokens per request")
        axes.set_title("Energy cards: fitted request energy" + (" (dots: data points)" if has_points else ""))
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    return _save(figure, path)


def accuracy_curves(card: AccuracyCard, categories: list[str], path: Path,
                    points: pd.DataFrame | None = None, budgets_tokens: tuple[float, float] = (0.0, 1024.0),
                    dpi: int = 110) -> Path:
    """Accuracy vs CoT budget per category (lines), zero-shot levels (dotted), one panel per
    model with a CoT curve; models with zero-shot figures only share one panel of accuracy
    per category (no empty CoT axis).

    ``points`` (optional): rows ``model, category, strategy, budget_tokens,
    accuracy`` drawn as dots.
    """
    shown = [c for c in card.curves if c.category in categories]
    cot_models = sorted({c.model for c in shown if c.strategy == "cot"})
    zero_only = sorted({c.model for c in shown if c.strategy == "zero_shot"} - set(cot_models))
    figure = _new_figure(11, 4.4, dpi)
    n_panels = max(len(cot_models) + (1 if zero_only else 0), 1)
    panels = figure.subplots(1, n_panels, sharey=True, squeeze=False)[0]
    for panel, model in zip(panels, cot_models, strict=False):
        _cot_panel(panel, shown, model, categories, points, budgets_tokens)
    if zero_only:
        _zero_shot_panel(panels[len(cot_models)], shown, zero_only, categories)
    panels[0].set_ylabel("accuracy")
    handles = [Line2D([], [], color=PALETTE[i % len(PALETTE)], label=c) for i, c in enumerate(categories)]
    panels[-1].legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    has_points = (points is not None and len(points) > 0) or any(
        c.points for c in shown if c.strategy in ("cot", "zero_shot"))
    figure.suptitle("Accuracy cards: fitted curves" + (" (dots: data points)" if has_points else ""))
    return _save(figure, path)


def _cot_panel(panel: Axes, shown: list, model: str, categories: list[str], points: pd.DataFrame | None,
               budgets_tokens: tuple[float, float]) -> None:
    x = np.linspace(*budgets_tokens, 80)
    for index, category in enumerate(categories):
        color = PALETTE[index % len(PALETTE)]
        for curve in shown:
            if (curve.model, curve.category) != (model, category):
                continue
            if curve.strategy == "cot":
                panel.plot(x, curve.accuracy(x), color=color, label=category)
            elif curve.strategy == "zero_shot":
                panel.axhline(float(curve.accuracy(0.0)), color=color, linestyle=":", linewidth=1)
        if points is not None and len(points):
            mine = points[(points["model"] == model) & (points["category"] == category)]
            panel.scatter(mine["budget_tokens"], mine["accuracy"], s=14, color=color)
        else:
            _draw_card_points(panel, shown, model, category, color)
    panel.set_title(f"{model}")
    panel.set_xlim(*budgets_tokens)
    panel.set_xlabel("CoT budget (tokens); dotted: zero-shot")
    panel.grid(alpha=0.3)


def _zero_shot_panel(panel: Axes, shown: list, models: list[str], categories: list[str]) -> None:
    """Zero-shot accuracy per category of the models without a CoT curve (one marker per model)."""
    markers = ("D", "o", "^", "v", "P", "X")
    for number, model in enumerate(models):
        for index, category in enumerate(categories):
            for curve in shown:
                if (curve.model, curve.category, curve.strategy) == (model, category, "zero_shot"):
                    panel.scatter(index, float(curve.accuracy(0.0)), color=PALETTE[index % len(PALETTE)],
                                  marker=markers[number % len(markers)], s=40, zorder=3)
    panel.set_xticks(range(len(categories)), categories, rotation=45, ha="right", fontsize=7)
    panel.set_xlim(-0.5, len(categories) - 0.5)
    panel.set_title(", ".join(models) + ": zero-shot only (no CoT curve)", fontsize=10)
    panel.set_xlabel("category")
    panel.grid(alpha=0.3)


def _draw_card_points(panel: Axes, curves: list, model: str, category: str, color: str) -> None:
    """The points a card's CoT and zero-shot curves were fitted on (x = budget in tokens)."""
    for curve in curves:
        if (curve.model, curve.category) != (model, category) or curve.strategy == "mv":
            continue
        for x, accuracy, _ in curve.points:
            panel.scatter(x if curve.strategy == "cot" else 0.0, accuracy, s=16, color=color, zorder=3)


def sweep_plot(summary: pd.DataFrame, parameter: str, path: Path, dpi: int = 110) -> Path:
    """The swept parameter against accuracy, facility energy and carbon (three panels)."""
    ordered = summary.sort_values(parameter)
    numeric = pd.api.types.is_numeric_dtype(ordered[parameter])
    x = ordered[parameter] if numeric else np.arange(len(ordered))
    figure = _new_figure(12, 3.8, dpi)
    panels = figure.subplots(1, 3)
    for panel, (column, label) in zip(panels, (
        ("accuracy", "accuracy"), ("facility_energy_kwh", "facility energy (kWh)"), ("carbon_kg", "carbon (kgCO2)"),
    ), strict=True):
        panel.plot(x, ordered[column], marker="o", markersize=3)
        panel.set_xlabel(parameter)
        panel.set_ylabel(label)
        panel.grid(alpha=0.3)
        if not numeric:
            panel.set_xticks(x, ordered[parameter].astype(str), rotation=30, fontsize=8)
    figure.suptitle(f"Sweep over {parameter} ({len(ordered)} runs)")
    return _save(figure, path)
