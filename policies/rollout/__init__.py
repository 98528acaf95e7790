"""Rollout policies as pure decision objects: canary analysis (what decides to roll back) and
release risk models (:mod:`policies.rollout.risk`: ``rules``, ``logistic``, ``gbm``).

The contract is :mod:`policies.rollout.analysis` (:class:`AnalysisInput` in,
:class:`Verdict` out); the methods are built by name with :func:`make` (``alarm``,
``threshold``, ``kayenta``, ``anomaly``; :mod:`policies.rollout.registry`).
"""

from policies.rollout.analysis import AnalysisInput, BaseAnalysis, MetricDetail, Verdict
from policies.rollout.registry import AnalysisError, defaults, make, names

__all__ = [
    "AnalysisError",
    "AnalysisInput",
    "BaseAnalysis",
    "MetricDetail",
    "Verdict",
    "defaults",
    "make",
    "names",
]
