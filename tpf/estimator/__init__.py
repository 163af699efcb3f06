"""Per-query estimates from the query text, offline: class, P(correct), output length, energy.

:mod:`tpf.estimator.model` holds the fitted text estimator (numpy at run time),
:mod:`tpf.estimator.fit` fits it (scipy), :mod:`tpf.estimator.metrics` scores it
on held-out questions, :mod:`tpf.estimator.energy` turns its length estimates
into energy through an energy card, :mod:`tpf.estimator.planning` plans with
classes read by it (its confusion). Submodules are imported on use.
"""
