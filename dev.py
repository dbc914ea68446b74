#!/usr/bin/env python3
"""Developer entry point: the two commands of the README's Quickstart.

    python3 dev.py serve [--port N] [--consumer-port N]
        run the example on 127.0.0.1: the provider site (identity provider, authorization
        server at /o/, notes API at /api/) on port 8000 and the consumer site, a separate
        Django project that logs in with it, on port 8001; Ctrl-C stops both
    python3 dev.py test [pytest args]
        run the test suite (OAUTH_PROVIDER_TEST_DB picks the DB)

Both create ``.venv`` beside this file on first use and ``pip install -e ".[dev]"`` into it,
again only when pyproject.toml has changed since (a stamp file in .venv remembers its hash).
Standard library only, so any python3 >= 3.10 with pip and venv can start it on a fresh clone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

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


def run(args: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None) -> int:
    # the argument lists are built here, from this file's paths and the user's own pytest args
    return subprocess.call([str(a) for a in args], cwd=cwd, env=env)  # noqa: S603


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


def example_env(port: int, consumer_port: int) -> dict[str, str]:
    """The environment both example sites read their URLs from (see their settings)."""
    provider = f"http://127.0.0.1:{port}"
    return {
        **os.environ,
        "EXAMPLE_PROVIDER_URL": provider,
        "EXAMPLE_ISSUER": provider + "/o",
        "EXAMPLE_CONSUMER_URL": f"http://127.0.0.1:{consumer_port}",
        "PYTHONUNBUFFERED": "1",
    }


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def relay(name: str, stream: IO[str]) -> None:
    """Copy a server's output to ours, each line tagged with the server's name."""
    for line in stream:
        print(f"[{name}] {line}", end="", flush=True)


def start_server(name: str, args: list[str | Path], env: dict[str, str]) -> subprocess.Popen[str]:
    # Its own process group, so stopping it also stops runserver's autoreloader child.
    group: dict[str, object] = {"start_new_session": True}
    if sys.platform == "win32":
        group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    process = subprocess.Popen(  # noqa: S603
        [str(a) for a in args], cwd=EXAMPLE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, bufsize=1, **group,  # type: ignore[call-overload]
    )
    assert process.stdout is not None
    threading.Thread(target=relay, args=(name, process.stdout), daemon=True).start()
    return process


def stop_server(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, getattr(signal, "SIGKILL", signal.SIGTERM)):
        try:
            if os.name == "nt":
                process.terminate()
            else:
                os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_until_listening(port: int, process: subprocess.Popen[str], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def cmd_serve(port: int, consumer_port: int) -> int:
    python = ensure_venv()
    busy = [p for p in (port, consumer_port) if not port_is_free(p)]
    if busy:
        say(f"port {', '.join(map(str, busy))} on 127.0.0.1 is in use (another dev.py serve?); "
            "stop it, or pick others with --port and --consumer-port")
        return 1
    env = example_env(port, consumer_port)
    manage = [python, EXAMPLE / "manage.py"]
    consumer = ["--settings", "consumer.settings"]
    for step in (["migrate", "--noinput", "-v", "0"], ["seed_demo"], ["migrate", "--noinput", "-v", "0", *consumer]):
        code = run([*manage, *step], cwd=EXAMPLE, env=env)
        if code != 0:
            return code
    servers = {
        "provider": (port, start_server("provider", [*manage, "runserver", f"127.0.0.1:{port}"], env)),
        "consumer": (consumer_port,
                     start_server("consumer", [*manage, "runserver", f"127.0.0.1:{consumer_port}", *consumer], env)),
    }
    # a plain `kill` of dev.py stops the servers too (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        for name, (server_port, process) in servers.items():
            if not wait_until_listening(server_port, process):
                say(f"the {name} server did not start (see its output above)")
                return process.poll() or 1
        print_urls(port, consumer_port, python)
        while True:
            for name, (_port, process) in servers.items():
                exited = process.poll()
                if exited is not None:
                    say(f"the {name} server stopped (exit {exited}); stopping the other one")
                    return exited or 1
            time.sleep(0.5)
    finally:
        for _port, process in servers.values():
            stop_server(process)


def print_urls(port: int, consumer_port: int, python: Path) -> None:
    base, consumer = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{consumer_port}"
    service = f"{python.relative_to(ROOT)} example_project/service_client.py"
    device = f"{python.relative_to(ROOT)} example_project/device_client.py"
    if port != 8000:
        service += f" --provider {base}"
        device += f" --provider {base}"
    print(
        "\n"
        "  The example is running. Open the consumer site and click \"Log in with Example\":\n"
        "\n"
        f"  Consumer site (a client, its own Django project):  {consumer}/\n"
        f"  Example, the provider (what to try):               {base}/\n"
        f"    Log in (identity provider):    {base}/accounts/login/   demo / demo-password\n"
        f"    Admin (users, clients, keys):  {base}/admin/            admin / admin-password\n"
        f"    Connected apps (revoke):       {base}/o/connected-apps/\n"
        f"    OpenID Connect discovery:      {base}/o/.well-known/openid-configuration\n"
        f"    Notes API (resource server):   {base}/api/notes/\n"
        f"  Service client (client_credentials):  {service}\n"
        f"  Device client (RFC 8628, a TV or CLI): {device}   (enter its code at {base}/o/device/)\n"
        "\n"
        "  Ctrl-C stops both servers.\n",
        flush=True,
    )


def main(argv: list[str]) -> int:
    # "test" hands everything after it to pytest untouched, so it is not parsed here
    if argv[:1] == ["test"]:
        runner = lambda: cmd_test(argv[1:])  # noqa: E731
    else:
        parser = argparse.ArgumentParser(
            prog="dev.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        sub = parser.add_subparsers(dest="command", required=True)
        serve = sub.add_parser("serve", help="run the example: the provider site and the consumer site")
        serve.add_argument("--port", type=int, default=8000, help="the provider site's port (default 8000)")
        serve.add_argument("--consumer-port", type=int, default=8001, help="the consumer site's port (default 8001)")
        sub.add_parser("test", help="run the pytest suite; arguments after it go to pytest")
        args = parser.parse_args(argv)
        runner = lambda: cmd_serve(args.port, args.consumer_port)  # noqa: E731
    try:
        return runner()
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
