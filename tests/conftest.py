"""Fixtures shared by the whole suite come from our own pytest plugin (``voker_core.testing``):
``voker_server``, ``voker_env``, ``voker_client``, ``default_voker_client`` and ``fake_llm``.
Test packages add their own in their ``conftest.py``."""
