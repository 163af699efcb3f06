"""``tpf fit energy`` and ``tpf predict energy``.

``tpf fit energy --data MEASUREMENTS.csv --out CARD.yaml`` fits one energy card
per (model, hardware, gpu_count) of a measurement table; with several groups,
``--out`` is a folder (or choose one with ``--model/--hardware/--gpu-count``).
Every card is fitted and checked before any file is written, and each is
written atomically: a failed fit leaves existing cards untouched.

``tpf predict energy --card CARD.yaml --data POINTS.csv --out PRED.csv`` copies
the points and adds ``energy_j_pred`` (J per request), ``energy_per_token_j_pred``
(J per input+output token), ``duration_s_pred`` (s per batch window; blank
when the card has no duration curve) and ``out_of_range`` (true where the point
lies outside the card's fitted range: predicted anyway, to be trusted less).
A card with an operating curve is priced through it, by the planner's own
pricing function (:func:`tpf.cost.query.price_query`, the curve of the card's
``engine``): ``priced_by`` says how each point was priced and ``batch_label``
whether its batch lies in the curve's measured levels or is extrapolated
(below the smallest measured batch, along the roofline's shape). A batch above
the curve's cap (its top level, the card's KV-cache limit) is priced by the same
function without the curve, from the card's energy and duration curves, and
labelled so (``above the operating curve's cap ...``).
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path

import numpy as np

from tpf.cards import EnergyCard, save_card
from tpf.errors import CardError, ConfigError, DataError
from tpf.families import FAMILIES
from tpf.fit.energy import CELL_WEIGHTS, FitOptions, fit_energy_file
from tpf.fit.importers import load_card_as, with_table_hint, write_table
from tpf.schema import read_csv_text, validate_points


def _fit_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tpf fit energy", description="Fit energy/duration curves into TPF energy cards."
    )
    parser.add_argument("--data", required=True, help="measurement table CSV")
    parser.add_argument("--out", required=True, help="card YAML, or a folder for several cards")
    parser.add_argument("--model", help="fit only this model")
    parser.add_argument("--hardware", help="fit only this hardware")
    parser.add_argument("--gpu-count", type=int, help="fit only rows with this gpu_count")
    parser.add_argument("--folds", type=int, help="k-fold cross-validation (default: leave-one-cell-out "
                        "up to 40 cells, 10-fold above)")
    parser.add_argument("--families", help=f"comma-separated candidates (default all: {','.join(FAMILIES)})")
    parser.add_argument("--outlier-mad", type=float, default=5.0,
                        help="drop points farther than this many scaled MADs from their cell median "
                        "(0 keeps all; default 5)")
    parser.add_argument("--first-repetition-warmup", action="store_true",
                        help="treat the first repetition of each cell as a warm-up run")
    parser.add_argument("--cell-weight", choices=CELL_WEIGHTS, default="count",
                        help="weight of each cell's median in the fit (default: its point count)")
    return parser


def _options(args: argparse.Namespace) -> FitOptions:
    families = None
    if args.families:
        families = tuple(name.strip() for name in args.families.split(",") if name.strip())
    return FitOptions(
        families=families,
        folds=args.folds,
        outlier_mad=args.outlier_mad,
        first_repetition_warmup=args.first_repetition_warmup,
        cell_weight=args.cell_weight,
    )


def card_file_name(card: EnergyCard) -> str:
    """``<model>__<hardware>[__x<gpus>].yaml`` with unsafe characters replaced."""
    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unnamed"

    gpus = f"__x{card.gpus_per_replica}" if card.gpus_per_replica > 1 else ""
    return f"{slug(card.model)}__{slug(card.hardware)}{gpus}.yaml"


def _targets(cards: list[EnergyCard], out: str) -> list[Path]:
    out_path = Path(out)
    as_folder = out.endswith(("/", "\\")) or out_path.is_dir() or out_path.suffix not in (".yaml", ".yml")
    if as_folder and out_path.exists() and not out_path.is_dir():
        raise ConfigError(f"--out: {out} is an existing file without a .yaml suffix; give a card "
                          "file NAME.yaml, or a folder to write one card per model and hardware")
    if len(cards) > 1 and not as_folder:
        groups = ", ".join(f"{c.model}@{c.hardware}" for c in cards)
        raise ConfigError(
            f"--out: {len(cards)} cards ({groups}) cannot go to one file {out}; give a folder "
            "or choose one with --model/--hardware/--gpu-count"
        )
    return [out_path / card_file_name(card) if as_folder else out_path for card in cards]


def check_card(card: EnergyCard) -> None:
    """A card must survive its own round trip and predict finite, non-negative values."""
    again = EnergyCard.from_dict(card.to_dict())
    corners = np.array(np.meshgrid(*(np.array(r) for r in (
        card.valid_range.n_in_tokens, card.valid_range.n_out_tokens, card.valid_range.batch_size
    )))).reshape(3, -1)
    values = [again.energy_j(*corners)]
    if again.duration is not None:
        values.append(again.duration_s(*corners))
    for name, predicted in zip(("energy_j", "duration_s"), values, strict=False):
        if not np.all(np.isfinite(predicted)) or np.any(predicted < 0):
            raise CardError(f"{card.model}@{card.hardware}: column {name}: the fitted card predicts "
                            f"{_figures(predicted)} at its range corners (must be finite and >= 0)")
        if not np.any(predicted > 0):
            raise CardError(f"{card.model}@{card.hardware}: column {name}: the fit is zero everywhere; "
                            "the values are too small to fit (are they in J and s?)")


def _figures(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in np.ravel(values)) + "]"


def _summary(card: EnergyCard, path: Path) -> str:
    lines = [f"{path}: {card.model} on {card.hardware}: {card.notes}"]
    for name, quality in card.fit_quality.items():
        if "heldout_mape" in quality:
            mark = "*" if quality.get("selected") else " "
            lines.append(
                f"  {mark} {name:<30} held-out MAPE {100 * quality['heldout_mape']:7.2f} %  "
                f"R^2 {quality['heldout_r2']:.4f}"
            )
        else:
            lines.append(f"    {name:<30} skipped: {card.provenance['skipped_families'].get(name, '')}")
    return "\n".join(lines)


def fit_main(argv: list[str]) -> int:
    args = _fit_parser().parse_args(argv)
    command = "tpf fit energy " + shlex.join(argv)
    try:
        cards = fit_energy_file(args.data, args.model, args.hardware, _options(args), command, args.gpu_count)
    except DataError as exc:
        raise with_table_hint(exc, args.data, "measurement") from exc
    targets = _targets(cards, args.out)
    for card in cards:
        try:
            check_card(card)
        except CardError as exc:
            raise CardError(f"{args.data}: {exc}") from exc
    for card, target in zip(cards, targets, strict=True):
        save_card(card, target)
        print(_summary(card, target))
        warning = idle_power_warning(card)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    return 0


def idle_power_warning(card: EnergyCard) -> str | None:
    """Why a card with no idle power undercounts energy, and how to give it one."""
    if card.idle_power_w > 0:
        return None
    from tpf.specs import hardware_spec

    try:
        spec = hardware_spec(card.hardware)
        catalog = f"; the catalog's {spec.key} figure is {spec.idle_power_w:g} W ({spec.idle_power_w_source})"
    except ConfigError:
        catalog = ""
    return (f"{card.model}@{card.hardware}: idle_power_w is 0 W (the measurements have no idle_power_w "
            "column), so plans and simulations charge nothing for powered-on idle GPUs; add the column "
            f"or set hardware.idle_power_w in the scenario{catalog}")


def _predict_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpf predict energy", description=__doc__.split("\n\n")[2])
    parser.add_argument("--card", required=True, help="energy card YAML")
    parser.add_argument("--data", required=True, help="CSV with n_in_tokens, n_out_tokens[, batch_size]")
    parser.add_argument("--out", required=True, help="CSV to write: the points plus predictions")
    return parser


def predict_main(argv: list[str]) -> int:
    args = _predict_parser().parse_args(argv)
    card = load_card_as(args.card, EnergyCard, "use tpf predict accuracy for an accuracy card")
    text = read_csv_text(args.data)
    points = validate_points(text, args.data)
    table = text.loc[points.index].reset_index(drop=True)
    n_in, n_out, batch = (points[c].to_numpy() for c in ("n_in_tokens", "n_out_tokens", "batch_size"))
    if card.operating_curves:
        energy, duration, table["priced_by"], table["batch_label"] = _through_curve(card, n_in, n_out, batch)
    else:
        energy = card.energy_j(n_in, n_out, batch)
        duration = card.duration_s(n_in, n_out, batch) if card.duration else np.full(len(batch), np.nan)
    table["energy_j_pred"] = energy
    table["energy_per_token_j_pred"] = energy / (n_in + n_out)
    table["duration_s_pred"] = duration
    table["out_of_range"] = ~card.in_range(n_in, n_out, batch)
    write_table(table, args.out)
    outside = int(table["out_of_range"].sum())
    print(f"wrote {len(table)} predictions to {args.out}; {outside} outside the card's fitted range")
    if "batch_label" in table.columns:
        extrapolated = int(table["batch_label"].str.startswith("extrapolated").sum())
        print(f"priced through the card's {curve_engine(card)} operating curve (as the planner prices); "
              f"{extrapolated} point(s) at an extrapolated batch (see batch_label)")
    return 0


def curve_engine(card: EnergyCard) -> str:
    """The engine whose operating curve prices the card: the card's ``engine`` where it has that curve."""
    engines = [c.engine for c in card.operating_curves]
    return card.engine if card.engine in engines else engines[0]


def _through_curve(card: EnergyCard, n_in: np.ndarray, n_out: np.ndarray,
                   batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Each point priced as the planner prices it (price_query with the card's operating curve)."""
    from tpf.cost.query import TokenRule, price_query

    engine = curve_engine(card)
    curve = card.operating_curve(engine)
    low, cap = curve.batch_size[0], curve.batch_size[-1]
    energy, duration, basis, labels = [], [], [], []
    for i, o, b in zip(n_in, n_out, batch, strict=True):
        inside = low * (1 - 1e-9) <= b <= cap * (1 + 1e-9)
        cost = price_query(card, "", "zero_shot", 0, 1, float(i), TokenRule(float(o)), float(b),
                           engine if inside else None)
        energy.append(cost.energy_j)
        duration.append(cost.latency_s)
        basis.append(cost.energy_basis.strip("; "))
        labels.append(curve.label(float(b)) if inside else
                      f"{'above' if b > cap else 'below'} the operating curve's levels {low:g}..{cap:g} "
                      f"(cap {cap:g}): priced by the card's curves without it")
    return np.array(energy), np.array(duration), basis, labels


def main(argv: list[str]) -> int:
    """``argv[0]`` is ``fit`` or ``predict``; the rest are the command's options."""
    command, rest = argv[0], argv[1:]
    if command == "fit":
        return fit_main(rest)
    if command == "predict":
        return predict_main(rest)
    print(f"tpf energy: unknown command {command!r}; valid: fit, predict", file=sys.stderr)
    return 2
