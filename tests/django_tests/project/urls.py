from django.urls import path

from tests.django_tests.chat import views

urlpatterns = [
    path("chat/", views.chat),
    path("achat/", views.achat),
    path("nothing/", views.nothing),
    path("atomic-chat/", views.atomic_chat),
    path("atomic-chat-then-save/", views.atomic_chat_then_save),
    path("whoami/", views.whoami),
    path("stream/", views.stream_chat),
    path("astream/", views.astream_chat),
    path("stream-undeclared/", views.undeclared_stream_chat),
    path("stream-class/", views.StreamChatView.as_view()),
    path("export/", views.csv_export),
    path("aticks/", views.aticks),
    path("chain/", views.chain),
    path("achain/", views.achain),
    path("feedback/", views.feedback),
    path("afeedback/", views.afeedback),
    path("current/", views.current),
    path("billing/", views.billing),
    path("abilling/", views.abilling),
    path("billing-stream/", views.billing_stream),
    path("search/", views.SearchView.as_view()),
    path("deep-search/", views.DeepSearchView.as_view()),
    path("asearch/", views.AsyncSearchView.as_view()),
    path("login/", views.login_view),
    path("alogin/", views.alogin_view),
    path("alogin-chat/", views.alogin_chat),
    path("queue/", views.queue_task),
]
