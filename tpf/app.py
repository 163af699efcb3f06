"""The Hydra entry point of ``tpf plan``, ``tpf simulate`` and ``tpf sweep``.

Hydra stops here (STYLE item 6): the composed ``DictConfig`` is converted to
the typed :class:`tpf.config.TpfConfig` and handed to plain library code
(:func:`tpf.run.run_scenario`). The run writes into Hydra's run
directory (``outputs/<command>/<time>/``); a multirun (``tpf sweep`` or
``--multirun``) runs its points in parallel with the joblib launcher (or any
Hydra launcher: ``hydra/launcher=ray`` from the ``ray`` extra, locally or on a
Ray cluster; ``submitit_local`` or ``submitit_slurm`` from the ``cluster``
extra) and writes a sweep summary at the end. A point runs in a worker process
(or on another machine), so a failed point is found in the sweep folder, not in
the worker's memory: the sweep lists every point that did not end optimal (``ok``
for a re-plan), with its overrides and error, and the command exits 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from tpf.config.overrides import check_overrides, options_first, parse_command_line
from tpf.errors import ConfigError, InfeasiblePlanError, TpfError, debug_enabled
from tpf.rundir import claim_run_folder

COMMANDS = ("plan", "simulate", "sweep", "replan")
MULTIRUN_FLAGS = ("--multirun", "-m")
SWEEP_FAILURES: list[str] = []  # filled by SweepSummaryCallback in this (the driver) process
DEFAULT_SCENARIO = "paper_l40s"  # conf/config.yaml's default


def _task(command: str, failures: list[str]) -> Callable[[Any], dict[str, Any]]:
    """The Hydra task function of one run (one point of a sweep)."""

    def task(cfg: Any) -> dict[str, Any]:
        from hydra.core.hydra_config import HydraConfig

        from tpf.config.compose import to_typed
        from tpf.config.describe import describe_run
        from tpf.run import run_scenario

        hydra_cfg = HydraConfig.get()
        run_dir = Path(hydra_cfg.runtime.output_dir)
        scenario = str(hydra_cfg.runtime.choices.get("scenario", "paper_l40s"))
        mode = "simulate" if command == "simulate" else "plan"
        try:
            if command == "replan":
                from tpf.replan.run import run_replan
                summary = run_replan(to_typed(cfg), run_dir)
                print(_replan_line(summary, run_dir), file=sys.stderr)
                return summary
            config = describe_run(to_typed(cfg), list(hydra_cfg.overrides.task))
            if mode == "simulate":
                refuse_deferrable(config)
            summary = run_scenario(config, mode, scenario, run_dir)
        except InfeasiblePlanError as exc:
            failures.append(str(exc))
            print(f"tpf {command}: infeasible: {exc}\n(report: {run_dir / 'report.md'})", file=sys.stderr)
            return {"status": "infeasible"}
        except TpfError as exc:
            failures.append(str(exc))
            record_error(run_dir, str(exc))
            print(f"tpf {command}: error: {exc}", file=sys.stderr)
            return {"status": "error"}
        except Exception as exc:
            if debug_enabled():
                raise
            from tpf.errors import unexpected_message

            failures.append(str(exc))
            record_error(run_dir, unexpected_message(exc))
            print(f"tpf {command}: error: {unexpected_message(exc)}", file=sys.stderr)
            return {"status": "error"}
        print(_one_line(summary, run_dir), file=sys.stderr)
        if summary.get("status") != "optimal":
            message = (f"the solve ended with status {summary.get('status')!r}, not optimal; the plan in "
                       f"{run_dir} is the best found, not proven optimal (raise planner.time_limit_s "
                       "or planner.mip_gap)")
            failures.append(message)
            print(f"tpf {command}: not optimal: {message}", file=sys.stderr)
        return summary

    return task


def record_error(run_dir: Path, message: str) -> None:
    """Leave a failed run's message in its folder (``error.txt``): a sweep's point may run in
    another process or on another machine, and the sweep summary reads it from there."""
    from tpf.atomic import write_text_atomic

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "error.txt", message.rstrip("\n") + "\n")
    except OSError as exc:
        print(f"tpf: could not write {run_dir / 'error.txt'}: {exc}", file=sys.stderr)


def refuse_deferrable(config: Any) -> None:
    """The simulator serves every query on arrival: refuse deferrable classes rather than mis-simulate them."""
    workload = config.workload
    deferred = [c.name for c in workload.classes if c.deadline_h > 0]
    if (workload.deferrable_share > 0 and workload.deadline_h > 0) or deferred:
        raise ConfigError("workload.deferrable_share / workload.classes[].deadline_h: tpf simulate serves every "
                          "query on arrival; plan deferrable work with tpf plan or tpf replan")


def _replan_line(summary: dict[str, Any], run_dir: Path) -> str:
    return (f"[tpf] replan {summary['zone']} {summary['hours']} h, forecast {summary['forecast']}: "
            f"{summary['carbon_kg']:.4g} kgCO2e (agnostic {summary['carbon_kg_agnostic']:.4g}, oracle "
            f"{summary['carbon_kg_oracle']:.4g}); saved {summary['saved_vs_agnostic_pct']:.2f}%, regret "
            f"{summary['regret_pct']:.2f}%, deadline misses {summary['deadline_misses']:.0f} -> {run_dir}")


def _one_line(summary: dict[str, Any], run_dir: Path) -> str:
    def fmt(key: str) -> str:
        value = summary.get(key)
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return (
        f"[tpf] {summary.get('status')}: accuracy {fmt('accuracy')}, facility "
        f"{fmt('facility_energy_kwh')} kWh, {fmt('carbon_kg')} kgCO2, peak {fmt('peak_facility_kw')} kW; "
        f"binding: {', '.join(summary.get('binding_constraints') or []) or 'none'}"
        + "".join(f"; WARNING: {w}" for w in summary.get("warnings") or []) + f" -> {run_dir}"
    )


def hydra_arguments(command: str, args: list[str]) -> list[str]:
    """The Hydra command line of a tpf command: a sweep is a multirun."""
    hydra_args = list(args)
    if command == "sweep" and not any(a in MULTIRUN_FLAGS for a in hydra_args):
        hydra_args.insert(0, "--multirun")
    launcher = [a.split("=", 1)[1] for a in hydra_args if a.startswith("hydra/launcher=")]
    if any(a in MULTIRUN_FLAGS for a in hydra_args) and launcher in ([], ["joblib"]):
        hydra_args.append("hydra.launcher.verbose=5")  # joblib prints its progress
    if launcher[-1:] == ["ray"]:
        hydra_args += ray_arguments(hydra_args)
    return [*hydra_args, f"hydra.job.name={command}"]


def ray_arguments(args: list[str]) -> list[str]:
    """What ``hydra/launcher=ray`` needs beyond the user's settings: hydra-ray-launcher 1.2.2
    sets ``ray.init.object_store_memory`` (sized for a local instance), which ray 2 refuses when
    ``ray.init.address`` names an existing cluster; unset it then, unless the user set it."""
    def given(key: str) -> str | None:
        values = [a.split("=", 1)[1] for a in args if a.lstrip("+~").split("=", 1)[0] == key]
        return values[-1] if values else None

    address = given("hydra.launcher.ray.init.address")
    if address in (None, "", "null") or given("hydra.launcher.ray.init.object_store_memory") is not None:
        return []
    return ["++hydra.launcher.ray.init.object_store_memory=null"]


def run_hydra_app(task: Callable[[Any], Any], config_dir: Path, config_name: str, argv: list[str]) -> int:
    """Run ``task`` as a Hydra app whose command line is ``argv`` (``argv[0]`` the
    program name Hydra shows); returns Hydra's exit code, 0 when it returns.

    Hydra reads its command line from ``sys.argv``; it is swapped in for the
    run and restored after, whatever happens.
    """
    import hydra

    app = hydra.main(config_path=str(config_dir), config_name=config_name, version_base=None)(task)
    saved_argv = sys.argv
    sys.argv = list(argv)
    try:
        app()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved_argv
    return 0


def run_hydra(command: str, args: list[str], failures: list[str]) -> int:
    """Run the Hydra app with ``args`` as its command line; returns Hydra's exit code."""
    from tpf.config.compose import register_all
    from tpf.config.paths import conf_dir

    register_all()
    argv = [f"tpf {command}", *hydra_arguments(command, args)]
    return run_hydra_app(_task(command, failures), conf_dir(), "config", argv)


def main(argv: list[str]) -> int:
    """``argv[0]`` is the command (plan, simulate, sweep), the rest Hydra overrides."""
    command, args = argv[0], list(argv[1:])
    if command not in COMMANDS:
        raise ConfigError(f"command: unknown {command!r}; valid: {', '.join(COMMANDS)}")
    if any(a.split("=", 1)[0] == "--experimental-rerun" for a in args):
        raise ConfigError("--experimental-rerun: refused; it unpickles a file, which can run code "
                          "(rerun with the overrides in the run's .hydra/overrides.yaml instead)")
    args = options_first(args)
    config_dirs: list[Path] = []
    if not any(a in ("--help", "-h", "--hydra-help", "--info") for a in args):
        command_line = parse_command_line(args)
        check_overrides(command_line.overrides, command_line.config_dirs)
        config_dirs = command_line.config_dirs
    from tpf.config.compose import register_all
    from tpf.config.safety import check_config_files

    check_config_files(args, DEFAULT_SCENARIO, config_dirs)  # before a run folder is made
    register_all()
    multirun = command == "sweep" or any(a in MULTIRUN_FLAGS for a in args)
    args = claim_run_folder(command, args, multirun)
    failures: list[str] = []
    SWEEP_FAILURES.clear()
    code = run_hydra(command, args, failures)
    return code or (1 if failures or SWEEP_FAILURES else 0)


class SweepSummaryCallback(Callback):
    """Hydra callback: at the end of a multirun, write the sweep summary and plot."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        from tpf.report.sweep import failed_points, write_sweep_summary

        sweep_dir = Path(str(config.hydra.sweep.dir))
        written = write_sweep_summary(sweep_dir)
        if written:
            print(f"[tpf] sweep summary: {written}", file=sys.stderr)
        failed = failed_points(sweep_dir)
        SWEEP_FAILURES.extend(failed)
        if failed:
            print(f"[tpf] {len(failed)} point(s) failed:\n  " + "\n  ".join(failed), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(["plan", *sys.argv[1:]]))
