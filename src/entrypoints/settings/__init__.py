"""Settings (pydantic-settings, prefix TREASURY_), one module per area; the container composes."""
