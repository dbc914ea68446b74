"""What an import did, or would do with ``--dry-run``: counts per kind and outcome, and one
line for every thing refused, left behind or changed on the way, with the reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..errors import printable

#: the outcomes counted for each kind of thing
IMPORTED = "imported"
PRESENT = "already present"
SKIPPED = "skipped"
REFUSED = "refused"
#: imported by an earlier run, and revoked (or rotated) at DOT since: revoked here too
REVOKED = "revoked as at DOT"
OUTCOMES = (IMPORTED, PRESENT, REVOKED, SKIPPED, REFUSED)


@dataclass(frozen=True)
class Line:
    """One thing worth a reader's attention. ``level`` is ``refused`` (not carried over: the
    operator must act), ``skipped`` (not carried over, by design) or ``note`` (carried over,
    but not quite as it was)."""

    level: str
    kind: str
    subject: str
    reason: str

    def __str__(self) -> str:
        # names and URIs come from the old database, where users may have registered them
        return f"{self.level:8} {self.kind} {printable(self.subject)}: {printable(self.reason)}"


@dataclass
class Report:
    """Counts per (kind, outcome) and the lines, in the order things were met."""

    dry_run: bool = False
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    lines: list[Line] = field(default_factory=list)

    def count(self, kind: str, outcome: str, n: int = 1) -> None:
        self.counts[(kind, outcome)] += n

    def refuse(self, kind: str, subject: str, reason: str) -> None:
        """``subject`` is not carried over and the operator must act (fix it in the old
        provider and import again, or tell the client's developers)."""
        self.count(kind, REFUSED)
        self.lines.append(Line("refused", kind, subject, reason))

    def skip(self, kind: str, subject: str, reason: str, n: int = 1) -> None:
        """``n`` things are not carried over, by design (expired, revoked, short-lived)."""
        self.count(kind, SKIPPED, n)
        self.lines.append(Line("skipped", kind, subject, reason))

    def note(self, kind: str, subject: str, reason: str) -> None:
        """Carried over, but not exactly as it was."""
        self.lines.append(Line("note", kind, subject, reason))

    def total(self, kind: str, outcome: str) -> int:
        return self.counts[(kind, outcome)]

    def kinds(self) -> list[str]:
        return list(dict.fromkeys(kind for kind, _outcome in self.counts))

    def refusals(self) -> list[Line]:
        return [line for line in self.lines if line.level == "refused"]

    def summary(self) -> list[str]:
        """One line per kind: how many of each outcome (``would be imported`` in a dry run)."""
        rows = []
        for kind in self.kinds():
            parts = []
            for outcome in OUTCOMES:
                n = self.counts[(kind, outcome)]
                if n:
                    word = f"would be {outcome}" if self.dry_run and outcome == IMPORTED else outcome
                    parts.append(f"{n} {word}")
            rows.append(f"{kind}: " + ", ".join(parts))
        return rows
