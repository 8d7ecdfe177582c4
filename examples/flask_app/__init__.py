"""Example: a small support desk in Flask, instrumented with ``voker_flask``.

``app.py`` is the application (what a user writes); ``python -m examples.flask_app`` runs an
offline walkthrough of it against a fake Anthropic server and a local Voker devserver.
"""
