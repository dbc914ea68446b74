#!/usr/bin/env python3
"""Developer entry point: the two commands of the README's Quickstart.

    python3 dev.py serve [--port N]   run the example site (provider at /o/) on 127.0.0.1
    python3 dev.py test [pytest args] run the test suite (OAUTH_PROVIDER_TEST_DB picks the DB)

Both create ``.venv`` beside this file on first use and ``pip install -e ".[dev]"`` into it,
again only when pyproject.toml has changed since (a stamp file in .venv remembers its hash).
Standard library only, so any python3 >= 3.10 with pip and venv can start it on a fresh clone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".dev-py-installed"
EXAMPLE = ROOT / "example_project"
MIN_PYTHON = (3, 10)
#: pytest's exit code when it collected no test: a CI that runs nothing must not look green
PYTEST_NO_TESTS = 5


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def say(message: str) -> None:
    print(f"[dev.py] {message}", flush=True)


def run(args: list[str | Path], cwd: Path | None = None) -> int:
    # the argument lists are built here, from this file's paths and the user's own pytest args
    return subprocess.call([str(a) for a in args], cwd=cwd)  # noqa: S603


def install_fingerprint() -> str:
    """The hash of the project metadata the environment was installed from."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv() -> Path:
    """Create .venv if missing and (re-)install the project when pyproject.toml changed."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"dev.py needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; this is {sys.version.split()[0]}.")
    python = venv_python()
    if not python.exists():
        say(f"creating {VENV.relative_to(ROOT)} with {sys.executable}")
        if run([sys.executable, "-m", "venv", VENV]) != 0:
            sys.exit("dev.py: could not create the virtualenv (is the venv module installed?).")
    fingerprint = install_fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return python
    say('installing the project and its dev dependencies: pip install -e ".[dev]"')
    code = run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", ".[dev]"], cwd=ROOT)
    if code != 0:
        sys.exit(f"dev.py: pip install failed (exit {code}).")
    STAMP.write_text(fingerprint + "\n")
    return python


def describe_test_db() -> str:
    db = os.environ.get("OAUTH_PROVIDER_TEST_DB", "sqlite").lower()
    if db in ("postgres", "postgresql", "pg"):
        host = os.environ.get("DATABASE_HOST", "127.0.0.1")
        port = os.environ.get("DATABASE_PORT", "5432")
        name = os.environ.get("DATABASE_NAME", "test")
        return f"PostgreSQL at {host}:{port} (test database test_{name})"
    if db in ("mariadb", "mysql"):
        return "MariaDB/MySQL (needs the 'mysql' extra)"
    return "SQLite in memory"


def cmd_test(pytest_args: list[str]) -> int:
    python = ensure_venv()
    say(f"database: {describe_test_db()}")
    code = run([python, "-m", "pytest", *pytest_args], cwd=ROOT)
    if code == PYTEST_NO_TESTS:
        say("pytest collected no tests: treated as a failure")
        return 1
    return code


def cmd_serve(port: int) -> int:
    python = ensure_venv()
    manage = [python, EXAMPLE / "manage.py"]
    for step in (["migrate", "--noinput", "-v", "0"], ["seed_demo"]):
        code = run([*manage, *step], cwd=EXAMPLE)
        if code != 0:
            return code
    base = f"http://127.0.0.1:{port}"
    print(
        "\n"
        f"  Home page (what to try):  {base}/\n"
        f"  Provider metadata:        {base}/o/.well-known/oauth-authorization-server\n"
        f"  Authorization endpoint:   {base}/o/authorize/\n"
        f"  Token endpoint:           {base}/o/token/\n"
        f"  Admin:                    {base}/admin/   (admin / admin-password)\n"
        f"  Log in:                   {base}/accounts/login/   (demo / demo-password)\n",
        flush=True,
    )
    if port != 8000:
        say("note: the example's ISSUER is http://127.0.0.1:8000/o; metadata will still name port 8000")
    return run([*manage, "runserver", f"127.0.0.1:{port}"], cwd=EXAMPLE)


def main(argv: list[str]) -> int:
    # "test" hands everything after it to pytest untouched, so it is not parsed here
    if argv[:1] == ["test"]:
        runner = lambda: cmd_test(argv[1:])  # noqa: E731
    else:
        parser = argparse.ArgumentParser(
            prog="dev.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        sub = parser.add_subparsers(dest="command", required=True)
        serve = sub.add_parser("serve", help="run the example site with the provider at /o/")
        serve.add_argument("--port", type=int, default=8000)
        sub.add_parser("test", help="run the pytest suite; arguments after it go to pytest")
        args = parser.parse_args(argv)
        runner = lambda: cmd_serve(args.port)  # noqa: E731
    try:
        return runner()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
