from django.apps import AppConfig


class BreakageConfig(AppConfig):
    """Installed only in images built with BREAK_MIGRATION (see README.md)."""

    name = "breakage"
