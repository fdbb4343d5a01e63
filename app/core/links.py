"""Links people attach to items (what flagged an item for review): a path inside the app, or an
outside http(s) address that pages show as text with its host, never as a live link.

Browsers read more into a link than its text shows: `javascript:` and `data:` run code, `//host`
and `/\\host` leave the site, and tabs or newlines inside a URL are dropped before it is parsed.
So the rule is narrow: anything that is not plainly one of the two shapes is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.core.constraints.base import N_

MAX_CHARS = 500
NOT_A_LINK = N_(
    "A link must be a path in this app, such as /jobs/12, or an address that starts with "
    "http:// or https://."
)
UNSAFE_CHARACTERS = N_("A link may not contain spaces, control characters or backslashes.")
LEAVES_THE_APP = N_(
    "A link that starts with // leads to another site: write the full https:// address."
)
CREDENTIALS = N_("A link may not carry a user name or password.")
TOO_LONG = N_("A link has at most 500 characters.")  # MAX_CHARS, the column's size
# A host name, an IPv4 address or a bracketed IPv6 address, with an optional port.
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]")


class BadLink(ValueError):
    """A link the rule refuses; ``message`` is a gettext message id."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Link:
    text: str
    # A path inside the app: the one kind of link a page may make live.
    href: str | None = None
    # An outside address: pages show its text and this host, never a live link.
    host: str | None = None


def _unsafe(char: str) -> bool:
    return char.isspace() or char == "\\" or ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F


def parse(text: str | None) -> Link | None:
    """The link ``text`` stands for (None for no link), or :class:`BadLink`."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if len(text) > MAX_CHARS:
        raise BadLink(TOO_LONG)
    if any(_unsafe(c) for c in text):
        raise BadLink(UNSAFE_CHARACTERS)
    if text.startswith("//"):
        raise BadLink(LEAVES_THE_APP)
    if text.startswith("/"):
        return Link(text, href=text)
    scheme, _, rest = text.partition(":")
    if scheme.lower() not in ("http", "https") or not rest.startswith("//"):
        raise BadLink(NOT_A_LINK)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise BadLink(NOT_A_LINK) from None
    if "@" in parts.netloc:
        raise BadLink(CREDENTIALS)
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port is not None else parts.netloc
    if not parts.hostname or not _HOST.fullmatch(netloc):
        raise BadLink(NOT_A_LINK)
    return Link(text, host=parts.hostname)


def view(text: str | None) -> Link | None:
    """For pages: the stored link as the rule reads it. A stored text the rule refuses (one
    written before the rule) is shown as text only, with neither a link nor a host."""
    try:
        return parse(text)
    except BadLink:
        return Link(text or "")
