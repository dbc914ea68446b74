"""``manage.py import_dot``: move clients, live tokens and signing keys over from
django-oauth-toolkit (the rules: :mod:`oauth_provider.migration.dot`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...migration import dot
from ...migration.report import Report


class Command(BaseCommand):
    help = (
        "Import from django-oauth-toolkit, installed beside this library in the same database: its applications "
        "become clients (same client_id and secret), its live access and refresh tokens keep working (found by "
        "the same SHA-256 DOT keeps as token_checksum), its OIDC_RSA_PRIVATE_KEY signs here with the kid DOT "
        "publishes, and consents are inferred where DOT would have skipped the page. What has no equivalent "
        "(password and implicit grants, http redirect URIs off loopback, skip_authorization on public clients) is "
        "refused or dropped, each with a line saying why. Run it again before you switch: what exists here is left "
        "as it is, what DOT issued since is added, and what DOT revoked or rotated since is revoked here."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true",
            help="Print the report of what would be imported, refused and left behind; write nothing.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=dot.BATCH_SIZE, metavar="N",
            help=f"Rows written per transaction (default {dot.BATCH_SIZE}).",
        )
        parser.add_argument(
            "--skip-keys", action="store_true",
            help="Leave DOT's signing keys alone (import them later with `rotatekeys --import`).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            report = dot.import_dot(
                dry_run=options["dry_run"], batch_size=options["batch_size"], keys=not options["skip_keys"]
            )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        self._print(report)

    def _print(self, report: Report) -> None:
        if report.dry_run:
            self.stdout.write(self.style.WARNING("Dry run: nothing was written."))
        for row in report.summary():
            self.stdout.write(row)
        for line in report.lines:
            text = str(line)
            self.stdout.write(self.style.ERROR(text) if line.level == "refused" else text)
        refused = len(report.refusals())
        if refused:
            self.stdout.write(self.style.WARNING(
                f"{refused} refused: fix them in django-oauth-toolkit (or tell the client's developers) and run "
                "import_dot again; what was imported already is left as it is."
            ))
        elif not report.dry_run:
            self.stdout.write(self.style.SUCCESS("Done."))
