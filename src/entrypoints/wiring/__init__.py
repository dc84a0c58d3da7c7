"""Composition helpers the container uses to open groups of adapters."""
