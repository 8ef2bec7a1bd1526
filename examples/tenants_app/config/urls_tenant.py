"""URLs of a tenant's domain."""
from django.urls import path

from core.views import ready
from inventory.views import items

urlpatterns = [
    path("api/v1/ready/", ready, name="ready"),
    path("api/v1/items/", items, name="items"),
]
