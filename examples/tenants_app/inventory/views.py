from django.db import connection
from django.http import JsonResponse

from .models import Item


def items(request):
    """GET /api/v1/items/ on a tenant's domain: that tenant's items."""
    rows = list(Item.objects.values("sku", "name", "quantity", "unit"))
    return JsonResponse({"tenant": connection.schema_name, "items": rows})
