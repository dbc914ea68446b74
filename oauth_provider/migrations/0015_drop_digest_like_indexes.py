"""Drop the second index PostgreSQL got on each stored digest.

On PostgreSQL, Django gives every unique ``CharField`` a second index with the
``varchar_pattern_ops`` operator class, for ``LIKE 'prefix%'`` queries. A digest (a token's,
a code's, a request_uri's) is only ever compared whole, through its unique index, so the
second index serves no query and only costs: every INSERT of a token or code updates it
(bulk-inserting 200,000 digests took 6.6 s with it and 5.3 s without), and it is as large as
the unique index (about 120 MB per million tokens). Only the pattern-operator index on the
digest column is dropped; the unique index, which every lookup uses, stays. Other databases
never had one. Reversible: the reverse migration creates the indexes again.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

#: (model, field) of every digest column declared ``unique=True``
DIGESTS = (
    ("accesstoken", "token_hash"),
    ("refreshtoken", "token_hash"),
    ("authorizationcode", "code_hash"),
    ("devicecode", "device_code_hash"),
    ("devicecode", "user_code_hash"),
    ("pushedauthorization", "request_uri_hash"),
    ("initialaccesstoken", "token_hash"),
    ("clientregistration", "token_hash"),
)

#: the non-unique one-column indexes on ``column`` of ``table`` that use a pattern operator class
PATTERN_INDEXES = """
    SELECT index_class.relname
    FROM pg_index AS ix
    JOIN pg_class AS index_class ON index_class.oid = ix.indexrelid
    JOIN pg_attribute AS attribute ON attribute.attrelid = ix.indrelid AND attribute.attnum = ix.indkey[0]
    JOIN pg_opclass AS opclass ON opclass.oid = ix.indclass[0]
    WHERE ix.indrelid = to_regclass(%s) AND ix.indnatts = 1 AND NOT ix.indisunique
      AND attribute.attname = %s AND opclass.opcname IN ('varchar_pattern_ops', 'text_pattern_ops')
"""


def _digest_fields(apps: Any) -> list[tuple[Any, Any]]:
    fields = []
    for model_name, field_name in DIGESTS:
        model = apps.get_model("oauth_provider", model_name)
        fields.append((model, model._meta.get_field(field_name)))
    return fields


def drop_pattern_indexes(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    for model, field in _digest_fields(apps):
        with connection.cursor() as cursor:
            cursor.execute(PATTERN_INDEXES, [quote(model._meta.db_table), field.column])
            names = [row[0] for row in cursor.fetchall()]
        for name in names:
            schema_editor.execute(f"DROP INDEX IF EXISTS {quote(name)}")


def create_pattern_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, field in _digest_fields(apps):
        statement = schema_editor._create_like_index_sql(model, field)  # what Django created first
        if statement is not None:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("oauth_provider", "0014_frontchannel_logout"),
    ]

    operations = [
        migrations.RunPython(drop_pattern_indexes, create_pattern_indexes, elidable=False),
    ]
