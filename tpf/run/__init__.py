"""Running a scenario: plan, Pareto fronts, simulate and write the policy, then the report.

``run_scenario(config, command, scenario, run_dir)`` is what ``tpf plan`` and
``tpf simulate`` call for each run (:mod:`tpf.app` converts Hydra's config
to the typed :class:`tpf.config.TpfConfig` first).
"""

from tpf.run.scenario import PlanOutcome, SimOutcome, Steps, run_scenario

__all__ = ["PlanOutcome", "SimOutcome", "Steps", "run_scenario"]
