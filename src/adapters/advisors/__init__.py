"""Advisors: Claude (bounded, through one forced tool) and the deterministic rules advisor."""
