"""Use cases and the ports they need. Knows ports, never adapters."""
