"""CLI for the fitting room: ``tpf fit``, ``tpf predict``, ``tpf card``, ``tpf ceiling``.

Energy commands live in :mod:`tpf.fit.cli_energy`; accuracy, estimated cards and
the token production ceiling in :mod:`tpf.fit.cli_accuracy`,
:mod:`tpf.fit.cli_card` and :mod:`tpf.fit.cli_ceiling`.
"""

from __future__ import annotations

import importlib
import sys

_ROUTES = {
    ("fit", "energy"): "tpf.fit.cli_energy",
    ("predict", "energy"): "tpf.fit.cli_energy",
    ("fit", "accuracy"): "tpf.fit.cli_accuracy",
    ("predict", "accuracy"): "tpf.fit.cli_accuracy",
}
_WHOLE = {"card": "tpf.fit.cli_card", "ceiling": "tpf.fit.cli_ceiling"}


def main(argv: list[str]) -> int:
    command, rest = argv[0], argv[1:]
    if command in _WHOLE:
        return int(importlib.import_module(_WHOLE[command]).main(rest) or 0)
    kinds = sorted({kind for (cmd, kind) in _ROUTES if cmd == command})
    if not rest or rest[0] in ("-h", "--help"):
        print(f"usage: tpf {command} {{{'|'.join(kinds)}}} [options]  (tpf {command} KIND --help)")
        return 0 if rest else 2
    kind = rest[0]
    if (command, kind) not in _ROUTES:
        print(f"tpf {command}: unknown kind {kind!r}; valid: {', '.join(kinds)}", file=sys.stderr)
        return 2
    module = importlib.import_module(_ROUTES[(command, kind)])
    return int(module.main([command, *rest[1:]]) or 0)
