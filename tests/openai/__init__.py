"""Tests of the OpenAI drop-in clients (``voker_core.ai.provider_openai``)."""
