"""The `treasury` admin CLI."""
