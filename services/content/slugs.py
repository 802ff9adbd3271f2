"""Anchor slugs for section ids."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str) -> str:
    """An anchor slug: ASCII lowercase words joined by ``-`` ("What is it?" → ``what-is-it``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
