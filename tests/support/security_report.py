"""The security figures and checklist coverage every test run prints (shared/specs/test-figures.md).

Wired by hooks in ``tests/conftest.py``; kept here so conftest stays about fixtures.

* **Figures.** A test reports a figure with the ``figure`` fixture::

      def test_something(figure):
          figure("F25", "throttled at the threshold 3/3")

  The line travels on the test report (``user_properties``, as ``("figure:F25", line)``), so
  the process that writes the terminal summary prints it, with or without pytest-xdist. One line per figure id: a
  test reporting the same id again replaces its line.
* **Checklist coverage (F1-F3).** Every ``@pytest.mark.req("<ID>")`` of a test that *passed*
  counts for that checklist row (a skipped or failed test proves nothing). A row whose ID cell
  holds several IDs (``8414-3 / DISC-4.3-issuer-identical``) is covered by the whole cell or by
  any one of them. The summary lists the MUST and SHOULD rows with no test. Part 1 (F1, F2:
  the core) is read from ``docs/security-checklist.md`` (the repository's copy, so a fresh clone
  works) or, failing that, from ``../shared/specs/security-checklist.md``; part 2 (the wave-2
  features: device flow, registration, fetching, audiences, JWT client auth, token exchange,
  DPoP, PAR/JAR, logout, FAPI 2.0) from ``docs/security-checklist-wave2.md``, printed as
  ``F1 (part 2)`` and ``F2 (part 2)``.
* **CVEs (F3).** ``@pytest.mark.cve("CVE-...")`` names the published vulnerability a test is a
  regression test for. The checklist's catalogue (part 2) is not in the copy we have; the
  summary counts the CVEs cited in part 1's rows that have a test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKLISTS = (ROOT / "docs" / "security-checklist.md", ROOT.parent / "shared" / "specs" / "security-checklist.md")
CHECKLISTS_PART2 = (ROOT / "docs" / "security-checklist-wave2.md",
                    ROOT.parent / "shared" / "specs" / "security-checklist-wave2.md")
LEVELS = ("MUST", "SHOULD", "MAY")
_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
#: more uncovered rules than this are counted, not listed (a run of a few files)
MAX_LISTED = 30


@dataclass(frozen=True)
class Rule:
    """One checklist row: its ID cell, the IDs that cover it, its level (strictest word wins:
    ``MUST / SHOULD`` is a MUST), and the CVEs its row cites."""

    cell: str
    aliases: frozenset[str]
    level: str
    cves: tuple[str, ...]


def level_of(text: str) -> str:
    if re.search(r"\bMUST\b|\bREQUIRED\b", text):
        return "MUST"
    if re.search(r"\bSHOULD\b|\bRECOMMENDED\b", text):
        return "SHOULD"
    return "MAY"


def checklist_path(candidates: tuple[Path, ...] = CHECKLISTS) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def parse_checklist(text: str) -> list[Rule]:
    """The rows of every ``| ID | Requirement | Level | Test |`` table."""
    rules = []
    for line in text.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) < 4 or cells[0] == "ID" or set(cells[0]) <= {"-", " "}:
            continue
        cell = cells[0].replace("`", "")
        aliases = frozenset({cell, *(part.strip() for part in cell.split(" / "))})
        rules.append(Rule(cell, aliases, level_of(cells[2]), tuple(dict.fromkeys(_CVE.findall(line)))))
    return rules


@dataclass
class Report:
    """What the run proved, gathered from test reports."""

    covered: set[str] = field(default_factory=set)
    #: rules whose tests were skipped in this run (a test needing another database)
    skipped: set[str] = field(default_factory=set)
    cves: set[str] = field(default_factory=set)
    figures: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, properties: Iterable[tuple[str, object]], when: str, passed: bool, skipped: bool = False) -> None:
        """Take what one test report carries. ``count:`` properties are summed from the
        teardown report only (the fixture that counts adds them after the test ran)."""
        for name, value in properties:
            if skipped and name == "req":
                self.skipped.add(str(value))
            if name.startswith("figure:"):
                self.figures[name.partition(":")[2]] = str(value)
            elif name.startswith("count:") and when == "teardown":
                key = name.partition(":")[2]
                self.counts[key] = self.counts.get(key, 0) + int(value)  # type: ignore[call-overload]
            elif passed and name == "req":
                self.covered.add(str(value))
            elif passed and name == "cve":
                self.cves.add(str(value))

    def fuzz_lines(self) -> list[str]:
        per_endpoint = {k.partition(":")[2]: v for k, v in self.counts.items() if k.startswith("F4:")}
        if not per_endpoint:
            return []
        breakdown = ", ".join(f"{name} {n}" for name, n in per_endpoint.items())
        return [
            f"F4: distinct malformed requests fuzzed: {sum(per_endpoint.values())} over {len(per_endpoint)} "
            f"endpoints, fewest {min(per_endpoint.values())} ({breakdown})",
            f"F5: fuzzed responses with status >= 500: {self.counts.get('F5', 0)}; "
            f"exceptions logged at ERROR: {self.counts.get('F5-logged', 0)}",
            f"F6: fuzzed 4xx responses violating the RFC 6749 §5.2 / §4.1.2.1 shape: "
            f"{self.counts.get('F6-violations', 0)} of {self.counts.get('F6', 0)}",
        ]

    def header_lines(self) -> list[str]:
        if "F17" not in self.counts:
            return []
        bad17, bad18 = self.counts.get("F17-violations", 0), self.counts.get("F18-violations", 0)
        return [
            f"F17: HTML pages of oauth_provider views carrying X-Frame-Options DENY, CSP frame-ancestors 'none', "
            f"Referrer-Policy and no-store: {self.counts['F17'] - bad17}/{self.counts['F17']} responses checked",
            f"F18: token, introspection, userinfo and revocation responses carrying Cache-Control no-store: "
            f"{self.counts['F18'] - bad18}/{self.counts['F18']} responses checked",
        ]

    def coverage_lines(self, rules: list[Rule], part: str) -> list[str]:
        """F1 and F2 for one checklist: the MUST and SHOULD rows with a passing test."""
        out = []
        for level in ("MUST", "SHOULD"):
            rows = [r for r in rules if r.level == level]
            missing = [r.cell for r in rows if not (r.aliases & self.covered)]
            elsewhere = [r.cell for r in rows if not (r.aliases & self.covered) and (r.aliases & self.skipped)]
            untested = [cell for cell in missing if cell not in elsewhere]
            figure = ("F1" if level == "MUST" else "F2") + part
            listed = ", ".join(untested) if len(untested) <= MAX_LISTED else f"{len(untested)} rules (a partial run?)"
            out.append(f"{figure} {level} rules with a passing test: {len(rows) - len(missing)}/{len(rows)}"
                       f" ({100 * (len(rows) - len(missing)) / max(1, len(rows)):.1f} %); "
                       f"with no test: {listed or 'none'}"
                       + (f"; tests skipped on this database: {', '.join(elsewhere)}" if elsewhere else ""))
        return out

    def lines(self) -> list[str]:
        out = [f"{key}: {line}" for key, line in self.figures.items()] + self.fuzz_lines() + self.header_lines()
        out.sort(key=lambda line: _figure_order(line.split(":")[0]))
        path = checklist_path()
        if path is None:
            return [*out, "F1/F2: no security checklist found (docs/security-checklist.md)"]
        rules = parse_checklist(path.read_text())
        if not self.covered:
            return [*out, "F1/F2: no test with a req marker passed in this run (coverage not computed)"]
        out += self.coverage_lines(rules, "")
        part2_path = checklist_path(CHECKLISTS_PART2)
        part2 = parse_checklist(part2_path.read_text()) if part2_path else []
        if part2:
            out += self.coverage_lines(part2, " (part 2)")
        cited = sorted({c for r in rules for c in r.cves})
        tested = [c for c in cited if c in self.cves]
        out.append(f"F3 CVEs cited by the checklist with a @cve regression test: {len(tested)}/{len(cited)} "
                   "(part 2 catalogue not in the checklist copy)")
        unknown = sorted(self.covered - {a for r in (*rules, *part2) for a in r.aliases})
        if unknown:
            out.append(f"req markers naming no checklist row: {', '.join(unknown)}")
        return out


def _figure_order(key: str) -> tuple[int, str]:
    match = re.match(r"F(\d+)", key)
    return (int(match.group(1)) if match else 999, key)
