"""Scenario configuration: structured-config schemas, the parameter catalog,
and the conversion of a composed config into the library's typed objects."""

from tpf.config.build import ScenarioInputs, build_inputs, validate
from tpf.config.schema import TpfConfig

__all__ = ["ScenarioInputs", "TpfConfig", "build_inputs", "validate"]
