"""tpf: plan and simulate LLM inference as energy-to-token production.

The library never imports torch, transformers or pynvml: those live in
``calibration/``. Units are SI inside (s, J, W, tokens); any other unit is in
the name (``carbon_g_per_kwh``, ``energy_kwh``).
"""

__version__ = "0.1.0"
