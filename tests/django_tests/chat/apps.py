from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "tests.django_tests.chat"
    label = "chat"
