"""Fixtures shared by the OpenID Connect tests."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from ..conftest import OAuthDriver


@pytest.fixture
def logged_in(user, signing_key) -> OAuthDriver:
    """A browser signed in as ``user`` (a login session, so ID tokens carry its ``sid``)."""
    browser = HttpClient()
    browser.force_login(user)
    return OAuthDriver(browser, HttpClient())
