from django.db import models


class Item(models.Model):
    """Stock kept by one tenant; the table exists in every tenant schema."""

    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=0)
    unit = models.CharField(max_length=16, default="kg")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sku"]

    def __str__(self):
        return f"{self.sku} {self.name}"
