"""The simulator: run a plan or a policy over a workload or a real trace.

Entry points: :func:`simulate` (fluid or event engine), :func:`simulate_stream`
(long traces in chunks), :func:`check_plan`; inputs from
:mod:`tpf.simulate.workload` (traces, synthetic arrivals), :mod:`tpf.simulate.carbon`
(carbon and PUE signals), :mod:`tpf.simulate.routing` (allocation or policy).
"""

from tpf.simulate.pools import Pool
from tpf.simulate.result import SimResult
from tpf.simulate.routing import AllocationRouter, PolicyRouter, classes_frame
from tpf.simulate.runner import simulate, simulate_stream

__all__ = ["AllocationRouter", "Pool", "PolicyRouter", "SimResult", "classes_frame", "simulate", "simulate_stream"]
