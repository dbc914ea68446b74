"""MkDocs hooks (``hooks:`` in mkdocs.yml): fill the generated reference blocks from the code.

See :mod:`reference` beside this file for the markers a page may use.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


def _reference() -> ModuleType:
    name = "oauth_provider_docs_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("reference.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def on_config(config: Any) -> Any:
    _reference().setup_django()
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return _reference().expand(markdown)
