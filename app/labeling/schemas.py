"""JSON shapes for inter-annotator agreement, as the agreement page reports it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.core.agreement import AlphaResult, PairKappa
from app.labeling.service import FieldAgreement


class PairOut(BaseModel):
    """Cohen's kappa for two annotators on the items both labeled."""

    annotator_a: str
    annotator_b: str
    kappa: float | None
    observed: float | None = Field(description="Share of agreement seen (weighted if ordinal).")
    expected: float | None = Field(description="Share expected by chance from the marginals.")
    n: int = Field(description="Items both labeled.")
    only_a: int
    only_b: int
    reason: str | None = Field(description="Why kappa is null.")

    @classmethod
    def of(cls, pair: PairKappa) -> PairOut:
        result = pair.result
        return cls(
            annotator_a=str(pair.annotator_a),
            annotator_b=str(pair.annotator_b),
            kappa=result.kappa,
            observed=result.observed,
            expected=result.expected,
            n=result.n,
            only_a=pair.only_a,
            only_b=pair.only_b,
            reason=result.reason,
        )


class AlphaOut(BaseModel):
    """Krippendorff's alpha over every label of the field."""

    alpha: float | None
    observed_disagreement: float | None
    expected_disagreement: float | None
    n_pairable: int = Field(description="Values in items with at least two labels.")
    n_units: int
    reason: str | None = Field(description="Why alpha is null.")

    @classmethod
    def of(cls, alpha: AlphaResult) -> AlphaOut:
        return cls(
            alpha=alpha.alpha,
            observed_disagreement=alpha.observed_disagreement,
            expected_disagreement=alpha.expected_disagreement,
            n_pairable=alpha.n_pairable,
            n_units=alpha.n_units,
            reason=alpha.reason,
        )


class FieldAgreementOut(BaseModel):
    field: str = Field(description="kind, domain, difficulty, quality, or flag:<name>.")
    level: str = Field(description="nominal or ordinal (quadratic weights for kappa).")
    alpha: AlphaOut
    pairs: list[PairOut]

    @classmethod
    def of(cls, row: FieldAgreement) -> FieldAgreementOut:
        return cls(
            field=row.field,
            level=row.level,
            alpha=AlphaOut.of(row.alpha),
            pairs=[PairOut.of(p) for p in row.pairs],
        )


class AgreementOut(BaseModel):
    labels: int
    annotators: int
    items: int = Field(description="Items with at least one label.")
    fields: list[FieldAgreementOut]
