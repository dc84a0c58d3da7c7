"""Claude's default settings, readable without loading the anthropic SDK.

The SDK is about 75 MiB and 3,400 modules; settings and a service with the rules advisor need
these numbers, not the SDK, so they live here and `claude.py` imports them.
"""

from __future__ import annotations

DEFAULT_MODEL = "claude-sonnet-5-5"
"""A current Sonnet in anthropic 2.12's `ModelParam`, not in its `DEPRECATED_MODELS`."""
DEFAULT_TIMEOUT_S = 20.0
# The longest valid tool call is the 4,000-character reasoning (about 1,000 to 1,400 tokens of
# English; fewer characters per token for numbers and symbols) plus the JSON of the other
# fields: 2,048 leaves room for it, and the default doubles that.
MIN_MAX_TOKENS = 2048
DEFAULT_MAX_TOKENS = 4096
DEFAULT_MAX_RETRIES = 2
