"""Labels for values stored as codes (roles, scopes), marked for translation."""

from app.i18n import N_

ROLE_LABELS = {"annotator": N_("annotator"), "reviewer": N_("reviewer"), "admin": N_("admin")}
SCOPE_LABELS = {"worker": N_("worker"), "user": N_("user")}
