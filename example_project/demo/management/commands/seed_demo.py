"""``manage.py seed_demo``: create the demo users, their notes, the OAuth clients and a
signing key, or find them, and print the credentials. Safe to run any number of times: what
was changed by hand (a password, a client's redirect URIs) is put back, so what it prints
stays true."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from oauth_provider.conf import provider_settings
from oauth_provider.models import SigningKey, get_client_model

from notes.models import Note

from ...accounts import USERS, DemoClient, DemoUser, clients, load_credentials, save_credentials
from ...accounts import credentials_file as default_credentials_file


class Command(BaseCommand):
    help = "Create (once) and print the demo users, notes and OAuth clients of the example site."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--credentials-file", type=Path, default=None,
            help="Where client secrets are kept between runs (default: EXAMPLE_CREDENTIALS_FILE, "
                 "example_project/.demo-credentials.json).",
        )

    def handle(self, *args: Any, credentials_file: Path | None, **options: Any) -> None:
        path = credentials_file or default_credentials_file()
        specs = clients()
        with transaction.atomic():
            for spec in USERS:
                self.ensure_user(spec)
            store = load_credentials(path)
            for client_spec in specs:
                store[client_spec.name] = self.ensure_client(client_spec, store.get(client_spec.name, {}))
            # ID tokens need a signing key; a fresh site has none until rotatekeys makes one.
            if provider_settings.OIDC_ENABLED and not SigningKey.objects.exists():
                call_command("rotatekeys", "--now", stdout=StringIO())
                self.stdout.write("Created a signing key for ID tokens with rotatekeys --now.")
        save_credentials(store, path)
        self.report(store, specs, path)

    def ensure_user(self, spec: DemoUser) -> None:
        users = get_user_model()
        user, created = users._default_manager.get_or_create(
            username=spec.username,
            defaults={"is_staff": spec.admin, "is_superuser": spec.admin, "first_name": spec.first_name,
                      "last_name": spec.last_name, "email": spec.email},
        )
        # A password changed by hand is put back, so the printed credentials stay true.
        if created or not user.check_password(spec.password):
            user.set_password(spec.password)
            user.save()
        if created:
            Note.objects.bulk_create([Note(owner=user, text=text) for text in spec.notes])

    def ensure_client(self, spec: DemoClient, known: dict[str, Any]) -> dict[str, Any]:
        """The client's id and secret, registering the client with ``createclient`` if it is
        missing. A confidential client whose secret was lost gets a new one."""
        model = get_client_model()
        client = None
        if known.get("client_id"):
            client = model._default_manager.filter(client_id=known["client_id"]).first()
        if client is None:
            client = model._default_manager.filter(name=spec.name).order_by("pk").first()
        if client is None:
            return self.create_client(spec)
        self.sync(client, spec)
        secret = known.get("client_secret") if known.get("client_id") == client.client_id else None
        if not client.is_public and not (secret and client.check_secret(secret)):
            secret = client.generate_secret()
            client.save(update_fields=["client_secret_hash"])
            self.stdout.write(f"The secret of {spec.name!r} was not on record: generated a new one.")
        return {"client_id": client.client_id, "client_secret": None if client.is_public else secret}

    def sync(self, client: Any, spec: DemoClient) -> None:
        """Put back the registration the spec describes (the consumer's URLs follow its port)."""
        wanted = spec.registration()
        changed = [name for name, value in wanted.items() if getattr(client, name) != value]
        if not changed:
            return
        for name in changed:
            setattr(client, name, wanted[name])
        client.full_clean()
        client.save(update_fields=[*changed, "updated_at"])
        self.stdout.write(f"Updated {spec.name!r}: {', '.join(changed)}.")

    def create_client(self, spec: DemoClient) -> dict[str, Any]:
        out = StringIO()
        call_command("createclient", *spec.createclient_args(), "--json", stdout=out)
        try:
            created = json.loads(out.getvalue())
        except ValueError as exc:
            raise CommandError(f"createclient --json printed no JSON: {out.getvalue()!r}") from exc
        self.stdout.write(f"Registered {spec.name!r} with createclient.")
        return {"client_id": created["client_id"], "client_secret": created.get("client_secret")}

    def report(self, store: dict[str, dict[str, Any]], specs: tuple[DemoClient, ...], path: Path) -> None:
        lines = ["", "Demo accounts:"]
        lines += [
            f"  {spec.username} / {spec.password}" + ("   (staff, superuser: /admin/)" if spec.admin else "")
            for spec in USERS
        ]
        lines.append("Demo clients:")
        for spec in specs:
            entry = store[spec.name]
            kind = ("public, PKCE only" if spec.redirect_uris else "public") if spec.public else "confidential"
            lines.append(f"  {spec.name} ({kind}): {spec.role}")
            lines.append(f"    client_id:     {entry['client_id']}")
            if entry.get("client_secret"):
                lines.append(f"    client_secret: {entry['client_secret']}")
        lines.append(f"(secrets are kept in {path} for the next run)")
        self.stdout.write("\n".join(lines))
