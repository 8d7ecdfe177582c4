"""Internals of ``voker_core.ai.provider_gemini`` (imports the ``google-genai`` SDK)."""
