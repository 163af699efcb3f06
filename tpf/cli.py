"""The ``tpf`` command: a thin dispatcher to each command's own module.

Each command lives in its own module exposing ``main(argv: list[str]) -> int``
and is imported only when called, so ``tpf --help`` is fast and a command's
heavy dependencies (Pyomo, Hydra, torch) load only for that command.

Errors: a :class:`~tpf.errors.TpfError` prints one message naming its place;
any other exception prints its type and message with a hint; neither shows a
traceback. ``--debug`` (anywhere on the command line, or ``TPF_DEBUG=1``)
lets every exception through with its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings

from tpf.errors import TpfError, debug_enabled, unexpected_message

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("tpf.app", "plan a routing for a scenario (Hydra overrides: scenario=NAME key=value ...)"),
    "simulate": ("tpf.app", "plan, then simulate the plan over the scenario's workload or trace"),
    "sweep": ("tpf.app", "run a parameter sweep (Hydra multirun) and write a sweep summary"),
    "init": ("tpf.config.starter", "write a starter scenario folder: tpf init DIR, then tpf plan --config-dir DIR scenario=my_scenario"),
    "replan": ("tpf.app", "re-plan hour by hour over a span on forecasts (grid=electricitymaps replan.days=N ...)"),
    "fit": ("tpf.fit.cli", "fit an energy or accuracy card: tpf fit energy|accuracy --data CSV --out CARD"),
    "predict": ("tpf.fit.cli", "predict with a card: tpf predict energy|accuracy --card CARD --data CSV --out CSV"),
    "card": ("tpf.fit.cli", "cards for unmeasured hardware and operating curves: tpf card roofline|transfer|operating|shipped ..."),
    "ceiling": ("tpf.fit.cli", "token production function: compute and energy ceilings, which binds"),
    "import": ("tpf.fit.importers", "convert published measurements to the measurement table: tpf import wilkins|mlenergy-v2|mlenergy-v3|mlenergy-v1 PATH... --out CSV"),
    "estimator": ("tpf.estimator.cli", "fit or evaluate the per-query text estimator: tpf estimator fit|eval|show ..."),
    "policy": ("tpf.policy.cli", "validate a routing policy or export it to a router's config"),
    "calibrate": ("calibration.app", "measure energy curves and accuracy on a GPU (Hydra overrides)"),
}


def _scenario_names() -> list[str]:
    from tpf.config.paths import scenario_names

    try:
        return scenario_names()
    except TpfError as exc:
        return [f"(none found: {exc})"]


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: tpf COMMAND [ARGS...]",
        "",
        "Plan and simulate LLM inference as energy-to-token production.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    scenarios = _scenario_names()
    if scenarios:
        lines += ["", "scenarios (tpf plan scenario=NAME): " + ", ".join(scenarios)]
    lines += ["", "Run 'tpf COMMAND --help' for a command's options; add --debug to see tracebacks."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run one ``tpf`` command; its exit status.

    A reader that stops early (``tpf policy show FILE | head``) ends the
    output quietly with status 0, as if it had all been read.
    """
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush has nowhere to fail
        os.close(devnull)
        return 0


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args:
        args = [a for a in args if a != "--debug"]
        os.environ["TPF_DEBUG"] = "1"  # seen by Hydra's task and by worker processes
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("-V", "--version"):
        from tpf import __version__

        print(f"tpf {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"tpf: unknown command {command!r}; valid commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    if debug_enabled():
        return _run(command, rest)
    warnings.formatwarning = _one_line_warning
    try:
        return _run(command, rest)
    except TpfError as exc:
        print(f"tpf {command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tpf {command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise
    except Exception as exc:  # a bug or an unforeseen input: one line, no traceback
        print(f"tpf {command}: error: {unexpected_message(exc)}", file=sys.stderr)
        return 1


def _one_line_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> str:
    """Warnings as one line (no source line quoted beneath them)."""
    return f"tpf: warning: {message} [{category.__name__}]\n"


def _run(command: str, rest: list[str]) -> int:
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main([command, *rest]) or 0)



if __name__ == "__main__":
    sys.exit(main())
