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

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

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
        axes.axhline(power_cap_kw, color="#c0392b", linestyle="--", label=f"cap {power_cap_kw:g} kW")
    axes.set_xlabel("period (hour)")
    axes.set_ylabel("power (kW)")
    carbon_axes = axes.twinx()
    carbon_axes.plot(
        hourly["period"], hourly["carbon_g_per_kwh"], color="#2e7d32", marker="o", markersize=3,
        label="carbon intensity (g/kWh)",
    )
    carbon_axes.set_ylabel("carbon intensity (gCO2/kWh)")
    carbon_axes.set_ylim(bottom=0)
    handles = axes.get_legend_handles_labels()
    carbon_handles = carbon_axes.get_legend_handles_labels()
    axes.legend(handles[0] + carbon_handles[0], handles[1] + carbon_handles[1], fontsize=8,
                loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=4)
    axes.set_title("Facility power vs cap, and grid carbon intensity")
    return _save(figure, path)


def _front_panel(axes: Axes, front: pd.DataFrame | None, x: str, xlabel: str,
                 chosen: dict[str, float], baselines: pd.DataFrame | None) -> None:
    if front is not None and len(front):
        ordered = front.sort_values(x)
        axes.plot(ordered[x], ordered["accuracy"], marker="o", color="#34495e", label="Pareto front")
    if baselines is not None and x in baselines:
        points = zip(baselines["name"], baselines[x].astype(float), baselines["accuracy"].astype(float), strict=True)
        for index, (name, x_value, accuracy) in enumerate(points):
            axes.scatter(x_value, accuracy, marker="s", s=40,
                         color=PALETTE[(index + 1) % len(PALETTE)], label=str(name), zorder=3)
    if x in chosen:
        axes.scatter(chosen[x], chosen["accuracy"], marker="*", s=220, color="#c0392b",
                     label="chosen plan", zorder=4)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("query-weighted accuracy")
    axes.grid(alpha=0.3, which="both")
    positive = [v for v in _panel_x_values(front, baselines, chosen, x) if v > 0]
    if positive and max(positive) > 20 * min(positive):
        # chain-of-thought baselines can cost 100x zero-shot: a log axis keeps both readable
        axes.set_xscale("log")
        axes.set_xlabel(xlabel + ", log scale")


def _panel_x_values(front: pd.DataFrame | None, baselines: pd.DataFrame | None,
                    chosen: dict[str, float], x: str) -> list[float]:
    values: list[float] = []
    for table in (front, baselines):
        if table is not None and x in table:
            values += [float(v) for v in table[x] if np.isfinite(v)]
    if x in chosen:
        values.append(float(chosen[x]))
    return values


def pareto_fronts(fronts: dict[str, pd.DataFrame], chosen: dict[str, float],
                  baselines: pd.DataFrame | None, path: Path, dpi: int = 110) -> Path:
    """Accuracy vs facility energy (kWh) and vs carbon (kg), plan and baselines marked.

    ``fronts`` maps ``energy`` / ``carbon`` to tables with ``accuracy`` and
    ``facility_energy_kwh`` / ``carbon_kg``; ``baselines`` has ``name``,
    ``accuracy`` and the same columns.
    """
    figure = _new_figure(11, 4.4, dpi)
    left, right = figure.subplots(1, 2)
    _front_panel(left, fronts.get("energy"), "facility_energy_kwh", "facility energy (kWh)", chosen, baselines)
    _front_panel(right, fronts.get("carbon"), "carbon_kg", "carbon (kgCO2)", chosen, baselines)
    left.set_title("Accuracy vs energy")
    right.set_title("Accuracy vs carbon")
    right.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(figure, path)


def energy_curves(cards: dict[str, EnergyCard], labels: dict[str, str], path: Path,
                  points: pd.DataFrame | None = None, dpi: int = 110) -> Path:
    """Energy per request (J) vs output tokens at a few input lengths, one line per card.

    ``points`` (optional): measured rows ``model, n_in_tokens, n_out_tokens,
    energy_j`` (per request) drawn as dots.
    """
    figure = _new_figure(9, 4.2, dpi)
    axes = figure.add_subplot()
    for index, (model, card) in enumerate(cards.items()):
        color = PALETTE[index % len(PALETTE)]
        low, high = card.valid_range.n_out_tokens
        n_out = np.linspace(max(low, 1.0), max(high, 2.0), 60)
        n_in_mid = float(np.mean(card.valid_range.n_in_tokens))
        axes.plot(n_out, card.energy_j(n_in_mid, n_out), color=color,
                  label=f"{model}@{card.hardware} n_in={n_in_mid:.0f} ({labels.get(model, card.source)})")
        if points is not None and len(points):
            mine = points[points["model"] == model]
            axes.scatter(mine["n_out_tokens"], mine["energy_j"], s=10, color=color, alpha=0.6)
    axes.set_xlabel("output tokens per request")
    axes.set_ylabel("GPU energy per request (J), batch 1")
    has_points = points is not None and len(points) > 0
    axes.set_title("Energy cards: fitted request energy" + (" (dots: data points)" if has_points else ""))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)


def accuracy_curves(card: AccuracyCard, categories: list[str], path: Path,
                    points: pd.DataFrame | None = None, budgets_tokens: tuple[float, float] = (0.0, 1024.0),
                    dpi: int = 110) -> Path:
    """Accuracy vs CoT budget per category (lines), zero-shot levels (dashed).

    ``points`` (optional): rows ``model, category, strategy, budget_tokens,
    accuracy`` drawn as dots.
    """
    shown = [c for c in card.curves if c.category in categories]
    models = sorted({c.model for c in shown})
    figure = _new_figure(11, 4.4, dpi)
    panels = figure.subplots(1, max(len(models), 1), sharey=True, squeeze=False)[0]
    x = np.linspace(*budgets_tokens, 80)
    for panel, model in zip(panels, models, strict=False):
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
    panels[0].set_ylabel("accuracy")
    panels[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    has_points = (points is not None and len(points) > 0) or any(
        c.points for c in shown if c.strategy in ("cot", "zero_shot"))
    figure.suptitle("Accuracy cards: fitted curves" + (" (dots: data points)" if has_points else ""))
    return _save(figure, path)


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
