"""How an item was made: written (in the editor or through the API), imported (from which file,
at which line), loaded with the demo, judged (a preference pair from an evaluation round's
agreed verdict) or improved (a pair whose rejected response is a model's output and whose chosen
one a person wrote), augmented (a draft made from another item by a rule or a model) or
generated (an instruction a model proposed). An output the model drafted onto an item of any
origin is marked on the item itself (``drafted_job_id``), not here.

The origin is a column of its own, so lists and version filters can select by it; the details
are a small JSON object beside it. Who wrote an item is its author, not part of this record.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class Origin(StrEnum):
    written = "written"
    imported = "imported"
    demo = "demo"
    judged = "judged"
    improved = "improved"
    # A draft written from another item by a rule (EDA) or by a model (paraphrase,
    # back-translation): the source item and the method.
    augmented = "augmented"
    # An instruction a model proposed in a Self-Instruct round: the job and the round.
    generated = "generated"


class Provenance(BaseModel):
    """An item's origin and what is known of it; the fields that do not apply are None."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origin: Origin = Origin.written
    import_id: int | None = None
    file: str | None = None
    line: int | None = None
    # The demo's stable name for the item.
    key: str | None = None
    # Judged and improved pairs: the evaluation round and its prompt they came from, the job
    # whose output they hold, the item whose prompt they share and the system ("12:tuned").
    round_id: int | None = None
    round_prompt_id: int | None = None
    job_id: int | None = None
    item_id: int | None = None
    system: str | None = None
    # Judged pairs: the judges' reason tags (each once, in order of frequency) and their votes.
    reasons: list[str] | None = None
    votes: str | None = None
    # Augmented drafts: how they were made ('synonyms', 'paraphrase', ...) and the seed of a
    # rule; generated drafts: the Self-Instruct round. Either may name the item it is a
    # near-duplicate of (its source, or anything in the project), for reviewers to see.
    method: str | None = None
    seed: int | None = None
    round: int | None = None
    near_duplicate_of: int | None = None
    # Augmented drafts: the constraints (ids) the kept or new output fails when re-checked.
    failed_checks: list[str] | None = None

    def details(self) -> dict[str, Any]:
        """What the item's ``provenance`` column holds: the known details, without the origin."""
        return self.model_dump(mode="json", exclude={"origin"}, exclude_none=True)

    @classmethod
    def of(cls, origin: str, details: dict[str, Any] | None) -> Provenance:
        """An item's provenance from its two columns."""
        return cls(origin=Origin(origin), **(details or {}))


def imported(import_id: int, file: str, line: int) -> dict[str, Any]:
    """The details of one imported row, as the import writes them for each item."""
    return {"import_id": import_id, "file": file, "line": line}
