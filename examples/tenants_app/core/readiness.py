"""GET /api/v1/ready/: 200 only when the database answers and every schema is migrated."""
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.http import JsonResponse
from django_tenants.utils import get_public_schema_name, get_tenant_model

log = logging.getLogger(__name__)


def _missing_migrations(graph_nodes):
    """Migrations of the graph not recorded in the current schema's django_migrations."""
    applied = MigrationRecorder(connection).applied_migrations()
    return sorted(f"{app}.{name}" for app, name in graph_nodes - set(applied))


def check():
    """-> (http_status, body)."""
    body = {"sha": settings.APP_SHA, "environment": settings.ENVIRONMENT}
    if settings.BREAK_HEALTH:
        return 503, {**body, "status": "broken", "reason": "image built with BREAK_HEALTH=1"}
    public = get_public_schema_name()
    try:
        connection.set_schema_to_public()
        connection.ensure_connection()
        # Without a database connection: reads the migration files only.
        graph_nodes = set(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
        missing = _missing_migrations(graph_nodes)
        if missing:
            return 503, {**body, "status": "migrating", "schema": public,
                         "reason": f"{len(missing)} unapplied migration(s)", "unapplied": missing[:20]}
        tenant_model = get_tenant_model()
        if not tenant_model.objects.filter(schema_name=public).exists():
            return 503, {**body, "status": "migrating", "reason": "public tenant missing (run create_super_tenant)"}
        schemas = list(tenant_model.objects.exclude(schema_name=public).values_list("schema_name", flat=True))
        for schema in schemas:
            connection.set_schema(schema)
            missing = _missing_migrations(graph_nodes)
            if missing:
                return 503, {**body, "status": "migrating", "schema": schema,
                             "reason": f"{len(missing)} unapplied migration(s)", "unapplied": missing[:20]}
        return 200, {**body, "status": "ready", "tenants": len(schemas)}
    except DatabaseError as exc:
        log.warning("readiness: database error: %s", exc.__class__.__name__)
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - the connection is already broken
            pass
        return 503, {**body, "status": "unavailable", "reason": f"database error: {exc.__class__.__name__}"}
    finally:
        try:
            connection.set_schema_to_public()
        except Exception:  # noqa: BLE001
            pass


def ready_response():
    status, body = check()
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    return response
