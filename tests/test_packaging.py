"""What ``pip install django-oauth21-provider`` would install is complete.

The sdist and the wheel are built from this checkout as ``python -m build`` builds them (PEP
517, setuptools from the index in a directory of its own); the wheel must hold every template,
the translations (``.po`` and the compiled ``.mo``), ``py.typed`` and every migration, under
the distribution name the README gives; the sdist the same plus the README and changelog. The
wheel, unpacked and imported instead of the checkout, then runs tests/smoke_installed.py
(log in, consent, code + PKCE, protected views). ``.ci/run`` does the same with a real
virtualenv and ``twine check``.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "django-oauth21-provider"
pytestmark = pytest.mark.e2e


def shipped_files() -> set[str]:
    """The non-Python files and migrations of the package, as paths inside a distribution."""
    package = ROOT / "oauth_provider"
    found = {"oauth_provider/py.typed"}
    for pattern in ("templates/**/*.html", "locale/*/LC_MESSAGES/django.po", "locale/*/LC_MESSAGES/django.mo",
                    "migrations/*.py"):
        found |= {f"oauth_provider/{p.relative_to(package).as_posix()}" for p in package.glob(pattern)}
    return found


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("dists")
    backend = tmp / "backend"
    requires = ["setuptools>=77", "wheel"]
    text = (ROOT / "pyproject.toml").read_text()
    assert all(r in text for r in requires), "build-system requires changed: update this test"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target",
                    str(backend), *requires], check=True)
    # a copy of what a clean clone has for the build, so that builds (one per xdist worker) do
    # not share the checkout's build/ and egg-info directories
    source = tmp / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "oauth_provider", source / "oauth_provider", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "CHANGELOG.md", "SECURITY.md", "MANIFEST.in"):
        shutil.copy(ROOT / name, source / name)
    out = tmp / "dist"
    script = (
        "from setuptools import build_meta as b; "
        f"print(b.build_sdist({str(out)!r})); print(b.build_wheel({str(out)!r}))"
    )
    subprocess.run([sys.executable, "-c", script], cwd=source, check=True, capture_output=True,
                   env={"PYTHONPATH": str(backend), "PATH": "/usr/bin:/bin"})
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_the_distribution_is_named_as_the_readme_says(dists):
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(wheel.read(metadata))
    assert meta["Name"] == NAME
    assert {"drf", "test", "docs", "dev"} <= set(meta.get_all("Provides-Extra"))
    for document in ("README.md", "CHANGELOG.md", "docs/index.md"):
        assert NAME in (ROOT / document).read_text(), document


def test_the_wheel_holds_templates_translations_typing_and_migrations(dists):
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = set(wheel.namelist())
    expected = shipped_files()
    assert "oauth_provider/templates/registration/login.html" in expected
    assert "oauth_provider/locale/fr/LC_MESSAGES/django.mo" in expected
    assert expected - names == set()
    assert not {n for n in names if n.startswith("tests/") or "__pycache__" in n}


def test_the_sdist_holds_the_same_and_the_project_files(dists):
    with tarfile.open(dists["sdist"]) as sdist:
        prefix = sdist.getnames()[0].split("/")[0]
        names = {n.removeprefix(prefix + "/") for n in sdist.getnames()}
    assert shipped_files() - names == set()
    assert {"README.md", "CHANGELOG.md", "pyproject.toml"} <= names


def test_the_installed_wheel_runs_a_flow(dists, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        wheel.extractall(site)
    # PYTHONPATH comes before site-packages (and any editable install of a checkout there)
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "smoke_installed.py")], cwd=tmp_path,
                            capture_output=True, text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"oauth_provider is imported from the installed copy ({site}" in result.stdout
    assert result.stdout.rstrip().endswith("smoke flow OK")
