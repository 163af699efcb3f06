"""The semantic-router export of every shipped scenario, checked by the router's own validator.

Plans each scenario of ``scenarios/`` (full size unless ``--periods`` is given),
exports its policy as a band folder (``tpf policy export --bands``: one config per
hour band and carbon band, plus ``all_day.yaml`` and ``index.yaml``), once with
placeholder endpoints and once with the example providers file below, and runs
``vllm-sr config validate --config FILE`` on every config. vllm-sr stays out of
tpf's environment: install it in a virtual environment of its own::

    python3 -m venv /tmp/vsr && /tmp/vsr/bin/pip install vllm-sr==0.4.0
    python benchmarks/semantic_router_validate.py --vllm-sr /tmp/vsr/bin/vllm-sr [--out DIR] [--periods N]

``--refresh-contract SITE/cli`` copies the router's schema and reasoning families
from an installed vllm-sr (its ``site-packages/cli`` folder) into
``tpf/policy/semantic_router_v0_3/`` (then update ``SOURCE.md`` there).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tpf.config.compose import compose  # noqa: E402
from tpf.config.paths import scenario_names  # noqa: E402
from tpf.policy.semantic_router_bands import INDEX_FILE, write_semantic_router_bands  # noqa: E402
from tpf.policy.semantic_router_providers import CONTRACT_DIR  # noqa: E402
from tpf.policy.semantic_router_schema import vllm_sr_validate  # noqa: E402
from tpf.run import run_scenario  # noqa: E402

EXAMPLE_PROVIDERS = """\
listeners:
  - {name: http-8899, address: 0.0.0.0, port: 8899, timeout: 300s}
models:
  llama-3.2-1b:
    endpoint: vllm-llama-1b.internal:8000
    provider_model_id: meta-llama/Llama-3.2-1B-Instruct
  llama-3.1-8b:
    endpoint: vllm-llama-8b.internal:8000
    provider_model_id: meta-llama/Llama-3.1-8B-Instruct
"""


def refresh_contract(cli_dir: Path) -> None:
    import yaml

    shutil.copyfile(cli_dir / "config_schema" / "router-config-v0.3.schema.json",
                    CONTRACT_DIR / "router-config-v0.3.schema.json")
    catalog = yaml.safe_load((cli_dir / "model_assets" / "latest" / "catalog.yaml").read_text())
    families = {f["id"]: {k: v for k, v in f.items() if k != "id"} for f in catalog["reasoning_families"]}
    document = {"source": "vllm-sr (PyPI wheel), cli/model_assets/latest/catalog.yaml, reasoning_families",
                "license": "Apache-2.0 (see LICENSE beside this file)", "families": families}
    (CONTRACT_DIR / "reasoning-families.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"copied the schema and {len(families)} reasoning families into {CONTRACT_DIR}")


def export_all(out: Path, periods: int | None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    providers = out / "providers.yaml"
    providers.write_text(EXAMPLE_PROVIDERS)
    files = []
    for scenario in scenario_names():
        run_dir = out / scenario
        overrides = [f"scenario={scenario}", "report=minimal"]
        if periods is not None:
            overrides.append(f"workload.n_periods={periods}")
        started = time.perf_counter()
        run_scenario(compose(overrides), "plan", scenario, run_dir)
        for variant, source in (("placeholders", None), ("providers", providers)):
            index = write_semantic_router_bands(run_dir / "policy.json", run_dir / f"sr-{variant}", source)
            files += sorted(p for p in index.parent.glob("*.yaml") if p.name != INDEX_FILE)
        print(f"{scenario}: planned and exported in {time.perf_counter() - started:.1f} s")
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vllm-sr", help="the vllm-sr executable (of its own virtual environment)")
    parser.add_argument("--out", help="folder for runs and exports (default: a temporary folder)")
    parser.add_argument("--periods", type=int, help="plan this many hours instead of the scenario's")
    parser.add_argument("--refresh-contract", type=Path, metavar="SITE/cli")
    args = parser.parse_args()
    if args.refresh_contract:
        refresh_contract(args.refresh_contract)
        return 0
    if not args.vllm_sr:
        parser.error("--vllm-sr is required (or --refresh-contract)")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="tpf-sr-"))
    files = export_all(out, args.periods)
    started = time.perf_counter()
    results = vllm_sr_validate([str(p) for p in files], args.vllm_sr)
    elapsed = time.perf_counter() - started
    for result in results:
        first = result["output"].strip().splitlines()[0] if result["output"].strip() else ""
        print(f"rc={result['rc']}  {Path(result['path']).relative_to(out)}  {first}")
    failed = [r for r in results if r["rc"] != 0]
    for result in failed:
        print(f"\n--- {result['path']}\n{result['output']}")
    print(f"\n{len(results) - len(failed)} of {len(results)} configs valid "
          f"(vllm-sr config validate, {elapsed:.1f} s for all in one process); files under {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
