"""``manage.py sendlogouts``: send the back-channel logout tokens that are due.

A logout token is first sent by the ``BACKCHANNEL_LOGOUT["delivery"]`` hook right after the
logout; a client that did not answer 200/204 is retried here, with delays doubling after each
failure until ``max_attempts`` (:mod:`oauth_provider.oidc.logout`). Run it every minute or so
from cron or a scheduler; two runs at once never send the same delivery twice.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ...errors import printable
from ...models import LogoutDelivery
from ...oidc.logout import deliver


class Command(BaseCommand):
    help = (
        "Send the OpenID Connect back-channel logout tokens that are due: deliveries that failed "
        "before and whose retry time has come, and any the delivery hook never sent (a worker "
        "that stopped). Prints how many were delivered, will be retried, or were given up. "
        "Run it every minute or so from cron; it is safe to run while the site serves requests "
        "and several runs at once never send the same delivery twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--list", action="store_true",
                            help="Only list the pending deliveries (due or waiting), send nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            pending = LogoutDelivery.objects.pending().select_related("client").order_by("next_attempt_at")
            for row in pending:
                self.stdout.write(f"{row.pk}\t{row.client.client_id}\tattempts={row.attempts}\t"
                                  f"next={row.next_attempt_at.isoformat() if row.next_attempt_at else '-'}\t"
                                  f"{printable(row.last_error[:80])}")
            self.stdout.write(f"{len(pending)} pending")
            return
        counts = deliver()
        self.stdout.write(f"{counts['delivered']} delivered, {counts['retried']} to retry later, "
                          f"{counts['failed']} given up")
