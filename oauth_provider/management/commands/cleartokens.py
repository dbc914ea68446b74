"""``manage.py cleartokens``: delete codes, tokens and grants that can never be used again.

What counts as dead is the model layer's rule (:mod:`oauth_provider.models.cleanup`). With
``-v 2`` a line is printed after every batch (rows deleted so far, batches, seconds), so a long
run over millions of rows shows it is moving.
"""

from __future__ import annotations

import time
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...models.cleanup import DEFAULT_BATCH_SIZE, clear


class Command(BaseCommand):
    help = (
        "Delete expired and revoked authorization codes, access tokens and refresh tokens, and "
        "the grants (token families) nothing can use any more, back-channel logout deliveries "
        "finished more than a week ago, import_dot's records of tokens that have expired, and "
        "(if DYNAMIC_CLIENT_IDLE_TIMEOUT is set) dynamically registered clients nothing has used for "
        "that long. Run it "
        "daily from cron; it is safe to run while the site is serving requests."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, metavar="N",
            help=f"Delete at most N rows per statement (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument("--dry-run", action="store_true",
                            help="Only count what would be deleted.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be a positive number.")
        started = time.monotonic()

        def progress(label: str, deleted: int, batches: int) -> None:
            name = apps.get_model(label)._meta.verbose_name_plural
            self.stdout.write(f"  {name}: {deleted} deleted so far ({batches} batches, "
                              f"{time.monotonic() - started:.1f} s)")
            self.stdout.flush()

        counts = clear(batch_size=options["batch_size"], dry_run=options["dry_run"],
                       progress=progress if options["verbosity"] >= 2 else None)
        verb = "would be deleted" if options["dry_run"] else "deleted"
        for label, count in counts.items():
            name = apps.get_model(label)._meta.verbose_name_plural
            self.stdout.write(f"{name}: {count} {verb}")
