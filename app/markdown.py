"""Markdown to sanitized HTML, for guidelines written by users."""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# html=False: raw HTML in the source is shown as text; nh3 then strips anything unsafe
# that Markdown itself could produce (for example javascript: links).
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(source: str) -> Markup:
    html = _md.render(source or "")
    clean = nh3.clean(html, url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")
    return Markup(clean)  # noqa: S704 - sanitized by nh3 above
