"""``manage.py createregistrationtoken``: an initial access token for dynamic registration
(RFC 7591 §3), needed when ``OAUTH_PROVIDER["DYNAMIC_REGISTRATION"]`` is ``"token"``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import dynamic_registration
from ...models import InitialAccessToken


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Create an initial access token for dynamic client registration (RFC 7591 §3). Give it to whoever "
        "may register clients: they send it as 'Authorization: Bearer <token>' to the registration endpoint. "
        "Only its hash is stored; the token is printed once. Revoke it in the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--expires", type=_positive, metavar="SECONDS", default=None,
                            help="Stop accepting the token after this many seconds (default: never).")
        parser.add_argument("--uses", type=_positive, metavar="N", default=None,
                            help="Accept the token for this many registrations (default: any number).")
        parser.add_argument("--description", default="", help="Who the token is for, shown in the admin.")

    def handle(self, *args: Any, **options: Any) -> None:
        if len(options["description"]) > 255:
            raise CommandError("--description must be at most 255 characters.")
        _row, raw = InitialAccessToken.objects.create_token(
            expires_in=options["expires"], uses=options["uses"], description=options["description"],
        )
        self.stdout.write(raw)
        if dynamic_registration.mode() != "token":
            self.stderr.write(self.style.WARNING(
                "OAUTH_PROVIDER['DYNAMIC_REGISTRATION'] is not 'token': the registration endpoint does not "
                "ask for this token now."
            ))
