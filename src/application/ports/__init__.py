"""Ports: async `typing.Protocol`s typed with domain types, one module per capability area."""
