"""Adapters: one package per outside world, plus the simulated twins for paper mode and tests."""
