"""``_()`` only ever translates a message id written in the code, never a value.

What the rule protects: a translation call looks its argument up in the catalog and formats it
with ``%``. Given a user's text, that text becomes a translation key (a tag named like a
message shows as the message's translation) and a format string (``%(x)s`` raises, ``%s``
swallows arguments). In templates it is worse: Jinja's ``_()`` marks what it returns as safe
HTML, so ``_(value)`` prints the value unescaped: stored cross-site scripting.

So every translation call takes a string literal, or a value that is provably a marked id:
``N_("...")``, a module-level table or constant of ``N_`` literals, or a domain error's
``message`` (every domain error is raised with a literal, checked here too). Stored codes are
shown with ``label(code, table)``, which translates the table's marked label and shows anything
else as written. The few template calls that take a variable are listed below with the reason
the value is a marked id.

The attacks at the end put hostile text where a template used to translate a stored value.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import update

from app import i18n
from app.models import Item, Review
from tests.factories import join, make_user
from tests.helpers import login
from tests.review_factories import make_item, make_project

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "app", ROOT / "trainer"]
TEMPLATES = ROOT / "templates"
TRANSLATORS = {"_", "gettext", "ngettext", "pgettext", "npgettext", "N_", "lazy_gettext"}
MESSAGE_ARGS = {"ngettext": 2, "npgettext": 3, "pgettext": 2}  # how many leading args are text

# Functions that pass on an id their caller gave; each caller is checked instead.
PASS_THROUGH = {
    ("app/i18n.py", "gettext"): "the translation function itself",
    ("app/i18n.py", "ngettext"): "the translation function itself",
    ("app/web.py", "_catalog_ngettext"): "Jinja's ngettext: the template calls are checked",
    ("app/web.py", "_translate_toast"): (
        "a toast's message is an N_ id, or text a route already translated with "
        "in_reader_language; no route puts user text in a toast"
    ),
    ("app/web.py", "toast_trigger"): "as _translate_toast",
    ("app/display.py", "label"): "looks up only the marked labels of a table of N_ literals",
}

# Domain errors built from something other than a message first, with where their message
# comes from.
OWN_SIGNATURE = {
    "ContentTooLong": "app.items.lengths: takes overlong()'s problems, whose messages are the "
    "N_ literals of that module",
}

# Template calls whose argument is a variable, with why the value is a marked id.
TEMPLATE_ALLOWED = {
    ("errors/error.html", "title"): "app.handlers.HTTP_TITLES, a table of N_ literals",
    ("jobs/compare.html", "text"): "the values of app.jobs.results.SCORES (N_ literals)",
    ("jobs/results.html", "text"): "the values of results.FILTERS and results.SORTS (N_)",
    ("jobs/results.html", "scores[key]"): "results.SCORES (N_ literals)",
    ("jobs/_metrics_table.html", "scores[r.metric]"): "results.SCORES (N_ literals)",
    ("reviews/item.html", "name"): "the values of app.core.status.REASONS (N_ literals)",
    ("reviews/queue.html", "name"): "the values of app.core.status.REASONS (N_ literals)",
    ("reviews/item.html", "refusal"): "N_ constants of app.reviews.independence",
    ("reviews/item.html", "approve_refusal"): "N_ constants of app.reviews.independence",
    ("macros/forms.html", "errors[name]"): (
        "InvalidInput.errors (N_ literals, checked below) or, on the item forms, pydantic's "
        "own English messages, which name limits and never repeat the submitted text"
    ),
    ("labeling/label.html", "errors['form']"): "a domain error's message or N_ literal",
    ("jobs/_preflight.html", "message"): (
        "the launch form's errors, as macros/forms.html shows them: app.jobs.forms.parse's N_ "
        "literals, or InvalidInput.errors (N_ literals, checked below)"
    ),
    ("labeling/label.html", "errors['kind']"): "N_('Choose a value.')",
    ("labeling/label.html", "errors['difficulty']"): "N_('Choose a value.')",
    ("labeling/label.html", "errors['quality']"): "N_('Choose a value.')",
    ("macros/checks.html", "message"): "constraint verdict templates (N_ in app.core.constraints)",
    ("macros/checks.html", "message.singular"): "the singular form of a verdict's Plural (N_)",
    ("items/_live.html", "msgid"): "app.items.checks: FIELD_LABELS and N_ literals",
    ("items/_live.html", "vd.message"): "app.items.checks._verdict: N_ literals",
    ("datasets/detail.html", "key.capitalize()"): "a literal tuple on the same line",
    ("jobs/results.html", "fell_sentences[f.group_by]"): "app.jobs.groups.FELL_SENTENCES (N_)",
    **{  # app.evaluation.judge_routes: _field_errors' N_ literals, or a domain error's message
        ("evaluation/judge.html", f"errors['{field}']"): "N_ literals or a domain error's message"
        for field in ("form", "rating", "choice", "reasons", "comment")
    },
    ("datasets/_stats.html", "name.capitalize()"): "a literal tuple on the line above",
    ("imports/job.html", "name.capitalize()"): "a literal tuple on the same line",
}


def _python_files():
    for root in SOURCES:
        yield from sorted(root.rglob("*.py"))


def _trees():
    return {path: ast.parse(path.read_text(), str(path)) for path in _python_files()}


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_marked_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and _name(node.func) == "N_"
        and len(node.args) == 1
        and _is_literal(node.args[0])
    )


def _marked_names(trees) -> set[str]:
    """Module-level names bound to an N_ literal or to a dict whose values all are (merges of
    such dicts included, and ``.update`` with one)."""
    marked: set[str] = set()
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for node in tree.body:
                target = value = None
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = _name(node.targets[0]), node.value
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    target, value = _name(node.target), node.value
                if target and target not in marked and _is_marked_value(value, marked):
                    marked.add(target)
                    changed = True
    for tree in trees.values():  # a table updated with anything unmarked is not marked
        for node in tree.body:
            if (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr == "update"
            ):
                table = _name(node.value.func.value)
                if table in marked and not all(
                    _is_marked_value(a, marked) for a in node.value.args
                ):
                    marked.discard(table)
    return marked


def _is_marked_value(node, marked: set[str]) -> bool:
    if _is_marked_call(node):
        return True
    if isinstance(node, ast.Name | ast.Attribute):
        return _name(node) in marked
    if isinstance(node, ast.Dict) and node.values:
        return all(
            _is_marked_value(v, marked) if k is not None else _name(v) in marked
            for k, v in zip(node.keys, node.values, strict=True)
        )
    return False


def _is_marked_argument(node: ast.AST, marked: set[str]) -> bool:
    if _is_literal(node) or _is_marked_call(node):
        return True
    if isinstance(node, ast.Attribute) and node.attr == "message":
        return True  # a DomainError's message: test_domain_errors_are_raised_with_marked_ids
    if isinstance(node, ast.Subscript):
        return _name(node.value) in marked
    if isinstance(node, ast.Name | ast.Attribute):
        return _name(node) in marked
    return False


def _calls(tree):
    """(innermost enclosing function or None, call) for every call in a module."""
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call):
                found.append((function, child))
            visit(child, inner)

    visit(tree, None)
    return found


def _local_marks(function, marked: set[str], before: int) -> set[str]:
    """The names a function binds, above line ``before``, only ever to marked ids
    (``reason = REFUSALS[code]``, ``limit, message = n, FILE_TOO_LARGE``)."""
    if function is None:
        return marked
    bound: dict[str, bool] = {}
    for node in _own_scope(function):
        if getattr(node, "lineno", 0) >= before:
            continue
        pairs = []
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs += zip(target.elts, node.value.elts, strict=False)
                else:
                    pairs.append((target, node.value))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and node.value:
            pairs.append((node.target, node.value))
        elif isinstance(node, ast.For | ast.comprehension | ast.With | ast.arg):
            targets = [node] if isinstance(node, ast.arg) else [getattr(node, "target", None)]
            pairs += [(t, None) for t in targets if t is not None]
        for target, value in pairs:
            for name in ast.walk(target) if not isinstance(target, ast.arg) else [target]:
                key = name.arg if isinstance(name, ast.arg) else getattr(name, "id", None)
                if key:
                    ok = value is not None and _is_marked_argument(value, marked)
                    bound[key] = bound.get(key, True) and ok
    return marked | {name for name, ok in bound.items() if ok}


def _own_scope(function):
    """The nodes of a function, its arguments included, without those of functions and
    classes defined inside it (their names are their own)."""
    nested = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef
    todo = [function.args, *function.body]
    while todo:
        node = todo.pop()
        yield node
        todo += [child for child in ast.iter_child_nodes(node) if not isinstance(child, nested)]


def _python_offenders(trees, marked: set[str]) -> list[str]:
    offenders = []
    for path, tree in trees.items():
        relative = path.relative_to(ROOT).as_posix()
        for function, call in _calls(tree):
            name = _name(call.func)
            where = (relative, function.name if function else "")
            if name not in TRANSLATORS or where in PASS_THROUGH:
                continue
            if name == "N_":
                ok = len(call.args) == 1 and _is_literal(call.args[0])
            else:
                local = _local_marks(function, marked, call.lineno)
                texts = call.args[: MESSAGE_ARGS.get(name, 1)]
                ok = bool(texts) and all(_is_marked_argument(arg, local) for arg in texts)
            if not ok:
                offenders.append(f"{relative}:{call.lineno}: {ast.unparse(call)[:100]}")
    return offenders


def test_python_translates_only_marked_ids():
    trees = _trees()
    assert _python_offenders(trees, _marked_names(trees)) == []


def _domain_errors(trees) -> set[str]:
    errors = {"DomainError"}
    changed = True
    while changed:
        changed = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in errors
                    and any(_name(base) in errors for base in node.bases)
                ):
                    errors.add(node.name)
                    changed = True
    return errors


def test_domain_errors_are_raised_with_marked_ids():
    """Their message reaches ``_()`` in the error page and in forms."""
    trees = _trees()
    marked, errors = _marked_names(trees), _domain_errors(trees)
    offenders = []
    for path, tree in trees.items():
        for function, node in _calls(tree):
            error = _name(node.func)
            if error not in errors or error in OWN_SIGNATURE:
                continue
            where = f"{path.relative_to(ROOT).as_posix()}:{node.lineno}"
            if path.name == "errors.py" and error == "DomainError":
                continue  # super().__init__ inside the classes themselves
            local = _local_marks(function, marked, node.lineno)
            if not node.args or not _is_marked_argument(node.args[0], local):
                offenders.append(f"{where}: {ast.unparse(node)[:100]}")
            for keyword in node.keywords:
                if keyword.arg == "errors" and isinstance(keyword.value, ast.Dict):
                    for value in keyword.value.values:
                        if not _is_marked_argument(value, local):
                            offenders.append(f"{where}: errors value {ast.unparse(value)}")
    assert offenders == []


# A translation call in a template: the function and the text up to its first argument's end.
TEMPLATE_CALL = re.compile(r"(?<![\w.])(_|gettext|ngettext)\(\s*")


def _first_argument(text: str, start: int) -> str:
    """The expression from ``start`` to the first comma or closing parenthesis at its level."""
    depth, quote = 0, ""
    for index in range(start, len(text)):
        char = text[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                return text[start:index].strip()
            depth -= 1
        elif char == "," and depth == 0:
            return text[start:index].strip()
    return text[start:].strip()


def _template_calls():
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text()
        for match in TEMPLATE_CALL.finditer(text):
            argument = _first_argument(text, match.end())
            line = text.count("\n", 0, match.start()) + 1
            yield path.relative_to(TEMPLATES).as_posix(), line, argument


def test_templates_translate_only_literals_or_listed_ids():
    offenders = [
        f"{template}:{line}: _({argument})"
        for template, line, argument in _template_calls()
        if argument[:1] not in ("'", '"') and (template, argument) not in TEMPLATE_ALLOWED
    ]
    assert offenders == [], "show stored codes with label(code, table), not _(value)"


def test_every_listed_template_call_still_exists():
    """An entry whose call is gone would allow the next one written there unexamined."""
    found = {(template, argument) for template, _line, argument in _template_calls()}
    assert set(TEMPLATE_ALLOWED) - found == set()


# The attacks: text that is no message id, stored where a template used to translate it.
HOSTILE = "<img src=x onerror=alert(1)> 100%(x)s %s"  # 38 characters: fits Review.reason


def test_label_shows_unknown_codes_as_written():
    from app.display import label

    with i18n.use_locale("zh"):
        assert label("approved") == "已通过"  # a marked code is translated
        assert label("Exact match") == "Exact match"  # a message id typed as a value is not
        assert label(HOSTILE) == HOSTILE  # and nothing is formatted


@pytest.fixture
def reviewed(db_session, admin_user):
    """A rejected item and one sent back for changes, their reasons then overwritten with a
    value no form accepts, as an older version, an import or a direct write could leave."""
    from app.reviews import service as reviews

    author, reviewer = make_user(db_session), make_user(db_session, role="reviewer")
    project = make_project(db_session, admin_user, name="Hostile reasons")
    join(db_session, project, author, reviewer)
    items = [make_item(db_session, project, author, text=f"Item {i}.") for i in range(2)]
    for item, decision in zip(items, ("reject", "request_changes"), strict=True):
        reviews.decide(
            session=db_session,
            item_id=item.id,
            reviewer=reviewer,
            decision=decision,
            version=item.version,
            reason="duplicate",
        )
    db_session.execute(update(Review).values(reason=HOSTILE[:40]))
    db_session.execute(update(Item).values(reopen_reason=HOSTILE))
    return project, items, author, reviewer


def _shows_as_text(page) -> bool:
    return page.status_code == 200 and "<img src=x" not in page.text and "&lt;img" in page.text


def test_the_stats_page_shows_stored_reasons_as_text(client, reviewed, admin_user):
    project, _items, _author, _reviewer = reviewed
    login(client, admin_user.email)
    assert _shows_as_text(client.get(f"/projects/{project.id}/stats"))


def test_the_review_page_shows_stored_reasons_as_text(client, reviewed, db_session):
    project, items, _author, _reviewer = reviewed
    other_reviewer = make_user(db_session, role="reviewer")
    join(db_session, project, other_reviewer)
    login(client, other_reviewer.email)
    assert _shows_as_text(client.get(f"/items/{items[0].id}/review"))


def test_the_inbox_and_editor_show_stored_reasons_as_text(client, reviewed):
    _project, items, author, _reviewer = reviewed
    login(client, author.email)
    assert _shows_as_text(client.get("/inbox"))
    assert _shows_as_text(client.get(f"/items/{items[1].id}/edit"))
