"""``tpf init DIR``: a starter folder of your own scenario, outside any checkout.

The folder holds one option of each group it changes (fleet, workload, grid),
copied from the packaged configs with the name changed, and a scenario that
selects them. Run it with ``tpf plan --config-dir DIR scenario=NAME``; every
file is yours to edit (docs/scenarios.md walks through an example).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tpf.atomic import checked_target, write_text_atomic
from tpf.config.paths import conf_dir
from tpf.errors import ConfigError

#: group -> the packaged option the starter copies
TEMPLATES = {"fleet": "paper_l40s", "workload": "mmlu_mix", "grid": "solar_heavy"}
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

SCENARIO = """# @package _global_
# Your scenario: the packaged defaults with your own fleet, workload and grid.
# Run:   tpf plan --config-dir {folder} scenario={name}
#        tpf simulate --config-dir {folder} scenario={name}
# Any group or key can be changed here or on the command line; every key, with its
# unit and range, is listed in docs/scenarios.md (and by `tpf plan --help`).
defaults:
  - override /fleet: {name}
  - override /workload: {name}
  - override /grid: {name}
  - override /planner: min_energy
scenario_title: "{name}: least facility energy at a target accuracy"
scenario_description: >-
  The least facility energy that reaches the min_energy planner's accuracy
  target, on the fleet in fleet/{name}.yaml, the query classes in
  workload/{name}.yaml and the carbon profile in grid/{name}.yaml.
planner:
  batch_size: 1
"""


def starter_files(name: str) -> dict[str, str]:
    """Relative path -> text of every file of the starter folder."""
    files = {}
    for group, template in TEMPLATES.items():
        text = (conf_dir() / group / f"{template}.yaml").read_text()
        text = re.sub(rf"^name: {template}$", f"name: {name}", text, count=1, flags=re.MULTILINE)
        header = f"# Copied from the packaged {group}/{template}.yaml by `tpf init`; edit freely.\n"
        files[f"{group}/{name}.yaml"] = header + text
    files[f"scenario/{name}.yaml"] = SCENARIO
    return files


def write_starter(folder: Path, name: str = "my_scenario", force: bool = False) -> list[Path]:
    """Write the starter folder; refuses to overwrite a file unless ``force``."""
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"--name: must be a letter then letters, digits or _, got {name!r}")
    files = {folder / rel: text.replace("{folder}", str(folder)).replace("{name}", name)
             for rel, text in starter_files(name).items()}
    existing = sorted(str(p) for p in files if p.exists())
    if existing and not force:
        raise ConfigError(f"{folder}: would overwrite {', '.join(existing)}; pass --force or pick another folder")
    for path in files:  # every target checked before anything is written
        checked_target(path)
    for path, text in files.items():
        write_text_atomic(path, text)
    return sorted(files)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tpf init", description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="folder to write (created if missing)")
    parser.add_argument("--name", default="my_scenario", help="name of the scenario and its options")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv[1:])
    folder = Path(args.folder).expanduser().resolve()
    for path in write_starter(folder, args.name, args.force):
        print(f"wrote {path}")
    print(f"run it: tpf plan --config-dir {folder} scenario={args.name}")
    return 0
