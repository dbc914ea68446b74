"""The code shown on the documentation pages, as real modules that tests/test_docs.py runs.

The pages are written for a reader's own project, where the apps are top-level packages
(``notes``, ``consumer``) next to the project package (``mysite``). Importing this package
registers the example apps under those names too, so ``include("notes.urls")`` on a page
works here unchanged and every module exists only once.
"""

from __future__ import annotations

import importlib
import sys

for _name in ("notes", "notes.views", "notes.urls", "consumer", "consumer.views", "consumer.urls"):
    sys.modules.setdefault(_name, importlib.import_module(f"{__name__}.{_name}"))
