"""A small accessibility check of server-rendered HTML (WCAG 2.2 basics): the document names
its language (3.1.1), has exactly one h1, every form control a user fills has a label
(1.3.1, 4.1.2), every button and link has an accessible name (4.1.2, 2.4.4) and every image
an ``alt`` attribute (1.1.1). The browser test runs the same rules in Chromium."""

from __future__ import annotations

from html.parser import HTMLParser

#: input types that need no label: never shown, or named by their own value
UNLABELLED_INPUT_TYPES = {"hidden", "submit", "button", "reset", "image"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.h1 = 0
        self.controls: list[dict[str, str]] = []
        self.label_for: set[str] = set()
        self.open_labels = 0
        self.images: list[dict[str, str]] = []
        self.named: list[tuple[str, dict[str, str], list[str]]] = []  # buttons and links with their text
        self._stack: list[tuple[str, dict[str, str], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang", "")
        elif tag == "h1":
            self.h1 += 1
        elif tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in ("input", "select", "textarea"):
            if tag != "input" or a.get("type", "text") not in UNLABELLED_INPUT_TYPES:
                self.controls.append({**a, "_wrapped": "1" if self.open_labels else ""})
        elif tag == "img":
            self.images.append(a)
            for _tag, _a, text in self._stack:
                text.append(a.get("alt", ""))
        if tag in ("button", "a"):
            self._stack.append((tag, a, []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels = max(0, self.open_labels - 1)
        if tag in ("button", "a") and self._stack and self._stack[-1][0] == tag:
            self.named.append(self._stack.pop())

    def handle_data(self, data: str) -> None:
        for _tag, _a, text in self._stack:
            text.append(data)


def problems(html: str) -> list[str]:
    """What is wrong with ``html``; an empty list when it passes."""
    page = _Page()
    page.feed(html)
    found = []
    if not page.lang.strip():
        found.append("<html> has no lang")
    if page.h1 != 1:
        found.append(f"{page.h1} h1 elements, expected exactly one")
    for control in page.controls:
        labelled = (control.get("id") in page.label_for or control["_wrapped"]
                    or control.get("aria-label", "").strip() or control.get("aria-labelledby"))
        if not labelled:
            found.append(f"control without a label: {control}")
    for image in page.images:
        if "alt" not in image:
            found.append(f"image without alt: {image}")
    for tag, attrs, text in page.named:
        if not ("".join(text).strip() or attrs.get("aria-label", "").strip()):
            found.append(f"<{tag}> without an accessible name: {attrs}")
    return found
