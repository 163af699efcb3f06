"""Structural check of a semantic-router config against the router's own v0.3 JSON Schema.

The schema is ``semantic_router_v0_3/router-config-v0.3.schema.json``, copied byte
for byte from vllm-sr 0.4.0 (Apache-2.0; source and hash in ``SOURCE.md``). As in
vllm-sr's offline check, a number, integer or boolean field may also hold an
environment reference ``${NAME}``. The decision annotation limits (32 entries,
4,096 bytes of compact JSON) are the validator's, not the schema's, and are
checked here too. The router's semantic checks (reasoning families, references)
need vllm-sr itself: ``vllm-sr config validate``.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).resolve().parent / "semantic_router_v0_3" / "router-config-v0.3.schema.json"
MAX_ANNOTATIONS = 32
MAX_ANNOTATION_BYTES = 4096
_ENV_REFERENCE = re.compile(r"^\$\{[^{}]+\}$")


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator, validators

    base = Draft202012Validator.TYPE_CHECKER

    def or_env(kind: str) -> Any:
        return lambda _checker, value: base.is_type(value, kind) or (
            isinstance(value, str) and _ENV_REFERENCE.fullmatch(value) is not None)

    checker = base.redefine_many({kind: or_env(kind) for kind in ("number", "integer", "boolean")})
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return validators.extend(Draft202012Validator, type_checker=checker)(schema)


def _annotation_problems(config: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    routing = config.get("routing")
    if not isinstance(routing, dict):
        return problems
    for index, decision in enumerate(routing.get("decisions") or []):
        notes = decision.get("annotations") if isinstance(decision, dict) else None
        if not isinstance(notes, dict):
            continue
        size = len(json.dumps(notes, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if len(notes) > MAX_ANNOTATIONS:
            problems.append(f"routing.decisions.{index}.annotations: {len(notes)} entries, at most {MAX_ANNOTATIONS}")
        if size > MAX_ANNOTATION_BYTES:
            problems.append(f"routing.decisions.{index}.annotations: {size} bytes, at most {MAX_ANNOTATION_BYTES}")
    return problems


def config_problems(config: dict[str, Any]) -> list[str]:
    """Every schema violation (``path: message``) and annotation-limit breach of a config."""
    errors = sorted(_validator().iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [f"{'.'.join(str(p) for p in e.absolute_path) or 'config'}: {e.message}" for e in errors]
    return problems + _annotation_problems(config)


_DRIVER = """
import contextlib, io, json, sys
from cli.main import main
results = []
for path in sys.argv[1:]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            main.main(["config", "validate", "--config", path], prog_name="vllm-sr", standalone_mode=False)
            rc = 0
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
    results.append({"path": path, "rc": rc, "output": buf.getvalue()})
print(json.dumps(results))
"""


def _interpreter(executable: str) -> str | None:
    try:
        with open(executable, "rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
    except OSError:
        return None
    return first[2:].strip() if first.startswith("#!") and "python" in first else None


def vllm_sr_validate(paths: list[str], executable: str, timeout_s: float = 600.0) -> list[dict[str, Any]]:
    """Run ``vllm-sr config validate --config PATH`` on each path: ``{path, rc, output}`` each.

    ``executable`` is the ``vllm-sr`` script of an installed vllm-sr. Its own
    interpreter runs the command for every path in one process (the command's
    start-up dominates its run time); without a Python script, one process per path.
    """
    import subprocess

    python = _interpreter(executable)
    if python is None:
        out = []
        for path in paths:
            done = subprocess.run([executable, "config", "validate", "--config", path], capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
            out.append({"path": path, "rc": done.returncode, "output": done.stdout + done.stderr})
        return out
    done = subprocess.run([python, "-c", _DRIVER, *paths], capture_output=True, text=True, timeout=timeout_s,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{executable}: the validator did not run: {done.stderr.strip()[-2000:]}")
    return list(json.loads(done.stdout.strip().splitlines()[-1]))
