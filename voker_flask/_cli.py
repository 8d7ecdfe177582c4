"""Whether this process should register ``VOKER_AGENTS`` when an app is created.

Every process that creates the app runs ``init_app`` — including ``flask routes``,
``flask db upgrade``, ``flask shell`` and ``flask --help``, which load the app to list its
commands. Registering there gains nothing (the commands serve no request) and costs each of
them up to ``flush_timeout`` at exit when Voker is slow or down. So, as the Django plug-in does
for ``manage.py`` commands, a ``flask`` CLI process registers only for ``flask run``; every
other process (gunicorn, uWSGI, waitress, a script, a test run, a Celery worker) registers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["SERVING_COMMANDS", "registers_at_startup"]

#: ``flask`` CLI commands that serve requests (and so register at start-up).
SERVING_COMMANDS = frozenset({"run"})

# Options of the ``flask`` group itself that take a value as the next argument.
_GROUP_OPTIONS_WITH_VALUE = frozenset({"-A", "--app", "-e", "--env-file"})


def _is_flask_cli(program: str) -> bool:
    name = os.path.basename(program)
    if name in ("flask", "flask.exe"):
        return True
    # python -m flask
    return name == "__main__.py" and os.path.basename(os.path.dirname(program)) == "flask"


def registers_at_startup(argv: Sequence[str]) -> bool:
    """The rule of the module docstring, decided from ``sys.argv``."""
    if not argv or not _is_flask_cli(argv[0]):
        return True
    args = iter(argv[1:])
    for arg in args:
        if arg in _GROUP_OPTIONS_WITH_VALUE:
            next(args, None)  # its value, not the command
        elif not arg.startswith("-"):
            return arg in SERVING_COMMANDS
    return False  # bare "flask" / "flask --help": lists commands
