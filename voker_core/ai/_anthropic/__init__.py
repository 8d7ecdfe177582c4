"""Internals of ``voker_core.ai.provider_anthropic`` (imports the ``anthropic`` SDK)."""
