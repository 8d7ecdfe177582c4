"""Settings of the Django example as the demo runs it: the example's own, plus a login URL.

``examples/django_app`` (package ``demo_site``, put on ``sys.path`` by the demo) is a chat site;
the demo logs a user in over HTTP before chatting, so ``django_urls`` adds a login endpoint in
front of the site's URLs. Everything else is the example unchanged::

    DJANGO_SETTINGS_MODULE=examples.demo.django_settings
"""

from demo_site.settings import *  # noqa: F403  (the example's settings, unchanged)

ROOT_URLCONF = "examples.demo.django_urls"
