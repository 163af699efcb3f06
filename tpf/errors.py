"""The exception family of tpf.

Every error a user can provoke with bad input is a :class:`TpfError`; its
message names the place (file, row, column, config key) and the allowed range.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def debug_enabled() -> bool:
    """True when tracebacks should be shown (``tpf --debug`` or ``TPF_DEBUG=1``)."""
    return os.environ.get("TPF_DEBUG", "") not in ("", "0")


class TpfError(Exception):
    """Base class of every error tpf raises on purpose."""


class ConfigError(TpfError, ValueError):
    """One or more configuration values are invalid.

    ``problems`` holds one line per problem, each prefixed with its location,
    e.g. ``workload.classes[3].rate_per_s: must be >= 0, got -2``.
    """

    def __init__(self, problems: str | Iterable[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(message)


class DataError(TpfError, ValueError):
    """A data file (measurements, accuracy, trace, carbon series) is invalid.

    The message names the file, and where it applies the row and column.
    """


class OutputPathError(TpfError, ValueError):
    """An output path cannot be written safely (not a regular file, a folder, inside a file)."""


class FitError(TpfError):
    """A curve could not be fitted (too few points, degenerate data)."""


class CardError(TpfError, ValueError):
    """A TPF card is malformed or asked for something it does not cover."""


class CalibrationError(TpfError):
    """The calibration stage cannot measure (no GPU, NVML missing, bad grid)."""


class InfeasiblePlanError(TpfError):
    """No plan meets the constraints. ``diagnosis`` says which and by how much."""

    def __init__(self, message: str, diagnosis: object = None):
        super().__init__(message)
        self.diagnosis = diagnosis


class SolverError(TpfError):
    """The solver failed for a reason other than infeasibility."""


class PolicyError(TpfError, ValueError):
    """A routing policy file is malformed, of an unsupported version, or inconsistent.

    ``problems`` lists every problem found, each with its JSON path (empty when
    the message stands alone).
    """

    def __init__(self, message: str, problems: Iterable[str] = ()):
        super().__init__(message)
        self.problems = list(problems)


class EstimatorError(TpfError, ValueError):
    """A text estimator's data, artefact or request is invalid (the message names file, line or field)."""


def unexpected_message(exc: BaseException) -> str:
    """One line for an exception tpf did not anticipate (no traceback)."""
    return (f"unexpected {type(exc).__name__}: {exc}; "
            "rerun with --debug for the traceback and report it with the input that caused it")
