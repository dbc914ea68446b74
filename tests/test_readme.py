"""The README tells the truth about the code.

* Its settings table is exactly what :data:`oauth_provider.conf.DEFAULTS` says (regenerate it
  with ``python tests/test_readme.py --write`` after changing DEFAULTS).
* Every endpoint path it lists resolves, every management command and signal it names
  exists, every ``from oauth_provider... import`` line and dotted path in its code blocks
  imports, and the ``createclient --json`` sample has the keys the command really prints.
* The Quickstart is exactly the two commands, and both exist in dev.py.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from io import StringIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TABLE_START = (
    "<!-- settings-table: generated from oauth_provider.conf.DEFAULTS by `python tests/test_readme.py --write` -->"
)
TABLE_END = "<!-- /settings-table -->"


# -- the generator (runs without Django settings) -----------------------------------------------
def _markdown(text: str) -> str:
    """A DEFAULTS doc string as one markdown table cell (RST ``code`` -> `code`)."""
    text = " ".join(text.split()).replace("``", "`")
    return text.replace("|", "\\|")


def render_default(value: Any) -> str:
    if isinstance(value, dict):
        return "keys " + ", ".join(f"`{key}`" for key in value) if value else "`{}`"
    if isinstance(value, (list, tuple)):
        return f"`{json.dumps(list(value))}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`"


def render_settings_table() -> str:
    from oauth_provider.conf import DEFAULTS

    rows = ["| Key | Default | What it does |", "| --- | --- | --- |"]
    for name, setting in DEFAULTS.items():
        rows.append(f"| `{name}` | {render_default(setting.default)} | {_markdown(setting.doc)} |")
    return "\n".join(rows)


def readme_settings_table(text: str) -> str:
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    return text[start:end].strip()


def write_settings_table() -> None:
    text = README.read_text()
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    README.write_text(text[:start] + "\n" + render_settings_table() + "\n" + text[end:])


# -- README helpers -----------------------------------------------------------------------------
def readme() -> str:
    return README.read_text()


def section(title: str) -> str:
    """The text of the ``## title`` section, up to the next ``## ``."""
    text = readme()
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[\w-]*\n(.*?)^```", text, re.M | re.S)


# -- the tests ---------------------------------------------------------------------------------
def test_settings_table_matches_defaults():
    assert readme_settings_table(readme()) == render_settings_table(), (
        "README's settings table differs from oauth_provider.conf.DEFAULTS: "
        "run `python tests/test_readme.py --write`"
    )


def test_quickstart_is_exactly_the_two_commands():
    blocks = code_blocks(section("Quickstart"))
    assert len(blocks) == 1
    assert blocks[0].split("\n")[:-1] == ["python3 dev.py serve", "python3 dev.py test"]
    source = (ROOT / "dev.py").read_text()
    assert 'add_parser("serve"' in source and 'add_parser("test"' in source


def test_every_listed_endpoint_resolves():
    from django.urls import Resolver404, resolve

    paths = re.findall(r"^\| `(/[^`]*)`", section("Endpoints"), re.M)
    assert len(paths) >= 5
    unresolved = []
    for path in paths:
        try:
            resolve(path)  # tests/urls.py mounts the provider at /o/ as the README says
        except Resolver404:
            unresolved.append(path)
    assert not unresolved, f"README lists endpoints that do not exist: {unresolved}"


def test_every_named_management_command_exists():
    from django.core.management import get_commands

    # seed_demo belongs to example_project and is covered by tests/e2e/test_example_project.py
    text = section("Add it to your site") + section("Management commands")
    named = set(re.findall(r"manage\.py (\w+)", text))
    assert {"migrate", "createclient"} <= named
    missing = named - set(get_commands())
    assert not missing, f"README names management commands that do not exist: {missing}"


def test_every_named_signal_exists():
    from django.dispatch import Signal

    from oauth_provider import signals

    named = re.findall(r"^\| `(\w+)` \|", section("Signals"), re.M)
    assert named
    for name in named:
        assert isinstance(getattr(signals, name, None), Signal), f"no signal oauth_provider.signals.{name}"


def test_imports_and_dotted_paths_in_code_blocks_exist():
    from django.utils.module_loading import import_string

    code = "\n".join(code_blocks(readme()))
    imports = re.findall(r"^\s*from (oauth_provider[\w.]*) import ([\w, ]+)$", code, re.M)
    assert imports
    for module, names in imports:
        loaded = importlib.import_module(module)
        for name in (n.strip() for n in names.split(",")):
            assert hasattr(loaded, name), f"README imports {name} from {module}, which has no such name"
    for dotted in set(re.findall(r"""["'](oauth_provider(?:\.\w+)+)["']""", readme())):
        try:
            importlib.import_module(dotted)
        except ImportError:
            import_string(dotted)


def test_relative_links_point_at_files_that_exist():
    targets = re.findall(r"\]\(((?!https?:|#)[^)]+)\)", readme())
    assert targets
    missing = [t for t in targets if not (ROOT / t.split("#")[0]).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_createclient_json_sample_has_the_real_keys(db):
    from django.core.management import call_command

    sample = next(b for b in code_blocks(section("Add it to your site")) if b.lstrip().startswith("{"))
    out = StringIO()
    call_command("createclient", "Notes web", "--redirect-uri", "https://notes.example/callback",
                 "--scope", "read write", "--json", stdout=out)
    real = json.loads(out.getvalue())
    assert set(json.loads(sample)) == set(real)
    assert real["client_secret"] and real["grant_types"] == ["authorization_code", "refresh_token"]


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:] == ["--write"]:
        write_settings_table()
        print(f"rewrote the settings table in {README}")
    else:
        print(render_settings_table())
