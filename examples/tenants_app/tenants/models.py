from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Client(TenantMixin):
    """A tenant. Its rows live in the public schema; its data in schema `schema_name`."""

    name = models.CharField(max_length=100)
    created_on = models.DateField(auto_now_add=True)

    # Saving a new Client creates its schema and migrates it.
    auto_create_schema = True

    def __str__(self):
        return f"{self.name} ({self.schema_name})"


class Domain(DomainMixin):
    def __str__(self):
        return self.domain
