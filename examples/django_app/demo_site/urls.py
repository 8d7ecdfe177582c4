from django.urls import path

from demo_site import views

urlpatterns = [
    path("", views.index),
    path("chat/", views.chat),
]
