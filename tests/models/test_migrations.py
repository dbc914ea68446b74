"""The models and their migrations describe one schema: a column's length, nullability,
uniqueness or index declared on a model is what the migrations create in the database.

``.ci/run`` checks this with ``makemigrations --check``; this test checks it in-process, so a
run of the suite alone (``.ci/mutate`` among others) sees a model whose fields drifted from the
migrations: with ``--nomigrations`` the test database is built from the models, and a
``max_length`` that no longer matches the migrated column passes every other test on SQLite."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.test import override_settings


@override_settings(MIGRATION_MODULES={})  # pytest --nomigrations hides them; read them from disk
def test_the_models_match_their_migrations():
    loader = MigrationLoader(None, ignore_no_migrations=True)
    changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(
        graph=loader.graph, trim_to_apps={"oauth_provider"},
    )
    drift = [op.describe() for migration in changes.get("oauth_provider", []) for op in migration.operations]
    assert drift == []


def _pattern_indexes() -> list[tuple[str, str]]:
    """(table, column) of every pattern-operator index on a digest column of this app."""
    import importlib

    from django.db import connection

    module = importlib.import_module("oauth_provider.migrations.0015_drop_digest_like_indexes")
    found = []
    for model, field in module._digest_fields(apps):
        with connection.cursor() as cursor:
            cursor.execute(module.PATTERN_INDEXES, [connection.ops.quote_name(model._meta.db_table), field.column])
            found += [(model._meta.db_table, field.column)] * len(cursor.fetchall())
    return found


def _unique_digest_indexes() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_index ix JOIN pg_attribute a ON a.attrelid = ix.indrelid "
            "AND a.attnum = ix.indkey[0] JOIN pg_class t ON t.oid = ix.indrelid "
            "WHERE ix.indisunique AND ix.indnatts = 1 AND t.relname LIKE 'oauth_provider_%%' "
            "AND a.attname IN ('token_hash', 'code_hash', 'device_code_hash', 'user_code_hash', 'request_uri_hash')"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_digests_keep_only_their_unique_index_on_postgresql(settings):
    """Migration 0015 drops the ``varchar_pattern_ops`` index Django adds beside each unique
    digest column on PostgreSQL (no query ever uses it; every INSERT pays for it), keeps the
    unique index every lookup uses, and its reverse puts the indexes back."""
    import importlib

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL gets pattern-operator indexes")
    module = importlib.import_module("oauth_provider.migrations.0015_drop_digest_like_indexes")
    migrated = not settings.MIGRATION_MODULES  # pytest --nomigrations builds the tables from the models
    if migrated:
        assert _pattern_indexes() == []
    with connection.schema_editor() as editor:  # DDL is transactional: the test's rollback undoes it
        module.drop_pattern_indexes(apps, editor)
    # the eight digests of 0015, and ImportedToken's (0019), made a constraint without a pattern index
    assert _pattern_indexes() == [] and _unique_digest_indexes() == 9
    with connection.schema_editor() as editor:
        module.create_pattern_indexes(apps, editor)
    assert len(_pattern_indexes()) == 8 and len(set(_pattern_indexes())) == 8
    with connection.schema_editor() as editor:
        module.drop_pattern_indexes(apps, editor)
    assert _pattern_indexes() == [] and _unique_digest_indexes() == 9
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'oauth_provider_importedtoken'")
        definitions = [row[0] for row in cursor.fetchall()]
    assert not any("pattern_ops" in d for d in definitions), definitions
