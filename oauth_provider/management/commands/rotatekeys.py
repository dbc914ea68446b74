"""``manage.py rotatekeys``: create a new signing key (OIDC Core §10.1.1)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ... import keys
from ...conf import provider_settings
from ...models import SigningKey


class Command(BaseCommand):
    help = (
        "Create a new signing key for ID tokens and JWT access tokens. It is published in the JWKS at once "
        "and starts signing after SIGNING_KEY_PREPUBLICATION seconds (immediately if no key signs yet); the "
        "key it replaces stops signing then and stays published until the tokens it signed have expired."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--algorithm", choices=keys.ALGORITHMS, default=None,
            help="Algorithm of the new key (default: OAUTH_PROVIDER['SIGNING_KEY_ALGORITHM']).",
        )
        parser.add_argument(
            "--now", action="store_true",
            help="Start signing with the new key immediately, without pre-publication (relying parties that "
                 "cached the JWKS must refetch it). The old keys stay published while their tokens live.",
        )
        parser.add_argument(
            "--compromised", action="store_true",
            help="A key leaked: sign with the new key at once and withdraw every other key at once (gone from the "
                 "JWKS, refused for verification). ID tokens and JWT access tokens signed so far stop working; "
                 "opaque tokens and refresh tokens are not affected.",
        )
        parser.add_argument("--list", action="store_true", help="Only list the keys and their states.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["list"]:
            key = keys.create_key(
                options["algorithm"], prepublish=not options["now"], compromised=options["compromised"]
            )
            self.stdout.write(self.style.SUCCESS(
                f"Created {key.algorithm} key {key.kid}; it signs from {key.not_before.isoformat()}."
            ))
        rows = list(SigningKey.objects.all())
        for row in rows:
            retired = f", retired {row.retired_at.isoformat()}" if row.retired_at else ""
            since = row.not_before.isoformat()
            self.stdout.write(f"{row.state:8} {row.algorithm:6} {row.kid}  signs from {since}{retired}")
        if not rows:
            self.stdout.write("No signing keys yet. Create the first with `python manage.py rotatekeys --now`.")
        quick = options["now"] or options["compromised"] or options["list"]
        if provider_settings.SIGNING_KEY_PREPUBLICATION and not quick:
            self.stdout.write("Relying parties see the new key in the JWKS before it signs anything.")
