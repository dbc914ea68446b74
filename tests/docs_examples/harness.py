"""Runs the code blocks of the documentation pages (tests/test_docs.py drives it).

Every fenced block on a page is run, in page order, by the kind its marker names. The marker
is an HTML comment on the line before the fence (invisible on the site)::

    <!-- test: KIND option=value ... -->

Kinds (a block without a marker gets the default of its language: ``python`` -> ``exec``,
``sh`` -> ``shell``; any other language needs a marker):

``exec``
    Executed as is, in a fresh namespace.
``module PATH``
    The block is part of the file ``PATH`` (relative to the repository), verbatim; the file
    is imported, and the page's own test exercises it.
``settings [expect=ID,...] [deploy] [database]``
    A settings.py excerpt: executed (with the current settings' values to extend), then applied
    to the rest of the page with ``override_settings``, and the system checks run: no
    ``oauth_provider`` message, or exactly the ``expect``-ed ones. ``deploy`` adds the deploy
    checks, ``database`` the ones that query it (``check --database default``).
    ``INSTALLED_APPS``, ``MIDDLEWARE`` and ``DATABASES`` are checked (each entry is installed
    or importable), not applied.
``compile``
    Compiled, and only its imports from ``oauth_provider``, Django and DRF executed (for code
    naming the reader's own models or another package, which do not exist here). Sparingly.
``shell [expect=STATUS,...] [set=VAR=key,...] [setup=NAME]``
    Each command runs: ``python manage.py ...`` through ``call_command``, ``curl ...``
    against the site in process (the host is ignored, https is kept), ``pip install ...``
    checks that the extras exist in pyproject.toml or the packages are installed. ``$VAR``
    comes from the page's environment; ``set`` stores keys of the last JSON output in it;
    ``setup`` runs a named preparation first (see tests/test_docs.py); ``expect`` gives the
    HTTP status of each curl in turn (default: any 2xx).
``response`` (the default for ``http`` blocks)
    The last curl's answer: status line, the headers shown, and a JSON body's keys.
``json last`` / ``json jwt=VAR`` / ``json get=PATH [exact]``
    A sample answer: the same keys as the last command's JSON output, or as the claims of the
    JWT in ``$VAR``, or (``get``) keys and value types found in the answer to ``GET PATH``
    (``exact``: equal values).
"""

from __future__ import annotations

import ast
import base64
import copy
import importlib
import importlib.metadata
import json
import os
import re
import shlex
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt as pyjwt
import requests
import requests.adapters
import requests.structures
from django.conf import settings
from django.core import checks
from django.core.management import call_command
from django.test import Client, TestCase, override_settings
from django.utils.module_loading import import_string

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HERE = Path(__file__).resolve().parent
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<code>.*?)^(?P=indent)```\s*$", re.M | re.S)
MARKER = re.compile(r"<!-- test: (.+?) -->\s*$")
#: a block generated from the code (docs/hooks/reference.py): its own tests check it, not these
GENERATED = re.compile(r"^<!-- generate: [^\n]*-->$.*?^<!-- /generate -->$", re.M | re.S)
DEFAULT_KINDS = {"python": "exec", "sh": "shell", "http": "response"}
#: settings a page may show but the tests cannot swap at run time: checked, not applied
CHECKED_ONLY = {"INSTALLED_APPS", "MIDDLEWARE", "DATABASES"}
#: environment variables the settings excerpts read, with stand-in values
DOCS_ENV = {
    "DJANGO_SECRET_KEY": "docs-example-secret-key-that-is-long-enough-for-check-deploy-0123456789",
    "DATABASE_PASSWORD": "example",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "OAUTH_KEY_ENCRYPTION_KEYS": "new-key-encryption-secret-0123456789 old-key-encryption-secret-0123456789",
    "EXAMPLE_CLIENT_ID": "stand-in",
    "EXAMPLE_CLIENT_SECRET": "stand-in",
}


@dataclass
class Block:
    page: str
    line: int
    lang: str
    code: str
    kind: str
    args: list[str]
    options: dict[str, str]

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def pages() -> list[str]:
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if "hooks" not in p.parts)


def blocks(page: str) -> list[Block]:
    text = (DOCS / page).read_text()
    generated = [m.span() for m in GENERATED.finditer(text)]
    found = []
    for match in FENCE.finditer(text):
        if any(start <= match.start() < end for start, end in generated):
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.search(before)
        words = shlex.split(marker.group(1)) if marker else []
        lang = match.group("lang")
        kind = words[0] if words else DEFAULT_KINDS.get(lang, "")
        rest = words[1:]
        options = dict(w.split("=", 1) for w in rest if "=" in w)
        args = [w for w in rest if "=" not in w]
        code = textwrap.dedent(match.group("code"))
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(page, line, lang, code, kind, args, options))
    return found


# -- HTTP in process -------------------------------------------------------------------------
def django_request(method: str, url: str, *, body: bytes = b"", content_type: str | None = None,
                   headers: dict[str, str] | None = None, client: Client | None = None) -> Any:
    """``method url`` answered by the site in this process (Django's test client)."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    extra: dict[str, Any] = {"HTTP_HOST": parts.netloc}
    for name, value in (headers or {}).items():
        if name.lower() not in ("host", "content-length", "content-type"):
            extra["HTTP_" + name.upper().replace("-", "_")] = value
    client = client or Client()
    return client.generic(method, path, data=body, content_type=content_type or "", secure=parts.scheme == "https",
                          **extra)


class InProcessAdapter(requests.adapters.BaseAdapter):
    """A ``requests`` transport that hands requests to the Django site in this process, so
    unmodified client libraries (Authlib, PyJWT's requests users) talk to it without a server."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        body = request.body or b""
        answer = django_request(
            request.method or "GET", request.url or "", body=body.encode() if isinstance(body, str) else body,
            content_type=request.headers.get("Content-Type"), headers=dict(request.headers),
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = requests.structures.CaseInsensitiveDict(answer.headers.items())
        response._content = answer.content
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


@contextmanager
def requests_in_process(hosts: tuple[str, ...] = ("example.com",)) -> Iterator[None]:
    """Send every ``requests`` call for ``hosts`` to the in-process site, for the duration."""
    original = requests.Session.get_adapter
    adapter = InProcessAdapter()

    def get_adapter(self: requests.Session, url: str) -> Any:
        return adapter if urlsplit(url).netloc in hosts else original(self, url)

    requests.Session.get_adapter = get_adapter  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.Session.get_adapter = original  # type: ignore[method-assign]


# -- a page's state while its blocks run ---------------------------------------------------
@dataclass
class Session:
    """What a page's blocks share: the environment, settings applied so far, the last output."""

    setups: dict[str, Callable[[Session], None]]
    env: dict[str, str] = field(default_factory=dict)
    stack: ExitStack = field(default_factory=ExitStack)
    last_json: Any = None
    last_text: str = ""
    last_status: int | None = None
    last_headers: dict[str, str] = field(default_factory=dict)
    browser: Client | None = None

    def expand(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            assert name in self.env, f"${name} is used before any example sets it"
            return self.env[name]

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)

    def remember(self, output: str) -> None:
        self.last_text = output
        try:
            self.last_json = json.loads(output)
        except ValueError:
            self.last_json = None


# -- the kinds -------------------------------------------------------------------------------
def run_exec(block: Block, session: Session) -> None:
    exec(compile(block.code, block.where, "exec"), {"__name__": "docs_example"})  # noqa: S102


def run_module(block: Block, session: Session) -> None:
    assert block.args, f"{block.where}: module needs a path"
    path = ROOT / block.args[0]
    source = path.read_text()
    assert block.code.strip() in source, f"{block.where}: the block is not (verbatim) in {block.args[0]}"
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    with environment(session.env):
        # a module that acts when imported (a script) acts again, with this page's state
        if name in sys.modules:
            importlib.reload(sys.modules[name])
        else:
            importlib.import_module(name)


#: the packages whose names a ``compile`` block's imports must really have
IMPORTED = ("oauth_provider", "django", "rest_framework")


def run_compile(block: Block, session: Session) -> None:
    tree = ast.parse(block.code, block.where)
    compile(tree, block.where, "exec")

    def ours(node: ast.stmt) -> bool:
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
            a.name for a in getattr(node, "names", [])
        ]
        return isinstance(node, (ast.Import, ast.ImportFrom)) and all(n.split(".")[0] in IMPORTED for n in names)

    imports = ast.Module([n for n in tree.body if ours(n)], type_ignores=[])
    exec(compile(imports, block.where, "exec"), {})  # noqa: S102


def _check_listed(name: str, value: Any) -> None:
    entries = [v for v in value if isinstance(v, str)] if isinstance(value, (list, tuple)) else []
    if name == "INSTALLED_APPS":
        # the apps a page writes itself (its modules under tests/docs_examples) count as installed
        missing = [e for e in entries if e not in settings.INSTALLED_APPS and not (HERE / e / "__init__.py").is_file()]
        assert not missing, f"INSTALLED_APPS names apps that are not installed here: {missing}"
    elif name == "MIDDLEWARE":
        for entry in entries:
            import_string(entry)
    elif name == "DATABASES":
        for alias in value.values():
            importlib.import_module(alias["ENGINE"] + ".base")


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with the docs' stand-ins and ``values`` added, for the duration."""
    environ = {**DOCS_ENV, **values}
    saved = {k: os.environ.get(k) for k in environ}
    os.environ.update(environ)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_settings(block: Block, session: Session) -> None:
    namespace: dict[str, Any] = {
        name: copy.deepcopy(getattr(settings, name)) for name in ("OAUTH_PROVIDER", "CACHES")
    }
    with environment(session.env):
        exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102
    overrides = {k: v for k, v in namespace.items() if k.isupper()}
    for name in CHECKED_ONLY & set(overrides):
        _check_listed(name, overrides.pop(name))
    session.stack.enter_context(override_settings(**overrides))
    found = sorted(
        {m.id for m in checks.run_checks(include_deployment_checks="deploy" in block.args,
                                         databases=["default"] if "database" in block.args else None)
         if (m.id or "").startswith("oauth_provider.")}
    )
    expected = sorted(f"oauth_provider.{i}" for i in block.options.get("expect", "").split(",") if i)
    assert found == expected, f"{block.where}: system checks say {found}, the page says {expected}"


def pyproject_extras() -> list[str]:
    """The extras ``[project.optional-dependencies]`` of pyproject.toml defines (read from the
    file, so that an environment installed before a change, or under another name, agrees)."""
    text = (ROOT / "pyproject.toml").read_text()
    table = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return re.findall(r"^([\w-]+) = \[", table, re.M)


def pyproject_extra(name: str) -> list[str]:
    """The requirements pyproject.toml lists for the extra ``name``."""
    text = (ROOT / "pyproject.toml").read_text()
    table = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    match = re.search(rf"^{re.escape(name)} = \[(.*?)^\]", table, re.M | re.S)
    assert match, f"pyproject.toml has no extra {name!r}"
    return re.findall(r'^\s*"([^"]+)"', match.group(1), re.M)


def _pip(words: list[str]) -> None:
    extras = pyproject_extras()
    for word in words:
        if word.startswith("-"):
            continue
        match = re.fullmatch(r"(.*?)\[([\w,-]+)\]", word)
        if match and (match.group(1) in (".", "/path/to/this/checkout") or "/" in match.group(1)):
            for extra in match.group(2).split(","):
                assert extra in extras, f"pyproject.toml has no extra {extra!r}"
            continue
        name = re.split(r"[\[<>=!~]", word, maxsplit=1)[0]
        importlib.metadata.distribution(name)  # installed here, so the name is real


def _manage(words: list[str], session: Session) -> None:
    out = StringIO()
    call_command(*words, stdout=out, stderr=StringIO())
    session.remember(out.getvalue())


CURL_FLAGS = {"-i", "-s", "-S", "-sS", "--silent", "--include", "--fail", "-f"}


def _curl(words: list[str], session: Session) -> int:
    method, url, data, headers = None, None, [], {}
    items = iter(words)
    for word in items:
        if word in ("-d", "--data", "--data-urlencode"):
            data.append(next(items))
        elif word in ("-u", "--user"):
            headers["Authorization"] = "Basic " + base64.b64encode(next(items).encode()).decode()
        elif word in ("-H", "--header"):
            name, _, value = next(items).partition(":")
            headers[name.strip()] = value.strip()
        elif word in ("-X", "--request"):
            method = next(items)
        elif word in CURL_FLAGS:
            continue
        else:
            assert not word.startswith("-"), f"curl option {word} is not understood by the docs tests"
            url = word
    assert url, "curl without a URL"
    if headers.get("Content-Type") == "application/json":  # a JSON body (dynamic registration) as is
        content_type, body = "application/json", "".join(data).encode()
    else:
        content_type = "application/x-www-form-urlencoded" if data else None
        body = urlencode([tuple(d.split("=", 1)) for d in data]).encode() if data else b""
    # As in production, what the view defers to the commit (the JWT denylist) happens.
    with TestCase.captureOnCommitCallbacks(execute=True):
        answer = django_request(
            method or ("POST" if data else "GET"), url, body=body, headers=headers, content_type=content_type,
        )
    session.remember(answer.content.decode())
    session.last_status, session.last_headers = answer.status_code, dict(answer.headers.items())
    return answer.status_code


def commands(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def run_shell(block: Block, session: Session) -> None:
    if "setup" in block.options:
        session.setups[block.options["setup"]](session)
    expected = [int(s) for s in block.options.get("expect", "").split(",") if s]
    for command in commands(block.code):
        words = shlex.split(session.expand(command))
        if words[:2] == ["django-admin", "startproject"] or words[0] == "cd":
            continue  # the pages' project is this one: tests/docs_examples (test_readme.py makes a real one)
        if words[:3] == ["python", "manage.py", "startapp"]:
            assert (HERE / words[3] / "__init__.py").is_file(), f"{block.where}: no page writes the app {words[3]}"
        elif words[:3] == ["python", "manage.py", "createsuperuser"]:
            continue  # it prompts; the setups log in as alice, whom they create
        elif words[:2] == ["python", "manage.py"]:
            _manage(words[2:], session)
        elif words[0] == "curl":
            status = _curl(words[1:], session)
            wanted = expected.pop(0) if expected else None
            ok = status == wanted if wanted else 200 <= status < 300
            assert ok, f"{block.where}: {command!r} answered {status}: {session.last_text[:300]}"
        elif words[:2] == ["pip", "install"]:
            _pip(words[2:])
        elif words[0] == "export":
            name, _, value = words[1].partition("=")
            session.env[name] = value
        else:
            raise AssertionError(f"{block.where}: the docs tests cannot run {command!r}")
    assert not expected, f"{block.where}: expect= names more answers than the block has curl commands"
    for assignment in filter(None, block.options.get("set", "").split(",")):
        name, _, key = assignment.partition("=")
        assert isinstance(session.last_json, dict) and key in session.last_json, (
            f"{block.where}: no {key!r} in the last output: {session.last_text[:300]}"
        )
        session.env[name] = str(session.last_json[key])


def _same_types(sample: dict[str, Any], real: dict[str, Any], where: str) -> None:
    missing = set(sample) - set(real)
    assert not missing, f"{where}: the sample shows keys the real answer lacks: {missing}"
    for key, value in sample.items():
        assert type(value) is type(real[key]), f"{where}: {key} is a {type(real[key]).__name__} really"


def run_json(block: Block, session: Session) -> None:
    sample = json.loads(block.code)
    if "last" in block.args:
        assert isinstance(session.last_json, dict), f"{block.where}: the previous command printed no JSON"
        assert set(sample) == set(session.last_json), (
            f"{block.where}: keys {sorted(sample)} but the real output has {sorted(session.last_json)}"
        )
        _same_types(sample, session.last_json, block.where)
        return
    if "jwt" in block.options:
        claims = pyjwt.decode(session.env[block.options["jwt"]], options={"verify_signature": False})
        assert set(sample) == set(claims), f"{block.where}: keys {sorted(sample)}, the token has {sorted(claims)}"
        return
    path = block.options.get("get")
    assert path, f"{block.where}: json needs 'last', jwt=VAR or get=PATH"
    real = json.loads(django_request("GET", "https://example.com" + path).content)
    if "exact" in block.args:
        assert sample == real, f"{block.where}: the page shows {sample}, the site answers {real}"
    _same_types(sample, real, block.where)


def run_response(block: Block, session: Session) -> None:
    """An ``http`` block showing the last curl's answer: its status line, the headers shown
    (each must equal the real one) and, after a blank line, a JSON body with the real keys."""
    head, _, body = block.code.partition("\n\n")
    status_line, *header_lines = head.strip().splitlines()
    assert session.last_status is not None, f"{block.where}: no curl ran before this answer"
    assert status_line.split()[1] == str(session.last_status), (
        f"{block.where}: the page shows {status_line!r}, the site answered {session.last_status}"
    )
    real = {k.lower(): v for k, v in session.last_headers.items()}
    for line in header_lines:
        name, _, value = line.partition(":")
        assert real.get(name.strip().lower()) == value.strip(), (
            f"{block.where}: {name}: {real.get(name.strip().lower())!r}, the page shows {value.strip()!r}"
        )
    if body.strip():
        assert set(json.loads(body)) == set(session.last_json or {}), f"{block.where}: body keys differ"


RUNNERS: dict[str, Callable[[Block, Session], None]] = {
    "exec": run_exec, "module": run_module, "settings": run_settings, "compile": run_compile,
    "shell": run_shell, "json": run_json, "response": run_response,
}


def run_page(page: str, session: Session) -> None:
    for block in blocks(page):
        RUNNERS[block.kind](block, session)
