"""Labels for values stored as codes (roles, scopes), marked for translation."""

from collections.abc import Mapping

from app.i18n import N_, gettext

ROLE_LABELS = {
    "annotator": N_("annotator"),
    "reviewer": N_("reviewer"),
    "manager": N_("manager"),
    "admin": N_("admin"),
}
SCOPE_LABELS = {"worker": N_("worker"), "user": N_("user")}
STATUS_LABELS = {
    "draft": N_("draft"),
    "submitted": N_("submitted"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "changes_requested": N_("changes requested"),
}
KIND_LABELS = {
    "task": N_("task"),
    "constraint": N_("constraint"),
    "example": N_("example"),
    "conversation": N_("conversation"),
    "preference": N_("preference pair"),
}
ORIGIN_LABELS = {
    "written": N_("written"),
    "imported": N_("imported"),
    "demo": N_("demo"),
    # A pair from an evaluation round's agreed verdict, and one a person improved on.
    "judged": N_("judged"),
    "improved": N_("improved"),
    # A draft made from another item by a rule or a model, and an instruction a model proposed.
    "augmented": N_("augmented"),
    "generated": N_("generated"),
}
# How an augmented draft was made (rule-based EDA operations and model-based rewrites).
METHOD_LABELS = {
    "synonym_replacement": N_("synonym replacement"),
    "random_insertion": N_("random insertion"),
    "random_swap": N_("random swap"),
    "random_deletion": N_("random deletion"),
    "paraphrase": N_("paraphrase"),
    "back_translate": N_("back-translation"),
}
FLAG_LABELS = {
    "unsafe": N_("unsafe"),
    "factually_wrong": N_("factually wrong"),
    "unclear": N_("unclear"),
}
DECISION_LABELS = {
    "approve": N_("approve"),
    "reject": N_("reject"),
    "request_changes": N_("request changes"),
}
# Why a judge preferred one output (app.evaluation.judging); a judged pair keeps them.
JUDGE_REASONS = {
    "wrong": N_("Wrong"),
    "incomplete": N_("Incomplete"),
    "unhelpful": N_("Unhelpful"),
    "unsafe": N_("Unsafe"),
    "breaks_constraint": N_("Breaks a constraint"),
    "wrong_language": N_("Wrong language"),
}
ROLE_NAMES = {"system": N_("system"), "user": N_("user"), "assistant": N_("assistant")}
ALL_LABELS = {
    **ROLE_LABELS,
    **SCOPE_LABELS,
    **STATUS_LABELS,
    **KIND_LABELS,
    **ORIGIN_LABELS,
    **FLAG_LABELS,
    **ROLE_NAMES,
    **DECISION_LABELS,
}
STATE_LABELS = {
    "uploaded": N_("uploaded"),
    "running": N_("running"),
    "done": N_("done"),
    "failed": N_("failed"),
    "queued": N_("queued"),
    "validating": N_("validating"),
    "importing": N_("importing"),
    "indexing": N_("indexing for search and near-duplicates"),
    "checking": N_("checking rows"),
    "starting": N_("starting"),
    "requeued": N_("waiting to resume"),
    "selecting": N_("selecting items"),
    "pinning": N_("pinning revisions"),
    "contamination": N_("checking for contamination"),
    "statistics": N_("computing statistics"),
    "submitting": N_("submitting items"),
    "augmenting": N_("augmenting items"),
    "tagging": N_("tagging items"),
    "deleting": N_("deleting drafts"),
    "making pairs": N_("making preference pairs"),
    "cancelled": N_("cancelled"),
    "train": N_("train"),
    "eval": N_("eval"),
}
CLEANING_LABELS = {
    "strip_html": N_("Strip HTML tags"),
    "control_chars": N_("Remove control characters"),
    "nfc": N_("Unicode NFC"),
    "collapse_spaces": N_("Collapse runs of spaces"),
    "trim": N_("Trim"),
}
TASK_LABELS = {
    "import": N_("Import a file"),
    "freeze": N_("Freeze a dataset version"),
    "items.bulk": N_("Bulk action on matching items"),
    "pairs.from_round": N_("Make preference pairs"),
    "items.augment": N_("Rule-based augmentation"),
}
JOB_LABELS = {
    "succeeded": N_("succeeded"),
    "lora": N_("LoRA"),
    "full": N_("full fine-tune"),
    "easy": N_("easy"),
    "ambiguous": N_("ambiguous"),
    "hard": N_("hard"),
}
ALL_LABELS.update(STATE_LABELS)
ALL_LABELS.update(CLEANING_LABELS)
ALL_LABELS.update(JOB_LABELS)
ALL_LABELS.update(TASK_LABELS)
ALL_LABELS.update(METHOD_LABELS)


def label(code: object, table: Mapping[str, str] = ALL_LABELS) -> str:
    """The reader's word for a stored code: the translation of its label in ``table`` (a
    table of ``N_`` literals), or the code as stored. A value that is not in the table is
    never looked up in the catalog: a user's text is no message id, nor a format string."""
    if not code:
        return ""
    message = table.get(code) if isinstance(code, str) else None
    return gettext(message) if message is not None else str(code)
