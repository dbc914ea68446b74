"""Running the example (example_project/) from tests: its own Django processes, each with its
own settings, on free loopback ports, with temporary databases and credentials file, driven
through ``manage.py`` and HTTP only, the way ``python3 dev.py serve`` runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
CONSUMER_SETTINGS = ("--settings", "consumer.settings")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ExampleSites:
    """Where the two sites of one example run, and the environment their processes share."""

    directory: Path
    provider_port: int
    consumer_port: int

    @property
    def provider(self) -> str:
        return f"http://127.0.0.1:{self.provider_port}"

    @property
    def consumer(self) -> str:
        return f"http://127.0.0.1:{self.consumer_port}"

    @property
    def credentials_file(self) -> Path:
        return self.directory / "credentials.json"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        # pytest-django exported the test suite's settings module; the example has its own
        env["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
        env.update(
            EXAMPLE_DATABASE_PATH=str(self.directory / "provider.sqlite3"),
            CONSUMER_DATABASE_PATH=str(self.directory / "consumer.sqlite3"),
            EXAMPLE_CREDENTIALS_FILE=str(self.credentials_file),
            EXAMPLE_PROVIDER_URL=self.provider,
            EXAMPLE_ISSUER=self.provider + "/o",
            EXAMPLE_CONSUMER_URL=self.consumer,
            PYTHONUNBUFFERED="1",
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXAMPLE.parent), env.get("PYTHONPATH")]))
        env.update(extra)
        return env

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=EXAMPLE, env=env or self.env(),
            capture_output=True, text=True, timeout=180,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def prepare(self) -> str:
        """Migrate both sites and seed the provider, as ``dev.py serve`` does; returns the
        seed's output."""
        self.manage("migrate", "--noinput", "-v", "0")
        seeded = self.manage("seed_demo")
        self.manage("migrate", "--noinput", "-v", "0", *CONSUMER_SETTINGS)
        return seeded

    @contextmanager
    def running(self, *, provider: bool = True, consumer: bool = True, **env: str) -> Iterator[ExampleSites]:
        """Both sites' ``runserver`` processes (no autoreload) for the ``with`` block, with
        ``env`` added to their environment. Their output goes to log files: a pipe nobody
        reads would fill up and stall the server."""
        started: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        try:
            if provider:
                started.append(self._start("provider", self.provider_port, (), env))
            if consumer:
                started.append(self._start("consumer", self.consumer_port, CONSUMER_SETTINGS, env))
            for name, process, log in started:
                base = self.provider if name == "provider" else self.consumer
                wait_until_up(base, process, log)
            yield self
        finally:
            for _name, process, _log in started:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _start(self, name: str, port: int, extra: tuple[str, ...],
               env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen[bytes], Path]:
        log = self.directory / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", *extra],
                cwd=EXAMPLE, env=self.env(**(env or {})), stdout=out, stderr=subprocess.STDOUT,
            )
        return name, process, log

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.directory.glob("*.log")))


def new_sites(directory: Path) -> ExampleSites:
    return ExampleSites(directory, free_port(), free_port())


def wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(base + "/", timeout=2)
            return
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"runserver at {base} did not start:\n{log.read_text(errors='replace')}") from None
            time.sleep(0.2)
