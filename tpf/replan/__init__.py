"""Carbon-aware time and place: rolling-horizon re-planning on forecasts (``tpf replan``).

See docs/replan.md. :func:`tpf.replan.run.run_replan` is the command's library entry point;
:func:`tpf.replan.engine.run_policies` walks a span for the forecast, oracle and
carbon-agnostic policies over a :class:`tpf.replan.window.WindowSpec`.
"""
