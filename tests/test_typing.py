"""The package's typing promises (``py.typed``): a client is typed as the abstract client model
everywhere, never ``Any``, so mypy (run by .ci/run with the settings in pyproject.toml) checks
every use of it."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "oauth_provider"
CLIENT_AS_ANY = re.compile(r"\b(client|caller)\s*:\s*Any\b|\bclient\s*:\s*Any\s*\|")


def test_no_signature_or_field_types_a_client_as_any():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if CLIENT_AS_ANY.search(line)
    ]
    assert offenders == []


def test_the_package_ships_its_type_marker():
    assert (PACKAGE / "py.typed").is_file()
