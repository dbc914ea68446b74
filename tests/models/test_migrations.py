"""The models and their migrations describe one schema: a column's length, nullability,
uniqueness or index declared on a model is what the migrations create in the database.

``.ci/run`` checks this with ``makemigrations --check``; this test checks it in-process, so a
run of the suite alone (``.ci/mutate`` among others) sees a model whose fields drifted from the
migrations: with ``--nomigrations`` the test database is built from the models, and a
``max_length`` that no longer matches the migrated column passes every other test on SQLite."""

from __future__ import annotations

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
