"""URLs of the public schema (PUBLIC_DOMAIN)."""
from django.contrib import admin
from django.urls import path

from core.views import ready

urlpatterns = [
    path("api/v1/ready/", ready, name="ready"),
    path("admin/", admin.site.urls),
]
