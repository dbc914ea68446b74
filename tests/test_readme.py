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
import os
import re
import shlex
import sys
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TABLE_START = (
    "<!-- settings-table: generated from oauth_provider.conf.DEFAULTS by `python tests/test_readme.py --write` -->"
)
TABLE_END = "<!-- /settings-table -->"


# -- the generator (runs without Django settings) -----------------------------------------------
def _markdown(text: str) -> str:
    """A DEFAULTS doc string as one markdown table cell (RST ``code`` and :mod:`name` -> `code`)."""
    text = re.sub(r":[a-z]+:`([^`]+)`", r"`\1`", " ".join(text.split())).replace("``", "`")
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


# -- the walkthrough: a fresh startproject, the README's steps, a code flow over HTTP ----------
WALKTHROUGH = re.compile(r"^<!-- walkthrough: (.+?) -->\n```[\w-]*\n(.*?)^```", re.M | re.S)
README_ADDRESS = "127.0.0.1:8000"


class _Form(HTMLParser):
    """The fields a browser submits from a page's first POST form (hidden and checked inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.in_form = self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post" and not self.done:
            self.in_form = True
        elif tag == "input" and self.in_form and a.get("name"):
            if a.get("type") == "hidden" or (a.get("type") == "checkbox" and "checked" in a):
                self.fields.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.in_form:
            self.in_form, self.done = False, True


def form_fields(html: str) -> list[tuple[str, str]]:
    parser = _Form()
    parser.feed(html)
    return parser.fields


class Walkthrough:
    """Runs the README's marked blocks in order, as a newcomer would, in ``tmp``.

    ``<!-- walkthrough: KIND ... -->`` before a block: ``shell [set=VAR=key,...]`` runs each
    command (``pip install`` is checked, not run: this environment has the package),
    ``settings PATH`` puts each assignment of the block in place of the file's own (or at its
    end), ``file PATH`` writes the file, ``browser`` opens the URL and logs in and approves
    as a user would, ``json`` compares a sample's keys with the last command's output. The
    only liberties: runserver listens on a free port instead of 8000 (the URLs follow), and
    createsuperuser is answered by DJANGO_SUPERUSER_* variables instead of a prompt."""

    def __init__(self, tmp: Path) -> None:
        import socket

        self.cwd = tmp
        self.vars: dict[str, str] = {}
        self.last: Any = None
        self.server: Any = None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.address = f"127.0.0.1:{s.getsockname()[1]}"
        bin_dir = str(Path(sys.executable).parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OAUTH_PROVIDER_"))}
        # this checkout's oauth_provider, as if installed (PYTHONPATH precedes site-packages)
        self.env = {**env, "PATH": bin_dir + os.pathsep + env.get("PATH", ""), "PYTHONPATH": str(ROOT),
                    "DJANGO_SUPERUSER_PASSWORD": "walkthrough-password"}

    # the kinds
    def shell(self, code: str, options: dict[str, str]) -> None:
        for command in re.sub(r"\\\n\s*", " ", code).splitlines():
            command = command.strip()
            if command and not command.startswith("#"):
                self.command(command)
        for assignment in filter(None, options.get("set", "").split(",")):
            name, _, key = assignment.partition("=")
            assert isinstance(self.last, dict) and key in self.last, f"no {key!r} in {self.last!r}"
            self.vars[name] = str(self.last[key])

    def command(self, command: str) -> None:
        words = shlex.split(command)
        if words[:2] == ["pip", "install"]:
            from tests.docs_examples.harness import pyproject_extras

            for extra in re.findall(r"\[([\w,-]+)\]", command)[0].split(","):
                assert extra in pyproject_extras(), f"pyproject.toml has no extra {extra!r}"
        elif words[0] == "cd":
            self.cwd = self.cwd / words[1]
        elif words[0] == "django-admin":
            self.run([sys.executable, "-m", "django", *words[1:]])
        elif words[:3] == ["python", "manage.py", "runserver"]:
            self.runserver()
        elif words[:2] == ["python", "manage.py"]:
            if words[2] == "createsuperuser":
                words += ["--noinput", "--username", "admin", "--email", "admin@example.com"]
            self.remember(self.run([sys.executable, *words[1:]]))
        elif words[0] == "curl":
            line = command.replace(README_ADDRESS, self.address)
            self.remember(self.run(["bash", "-c", line], env=self.vars))
        else:
            raise AssertionError(f"the walkthrough cannot run {command!r}")

    def settings(self, code: str, path: str) -> None:
        import ast

        target = self.cwd / path
        source = target.read_text()
        for node in ast.parse(code).body:
            assert isinstance(node, ast.Assign), "a settings block holds assignments only"
            (name,) = [t.id for t in node.targets if isinstance(t, ast.Name)]
            new = ast.get_source_segment(code, node)
            old = next((n for n in ast.parse(source).body if isinstance(n, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)), None)
            if old is None:
                source = source.rstrip("\n") + f"\n\n{new}\n"
            else:
                lines = source.splitlines(keepends=True)
                source = "".join(lines[: old.lineno - 1]) + new + "\n" + "".join(lines[old.end_lineno:])
        target.write_text(source)

    def file(self, code: str, path: str) -> None:
        (self.cwd / path).write_text(code)

    def browser(self, code: str) -> None:
        import requests

        url = code.strip().replace(README_ADDRESS, self.address).replace("CLIENT_ID", self.vars["CLIENT_ID"])
        origin = f"http://{self.address}"
        session = requests.Session()
        r = session.get(url, allow_redirects=False)
        assert r.status_code == 302 and r.headers["Location"].startswith("/accounts/login/?next="), r.text[:300]
        login_url = origin + r.headers["Location"]
        page = session.get(login_url)
        assert page.status_code == 200, f"the login page answers {page.status_code}"
        fields = dict(form_fields(page.text)) | {"username": "admin", "password": "walkthrough-password"}
        r = session.post(login_url, data=fields, allow_redirects=False)
        assert r.status_code == 302, f"logging in answered {r.status_code}: {r.text[:300]}"
        consent = session.get(origin + r.headers["Location"], allow_redirects=False)
        assert consent.status_code == 200 and 'name="allow"' in consent.text, consent.status_code
        r = session.post(consent.url, data=[*form_fields(consent.text), ("allow", "allow")], allow_redirects=False)
        callback = urlsplit(r.headers.get("Location", ""))
        query = parse_qs(callback.query)
        assert r.status_code == 302 and f"{callback.scheme}://{callback.netloc}{callback.path}" == (
            "https://notes.example/callback"), r.text[:300]
        assert query["state"] == ["xyz"] and query["iss"] == [f"{origin}/o"]
        self.vars["CODE"] = query["code"][0]

    def json(self, code: str) -> None:
        sample = json.loads(code)
        assert isinstance(self.last, dict), "the command before a JSON sample printed no JSON"
        assert set(sample) == set(self.last), f"the README shows {sorted(sample)}, the site said {self.last}"

    # helpers
    def run(self, argv: list[str], env: dict[str, str] | None = None, both: bool = False, fails: bool = False) -> str:
        """``argv``'s standard output (and error, with ``both``); it must succeed (fail, with ``fails``)."""
        import subprocess

        done = subprocess.run(argv, cwd=self.cwd, env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=120)
        assert (done.returncode != 0) == fails, f"{argv} answered {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr if both else done.stdout

    def remember(self, output: str) -> None:
        try:
            self.last = json.loads(output)
        except ValueError:
            self.last = None

    def runserver(self) -> None:
        import socket
        import subprocess
        import time

        self.server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", self.address, "--noreload"], cwd=self.cwd, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        host, port = self.address.split(":")
        for _ in range(150):
            assert self.server.poll() is None, self.server.stderr.read().decode()
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("runserver did not start")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=10)


@pytest.mark.e2e
def test_newcomer_walkthrough_from_startproject(tmp_path):
    """A new user's path: startproject, the README's steps in order, then a code flow with PKCE
    and the API called with its token, and a service's client_credentials token."""
    import requests

    steps = [(m.group(1), m.group(2)) for m in WALKTHROUGH.finditer(section("Add it to your site"))]
    assert [s[0].split()[0] for s in steps].count("browser") == 1
    walk = Walkthrough(tmp_path)
    try:
        for marker, code in steps:
            kind, *rest = shlex.split(marker)
            args = [w for w in rest if "=" not in w]
            options = dict(w.split("=", 1) for w in rest if "=" in w)
            if kind == "file" and args == ["mysite/urls.py"]:
                # startproject's site: the authorization endpoint's login page goes nowhere and the
                # endpoints have no address, and manage.py check says so (before the README's
                # URLconf mounts them): the error stops runserver, not a 500 at the first request
                said = walk.run([sys.executable, "manage.py", "check"], both=True, fails=True)
                assert "oauth_provider.W006" in said and "oauth_provider.E015" in said
            if kind == "shell":
                walk.shell(code, options)
            elif kind == "browser":
                walk.browser(code)
            else:
                getattr(walk, kind)(code, *args)
            if kind == "json" and walk.vars.get("TOKEN") and "user" in walk.last:
                # a browser opening the API (DRF's browsable renderer needs rest_framework installed)
                base = f"http://{walk.address}/api/notes/"
                assert requests.get(base, headers={"Accept": "text/html"}).status_code == 401
                html = requests.get(base, headers={"Accept": "text/html",
                                                   "Authorization": f"Bearer {walk.vars['TOKEN']}"})
                assert html.status_code == 200 and "text/html" in html.headers["Content-Type"]
        assert walk.last == {"user": None, "client": walk.vars["CLIENT_ID"]}, "the service's call, as a service"
        assert "oauth_provider." not in walk.run([sys.executable, "manage.py", "check"], both=True)
        # the deployment checks: only the posture of a site still in DEBUG on http (the issuer's
        # scheme, W001, once ISSUER is set); nothing the README's steps left out (W140)
        deploy = walk.run([sys.executable, "manage.py", "check", "--deploy"], both=True)
        assert not set(re.findall(r"oauth_provider\.[EW]\d+", deploy)) - {"oauth_provider.W001"}, deploy
    finally:
        walk.stop()


def test_the_django_versions_named_are_the_tested_ones_and_bound_the_dependency():
    """pip must not install a Django the README does not name (it once installed 6.1 when the
    README said 4.2, 5.2 and 6.0): the README, the docs' home page, the classifiers and tox's
    matrix name the same versions, and the dependency stops below the next one."""
    def versions(text: str) -> set[str]:
        return set(re.findall(r"\d+\.\d+", text))

    intro = re.search(r"Django (\d\.\d(?:, \d\.\d)*(?:,? and \d\.\d)?)\.", readme())
    named = versions(intro.group(1))
    index = re.search(r"Django (\d\.\d(?:, \d\.\d)*(?:,? and \d\.\d)?)\.", (ROOT / "docs" / "index.md").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    classifiers = set(re.findall(r'"Framework :: Django :: (\d+\.\d+)"', pyproject))
    tox = {f"{m[0]}.{m[1]}" for m in re.findall(r"django(\d)(\d): Django>=", (ROOT / "tox.ini").read_text())}
    assert named == versions(index.group(1)) == classifiers == tox, (named, classifiers, tox)
    bound = re.search(r'"django>=[\d.]+,<(\d+)\.(\d+)"', pyproject)
    assert bound, "the Django dependency has no upper bound"
    newest = max(named, key=lambda v: tuple(map(int, v.split("."))))
    major, minor = map(int, newest.split("."))
    assert (int(bound.group(1)), int(bound.group(2))) == (major, minor + 1)
