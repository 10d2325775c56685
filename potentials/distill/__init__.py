"""Distillation of a small MACE student from a universal teacher, one module per stage.

Imports point one way, from the pipeline down to the settings:

* :mod:`~potentials.distill.settings` — :class:`DistillSettings`, architecture presets;
* :mod:`~potentials.distill.phases` — which crystal phases to sample;
* :mod:`~potentials.distill.data` — round-0 sampling, teacher labels, splits, extxyz files;
* :mod:`~potentials.distill.calculators` — teacher and student calculators;
* :mod:`~potentials.distill.train` — mace-torch training in a subprocess;
* :mod:`~potentials.distill.explore` — active-learning student MD;
* :mod:`~potentials.distill.evaluate` — test errors, speed, stability, transfer;
* :mod:`~potentials.distill.card` — the model card (assembly, Markdown, files);
* :mod:`~potentials.distill.pipeline` — :func:`distill`, :func:`install_model`.

This file imports nothing, so loading one stage does not load the others.
"""
