"""Rollout policies: canary analysis (what decides to roll back) as pure decision objects.

See :mod:`policies.rollout.analysis` for the contract (:class:`AnalysisInput`,
:class:`Verdict`) and :mod:`policies.rollout.registry` for the methods by name.
"""
