"""A migration that always fails. The `breakage` app is only installed when the image was
built with BREAK_MIGRATION=1|shared (fails `migrate_schemas --shared`) or
BREAK_MIGRATION=tenant (fails `migrate_schemas --tenant`). It never gets recorded as
applied, so a broken image fails on every database, however migrated."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = []

    operations = [
        migrations.RunSQL(
            sql="DO $$ BEGIN RAISE EXCEPTION 'slipway example: migration broken on purpose (BREAK_MIGRATION build arg)'; END $$;",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
