"""Draw deployments from a real ``litellm.Router`` (selection only, no request is sent).

Run with a Python that has litellm (its own virtual environment; tpf is not needed):

    python litellm_draw.py CONFIG.json N_PER_GROUP SEED

CONFIG.json holds the exported config's ``model_list`` and ``router_settings``.
Prints JSON: {group: {deployment id: count}} and litellm's version.
"""

from __future__ import annotations

import json
import random
import sys
from importlib.metadata import version
from pathlib import Path


def main() -> None:
    import litellm

    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    n_per_group, seed = int(sys.argv[2]), int(sys.argv[3])
    random.seed(seed)
    router = litellm.Router(model_list=config["model_list"], **config.get("router_settings", {}))
    counts: dict[str, dict[str, int]] = {}
    for group in dict.fromkeys(d["model_name"] for d in config["model_list"]):
        tally = counts.setdefault(group, {})
        for _ in range(n_per_group):
            deployment = router.get_available_deployment(model=group)
            key = deployment["model_info"]["id"]
            tally[key] = tally.get(key, 0) + 1
    print(json.dumps({"litellm": version("litellm"), "counts": counts}))


if __name__ == "__main__":
    main()
