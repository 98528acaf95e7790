"""Rollout policies: strategies, canary analysis and release risk models."""
