"""Errors of the calibration stage, all :class:`tpf.errors.CalibrationError`.

Each NVML error code a user can meet has its own class, raised ``from`` the
original ``pynvml.NVMLError`` so the driver's message stays attached.
"""

from __future__ import annotations

from tpf.errors import CalibrationError


class NvmlMissingError(CalibrationError):
    """NVML cannot be used: the Python bindings or the driver library are absent."""


class NvmlError(CalibrationError):
    """An NVML call failed; ``code`` is the NVML return code (or None)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class NvmlNotSupportedError(NvmlError):
    """The device does not support the query (e.g. no total-energy counter)."""


class NvmlNoPermissionError(NvmlError):
    """The process lacks the permission for the query."""


class NvmlUninitializedError(NvmlError):
    """NVML was not initialized before the call."""


class NvmlGpuLostError(NvmlError):
    """The GPU fell off the bus or stopped responding."""


class NvmlInvalidArgumentError(NvmlError):
    """A bad device index or argument was passed to NVML."""


class ReplayLogError(CalibrationError):
    """A replay log is missing, malformed, or lacks a requested window."""
