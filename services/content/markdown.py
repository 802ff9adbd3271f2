"""Markdown to HTML with markdown-it-py: CommonMark, raw HTML off (it is escaped, never passed)."""

from __future__ import annotations

from markdown_it import MarkdownIt

from services.content.public import Markdown


class MarkdownRenderer:
    """Renders CommonMark (https://spec.commonmark.org) with ``html=False``; one parser per site load."""

    def __init__(self) -> None:
        self._md = MarkdownIt("commonmark", {"html": False})
        # Same text, same HTML: repeated texts (shared intros, boilerplate) render once per load.
        self._rendered: dict[str, Markdown] = {}

    def render(self, source: str) -> Markdown:
        """``source`` (trimmed) and its HTML."""
        text = source.strip()
        rendered = self._rendered.get(text)
        if rendered is None:
            rendered = self._rendered[text] = Markdown(markdown=text, html=self._md.render(text))
        return rendered

    def optional(self, source: str | None) -> Markdown | None:
        """Like :meth:`render`, ``None`` for a missing or blank text."""
        if source is None or not source.strip():
            return None
        return self.render(source)
