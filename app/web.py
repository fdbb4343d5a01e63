"""Jinja2 environment and htmx helpers: layout choice, redirects, toasts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape

from app import i18n
from app.core import links
from app.core.generation import TASK_LABELS as GENERATION_TASKS
from app.core.kinds import ItemContent, ItemKind
from app.core.pair_view import pair_view
from app.core.prompts import render_messages
from app.core.provenance import Origin
from app.display import ALL_LABELS, JUDGE_REASONS, label
from app.errors import DomainError, InvalidInput, status_for
from app.paths import TEMPLATES

FLASH_COOKIE = "studio_flash"


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Newstyle gettext formats the result itself, so Jinja gets the catalog's own ngettext:
    # i18n.ngettext formats too, and would fail on a {% trans count=n %} block's placeholders.
    env.install_gettext_callables(i18n.gettext, _catalog_ngettext, newstyle=True)
    env.globals["LANGUAGES"] = i18n.LANGUAGES
    # The one list of item kinds and origins that every filter and form offers.
    env.globals["KINDS"] = [kind.value for kind in ItemKind]
    env.globals["ORIGINS"] = [origin.value for origin in Origin]
    env.filters["querystring"] = _querystring
    env.globals["error_text"] = error_text
    env.globals["link_view"] = links.view
    env.globals["render_messages"] = _render_snapshot
    # A preference pair's prompt and both responses, each with its verdicts (None otherwise).
    env.globals["pair_view"] = pair_view
    env.globals["JUDGE_REASONS"] = JUDGE_REASONS
    env.globals["GENERATION_TASKS"] = GENERATION_TASKS  # a generation job's task, by its code
    env.globals["label"] = label  # label(code) or label(code, table): never _(value)
    return env


def _catalog_ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.translations(i18n.current_locale()).ngettext(singular, plural, n)


def _render_snapshot(snapshot: dict) -> list[dict]:
    """Chat messages of a stored revision, through the one prompt renderer."""
    return render_messages(ItemContent.from_row(snapshot))


def error_text(error) -> str:
    """A domain error in the reader's language; coded values (statuses…) translated too."""
    params = {
        k: i18n.gettext(ALL_LABELS[v]) if isinstance(v, str) and v in ALL_LABELS else v
        for k, v in (error.params or {}).items()
    }
    return i18n.gettext(error.message, **params)


def _querystring(params, **changes) -> str:
    """The current query string with some parameters replaced (None removes one)."""
    from urllib.parse import urlencode

    merged = {k: v for k, v in params.items() if v != ""}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return urlencode(merged)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def wants_fragment(request: Request) -> bool:
    """A plain htmx request swaps a fragment; a boosted one or a normal visit gets the page."""
    return is_htmx(request) and request.headers.get("HX-Boosted") != "true"


def _flash_serializer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(request.app.state.secret_key, salt="flash")


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    toast: Toast | None = None,
) -> HTMLResponse:
    """Render a page, or its content block alone for an htmx swap, in the user's language."""
    state = request.state
    raw_toasts: list[list[Any]] = [list(toast)] if toast else []
    flash = request.cookies.get(FLASH_COOKIE)
    if flash:
        with suppress(BadSignature):
            raw_toasts.extend(_flash_serializer(request).loads(flash))
    locale = _locale_of(request)
    ctx = {
        "request": request,
        "user": getattr(state, "user", None),
        # The caller's standing in the project the page is about (app.members.access), if any.
        "member": getattr(state, "membership", None),
        "csrf_token": getattr(state, "csrf_token", ""),
        "locale": locale,
        "layout": "_fragment.html" if wants_fragment(request) else "layout.html",
        "url_for": lambda name, **params: request.app.url_path_for(name, **params),
    }
    ctx.update(context or {})
    env: Environment = request.app.state.templates
    with i18n.use_locale(locale):
        ctx["toasts"] = [_translate_toast(t) for t in raw_toasts]
        body = env.get_template(template).render(ctx)
    response = HTMLResponse(body, status_code=status_code)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


Toast = tuple[str, str] | tuple[str, str, dict[str, Any]]


def _locale_of(request: Request) -> str:
    return getattr(request.state, "locale", None) or request.app.state.settings.default_language


def in_reader_language(request: Request):
    """Translate in the reader's language now, for a toast whose words agree with a count:
    ``with in_reader_language(request): text = i18n.ngettext(...)``."""
    return i18n.use_locale(_locale_of(request))


def _translate_toast(toast: list[Any]) -> tuple[str, str]:
    level, message, *rest = toast
    params = rest[0] if rest else {}
    return level, i18n.gettext(message, **params)


def redirect(request: Request, url: str, *, toast: Toast | None = None) -> Response:
    """Redirect a normal form post (303) or an htmx request (HX-Redirect), keeping a toast."""
    if is_htmx(request):
        response: Response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if toast:
        response.set_cookie(
            FLASH_COOKIE,
            _flash_serializer(request).dumps([list(toast)]),
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.cookies_secure,
            path="/",
        )
    return response


def toast_trigger(request: Request, message: str, *, level: str = "success") -> str:
    """An ``HX-Trigger`` header value that shows a toast in the reader's language, for an
    htmx response that swaps in place instead of redirecting."""
    with i18n.use_locale(_locale_of(request)):
        text = i18n.gettext(message)
    return json.dumps({"toast": {"level": level, "message": text}}, ensure_ascii=True)


@dataclass
class Rejection:
    """What a service refused of a submitted form: the error and the status to re-render
    the form with. False while nothing was refused."""

    error: DomainError | None = None
    status: int = 200

    def __bool__(self) -> bool:
        return self.error is not None

    @property
    def errors(self) -> dict[str, str]:
        """The messages per field (an InvalidInput's), for the form to show inline."""
        return getattr(self.error, "errors", None) or {}


@contextmanager
def form_rejection(
    *, status: int = 422, also: tuple[type[DomainError], ...] = ()
) -> Iterator[Rejection]:
    """Catch a service's refusal of a form so the handler can show the form again, with the
    messages inline and the text kept::

        with form_rejection(status=400, also=(Conflict,)) as rejected:
            project = service.create_project(...)
        if rejected:
            return _form_page(..., error=rejected.error, status=rejected.status)

    InvalidInput answers ``status``; the error types in ``also`` answer their own status
    (Conflict 409, TooManyAttempts 429); any other error goes on to the error handler."""
    rejection = Rejection()
    try:
        yield rejection
    except (InvalidInput, *also) as error:
        rejection.error = error
        rejection.status = status if isinstance(error, InvalidInput) else status_for(error)
