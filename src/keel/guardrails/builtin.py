"""Built-in guardrails that are not their own module, and the default input set that
`keel guard check` runs when no app is given."""

from __future__ import annotations

from keel.guardrails.base import Guardrail, Verdict
from keel.guardrails.pii import PiiKind, find_pii, scrub

__all__ = ["PiiRedaction", "default_input_guardrails"]


class PiiRedaction(Guardrail):
    """Replace PII with typed placeholders (`[EMAIL]`); irreversible (see `RedactPII`
    for the reversible, vault-backed form)."""

    name = "pii"

    def __init__(self, *, kinds: frozenset[PiiKind] | None = None) -> None:
        self.kinds = kinds

    def inspect(self, text: str) -> Verdict:
        matches = find_pii(text, kinds=self.kinds)
        if not matches:
            return Verdict.allow()
        kinds = sorted({m.kind for m in matches})
        return Verdict.modify(scrub(text, kinds=self.kinds), f"redacted {', '.join(kinds)}")


def default_input_guardrails() -> list[Guardrail]:
    from keel.guardrails.injection import InjectionGuard

    return [PiiRedaction(), InjectionGuard()]
