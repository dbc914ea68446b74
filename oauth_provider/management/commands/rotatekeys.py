"""``manage.py rotatekeys``: create a new signing key, or import one (OIDC Core §10.1.1)."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import key_import, keys
from ...conf import provider_settings
from ...models import SigningKey


class Command(BaseCommand):
    help = (
        "Create a new signing key for ID tokens and JWT access tokens. It is published in the JWKS at once "
        "and starts signing after SIGNING_KEY_PREPUBLICATION seconds (immediately if no key signs yet); the "
        "key it replaces stops signing then and stays published until the tokens it signed have expired. "
        "With --import FILE the new key is a PEM private key you bring (RSA >= 2048 bits, EC P-256 or Ed25519) "
        "instead of a generated one, under the same rules."
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
        parser.add_argument(
            "--import", dest="import_file", metavar="FILE",
            help="Import this PEM private key (PKCS#1, SEC1 or PKCS#8; '-' reads standard input) instead of "
                 "generating one: RSA of 2048 bits or more (RS256), EC P-256 (ES256) or Ed25519 (EdDSA). Its kid "
                 "is the RFC 7638 thumbprint, the kid django-oauth-toolkit gives the same key.",
        )
        parser.add_argument(
            "--kid", help="With --import: publish and sign with this kid instead of the thumbprint, to keep the "
                          "one relying parties know from the previous provider.",
        )
        parser.add_argument(
            "--password-env", metavar="VAR",
            help="With --import of an encrypted key: read its password from this environment variable.",
        )
        parser.add_argument(
            "--password-prompt", action="store_true",
            help="With --import of an encrypted key: ask for its password on the terminal.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["import_file"] is not None:
            key = self._import(options)
            self.stdout.write(self.style.SUCCESS(
                f"Imported {key.algorithm} key {key.kid}; it signs from {key.not_before.isoformat()}."
            ))
        elif options["kid"] or options["password_env"] or options["password_prompt"]:
            raise CommandError("--kid, --password-env and --password-prompt go with --import.")
        elif options["list"] and (options["now"] or options["compromised"] or options["algorithm"]):
            # the emergency command must never look done when nothing was withdrawn
            raise CommandError("--list only lists: drop --now, --compromised and --algorithm.")
        elif not options["list"]:
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

    def _import(self, options: dict[str, Any]) -> Any:
        if options["list"]:
            raise CommandError("--list and --import do not go together.")
        if options["algorithm"]:
            raise CommandError("An imported key's type decides its algorithm: drop --algorithm.")
        path = options["import_file"]
        try:
            if path == "-":
                pem = sys.stdin.buffer.read(key_import.MAX_PEM_BYTES + 1)
            else:
                with open(path, "rb") as f:
                    pem = f.read(key_import.MAX_PEM_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        try:
            key = key_import.import_key(
                pem, password=self._password(options), kid=options["kid"],
                prepublish=not options["now"], compromised=options["compromised"],
            )
        except key_import.KeyImportError as exc:
            raise CommandError(str(exc)) from None
        return key

    def _password(self, options: dict[str, Any]) -> bytes | None:
        """The import password: from an environment variable or the terminal, never from the
        command line (where ``ps`` and shell history would show it)."""
        if options["password_env"] and options["password_prompt"]:
            raise CommandError("Give the password one way: --password-env or --password-prompt.")
        if options["password_env"]:
            value = os.environ.get(options["password_env"])
            if not value:
                raise CommandError(f"The environment variable {options['password_env']} is not set or empty.")
            return value.encode()
        if options["password_prompt"]:
            if not sys.stdin.isatty() or options["import_file"] == "-":
                raise CommandError("--password-prompt needs a terminal; use --password-env VAR.")
            return getpass.getpass("Password of the private key: ").encode()
        return None
