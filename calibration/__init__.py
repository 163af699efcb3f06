"""The calibration stage: measure energy curves and accuracy on a GPU.

This package is the only part of tpf that imports torch, transformers and
pynvml; each is imported inside the function that needs it, so
``import calibration`` works on a machine without them.

Modules:

* :mod:`calibration.meters` - the meter interface, the replay and estimate meters.
* :mod:`calibration.nvml` - the NVML meter (energy counter, power-sampling fallback).
* :mod:`calibration.models` - random-initialized or pretrained models and tokenizers.
* :mod:`calibration.sweep` - energy sweeps over input tokens, output tokens and batch size.
* :mod:`calibration.accuracy` - multiple-choice accuracy runs (zero-shot, CoT, majority vote).
* :mod:`calibration.lm_eval_import` - lm-evaluation-harness per-sample logs to the accuracy table.
* :mod:`calibration.store` - crash-safe tables: metadata first, each row appended and fsynced.
* :mod:`calibration.run` - argparse entry (no Hydra needed); :mod:`calibration.app` - ``tpf calibrate``.
"""
