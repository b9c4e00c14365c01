"""Workflows: triggers on subscriptions, then actions in sequence (SPEC §8)."""
