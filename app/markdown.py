"""Markdown to sanitized HTML, for guidelines written by users and model cards from workers.

No image is ever rendered. An ``<img>`` loads as soon as the page opens: a remote one tells its
host who read the page and when, and one that points at this app sends a request with the
reader's cookies. The app hosts no images of its own, so there is no same-origin picture worth
that risk; an image becomes a link with its alt text, which the reader may choose to follow.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markupsafe import Markup

# html=False: raw HTML in the source is shown as text; nh3 then strips anything unsafe
# that Markdown itself could produce (for example javascript: links).
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = nh3.ALLOWED_TAGS - {"img"}  # a second guard should any rule ever emit one


def _image_as_link(renderer, tokens, idx, options, env) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    text = escapeHtml(renderer.renderInlineAsText(token.children or [], options, env) or src)
    opened = [t.type for t in tokens[:idx]]
    if opened.count("link_open") > opened.count("link_close"):
        return text  # inside a link already: a link in a link is not HTML
    return f'<a href="{escapeHtml(src)}">{text}</a>'


_md.add_render_rule("image", _image_as_link)


def render_markdown(source: str) -> Markup:
    html = _md.render(source or "")
    clean = nh3.clean(
        html,
        tags=_TAGS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return Markup(clean)  # noqa: S704 - sanitized by nh3 above
