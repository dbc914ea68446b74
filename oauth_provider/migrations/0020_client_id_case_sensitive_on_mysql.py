"""On MySQL and MariaDB, ``client_id`` compared as the bytes it is.

Their default collations (``utf8mb4_general_ci``, ``utf8mb4_unicode_ci``...) compare text without
case and, for most, ignore trailing spaces: the unique index on ``client_id`` then held two
client ID metadata documents whose URLs differ only in case (``/App.json`` and ``/app.json``,
two resources on any case-sensitive host) for one value, and whoever presented a case variant
first kept the real client out. Lookups were already exact (checked again in Python); the
index is what this changes. Other databases compare text exactly: nothing to do there. A
swapped client model gets the same from its own migration (``db_collation="utf8mb4_bin"`` on
its ``client_id``, see the settings reference).
"""

from typing import Any

from django.db import migrations


def _binary_collation(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "mysql":
        return
    table = "oauth_provider_client"
    with connection.cursor() as cursor:
        if table not in connection.introspection.table_names(cursor):
            return  # the client model is swapped: its table is the host's
        cursor.execute(
            "SELECT CHARACTER_SET_NAME, COLLATION_NAME, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
            "AND COLUMN_NAME = 'client_id'", [table])
        charset, collation, nullable, length = cursor.fetchone()
        if collation.endswith("_bin"):
            return
        null = "NULL" if nullable == "YES" else "NOT NULL"
        schema_editor.execute(
            f"ALTER TABLE {table} MODIFY client_id varchar({int(length)}) "
            f"CHARACTER SET {charset} COLLATE {charset}_bin {null}")


class Migration(migrations.Migration):

    dependencies = [
        ('oauth_provider', '0019_imported_token'),
    ]

    operations = [
        migrations.RunPython(_binary_collation, migrations.RunPython.noop, atomic=False, elidable=True),
    ]
