"""Create the public ("super") tenant, its domain, a first tenant and a superuser, each only
if missing. Safe to re-run: a second run changes nothing and exits 0.

Run after `migrate_schemas --shared` and before `migrate_schemas --tenant`:
the first tenant's schema is created here but migrated by `migrate_schemas --tenant`.

Environment:
  PUBLIC_DOMAIN          domain of the public tenant (default: localhost)
  DEFAULT_TENANT_SCHEMA  schema of a first tenant (default: demo; empty: none)
  DEFAULT_TENANT_DOMAIN  its domain (default: <schema>.localhost)
  SUPERUSER_EMAIL        superuser to create in the public schema (optional)
  SUPERUSER_PASSWORD     its password (required with SUPERUSER_EMAIL when --no-input)
"""
import getpass
import os
import re
import zlib

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, get_tenant_domain_model, get_tenant_model

LOCK_ID = zlib.crc32(b"slipway-example:create_super_tenant")
SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Command(BaseCommand):
    help = "Idempotently create the public tenant + domain (and a first tenant and superuser)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-input", "--noinput", action="store_false", dest="interactive", default=True,
            help="Never prompt (take everything from the environment).",
        )

    def handle(self, *args, **options):
        interactive = options["interactive"]
        public = get_public_schema_name()
        public_domain = os.environ.get("PUBLIC_DOMAIN", "").strip() or "localhost"
        tenant_schema = os.environ.get("DEFAULT_TENANT_SCHEMA", "demo").strip().lower()
        tenant_domain = os.environ.get("DEFAULT_TENANT_DOMAIN", "").strip() or f"{tenant_schema}.localhost"
        if tenant_schema and (not SCHEMA_RE.match(tenant_schema) or tenant_schema == public):
            raise CommandError(f"DEFAULT_TENANT_SCHEMA {tenant_schema!r} is not a valid tenant schema name")

        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            # Two pipelines running at once must not race each other.
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_ID])
        try:
            self._public_tenant(public, public_domain)
            if tenant_schema:
                self._first_tenant(tenant_schema, tenant_domain)
            self._superuser(interactive)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_ID])

    def _say(self, created, what):
        if created:
            self.stdout.write(self.style.SUCCESS(f"created {what}"))
        else:
            self.stdout.write(f"exists: {what}")

    def _public_tenant(self, public, domain_name):
        Tenant = get_tenant_model()
        Domain = get_tenant_domain_model()
        with transaction.atomic():
            tenant = Tenant.objects.filter(schema_name=public).first()
            created = tenant is None
            if created:
                tenant = Tenant(schema_name=public, name="Public")
                tenant.save()  # the public schema exists: nothing to create or migrate
            self._say(created, f"public tenant (schema {public})")
            domain, created = Domain.objects.get_or_create(
                domain=domain_name, defaults={"tenant": tenant, "is_primary": True}
            )
            if domain.tenant_id != tenant.pk:
                raise CommandError(f"domain {domain_name!r} already belongs to tenant {domain.tenant.schema_name!r}")
            self._say(created, f"domain {domain_name} -> {public}")

    def _first_tenant(self, schema, domain_name):
        Tenant = get_tenant_model()
        Domain = get_tenant_domain_model()
        with transaction.atomic():
            tenant = Tenant.objects.filter(schema_name=schema).first()
            created = tenant is None
            if created:
                tenant = Tenant(schema_name=schema, name=schema.capitalize())
                # Create the schema but leave its migrations to `migrate_schemas --tenant`.
                tenant.auto_create_schema = False
                tenant.save()
            # (TenantMixin.create_schema(sync_schema=False) would create no schema at all.)
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {connection.ops.quote_name(schema)}")
            self._say(created, f"tenant {schema}")
            domain, created = Domain.objects.get_or_create(
                domain=domain_name, defaults={"tenant": tenant, "is_primary": True}
            )
            if domain.tenant_id != tenant.pk:
                raise CommandError(f"domain {domain_name!r} already belongs to tenant {domain.tenant.schema_name!r}")
            self._say(created, f"domain {domain_name} -> {schema}")

    def _superuser(self, interactive):
        email = os.environ.get("SUPERUSER_EMAIL", "").strip()
        password = os.environ.get("SUPERUSER_PASSWORD", "")
        if not email:
            self.stdout.write("no SUPERUSER_EMAIL: no superuser created")
            return
        User = get_user_model()
        if User.objects.filter(username=email).exists():
            self._say(False, f"superuser {email}")  # its password is left as it is
            return
        if not password:
            if not interactive:
                self.stderr.write(self.style.WARNING(
                    "SUPERUSER_EMAIL is set but SUPERUSER_PASSWORD is not: no superuser created"))
                return
            password = getpass.getpass(f"Password for {email}: ")
            if not password:
                raise CommandError("empty password")
        User.objects.create_superuser(username=email, email=email, password=password)
        self._say(True, f"superuser {email}")
