"""Integrations with task queues and frameworks that live inside ``voker_core``.

Each module imports its framework only when used: ``voker_core.integrations.celery``.
"""
