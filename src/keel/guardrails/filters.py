"""Topic guard and output filters.

- `TopicGuard`: blocks a message far from every allowed topic (cosine similarity of local
  embeddings against a few example phrases per topic).
- `PromptLeak`: blocks an answer that repeats a long enough piece of the system prompt
  (word 8-grams, so a paraphrase of one phrase does not trip it).
- `SecretLeak`: blocks an answer carrying a secret or API key (`keel.guardrails.pii`).
- `OtherCustomersPII`: redacts emails and phone numbers in an answer unless the user gave
  them in this conversation (`allowed(ctx)` returns the values the user may see).
- `Commitments`: blocks unauthorized promises — refunds, discounts, legal guarantees —
  by configurable phrases and patterns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from keel.guardrails.base import Guardrail, Stage, Verdict
from keel.guardrails.pii import find_pii, replace_matches

if TYPE_CHECKING:
    from keel.embeddings import Embedder

__all__ = ["Commitments", "OtherCustomersPII", "PromptLeak", "SecretLeak", "TopicGuard"]

_OUTPUT: frozenset[Stage] = frozenset({"output", "stream"})


class TopicGuard(Guardrail):
    name = "topic"
    threaded = True

    def __init__(
        self,
        topics: Mapping[str, Sequence[str]],
        *,
        min_similarity: float = 0.3,
        embedder: Embedder | None = None,
    ) -> None:
        self.topics, self.min_similarity = topics, min_similarity
        self._embedder = embedder

    @cached_property
    def _examples(self) -> Any:
        phrases = [p for examples in self.topics.values() for p in examples]
        return self.embedder.embed(phrases)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from keel.embeddings import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def inspect(self, text: str) -> Verdict:
        vector = self.embedder.embed([text[:2000]])[0]
        best = float((self._examples @ vector).max())
        if best < self.min_similarity:
            return Verdict.block(f"off topic (closest similarity {best:.2f})", 1.0 - best)
        return Verdict.allow(1.0 - best)


class PromptLeak(Guardrail):
    name = "prompt_leak"
    stages = _OUTPUT

    def __init__(self, system_prompt: str, *, ngram: int = 8) -> None:
        words = _words(system_prompt)
        self.ngram = ngram
        self._grams = {tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1)}

    def inspect(self, text: str) -> Verdict:
        words = _words(text)
        for i in range(len(words) - self.ngram + 1):
            if tuple(words[i : i + self.ngram]) in self._grams:
                return Verdict.block("repeats the system prompt")
        return Verdict.allow()


class SecretLeak(Guardrail):
    name = "secret_leak"
    stages = _OUTPUT

    def inspect(self, text: str) -> Verdict:
        if find_pii(text, kinds={"SECRET"}):
            return Verdict.block("contains a secret or API key")
        return Verdict.allow()


class OtherCustomersPII(Guardrail):
    name = "other_customers_pii"
    stages = _OUTPUT

    def __init__(self, allowed: Callable[[], Iterable[str]] = tuple) -> None:
        self.allowed = allowed

    def inspect(self, text: str) -> Verdict:
        mine = set(self.allowed())
        foreign = [m for m in find_pii(text, kinds={"EMAIL", "PHONE"}) if m.value not in mine]
        if not foreign:
            return Verdict.allow()
        redacted = replace_matches(text, foreign, lambda m: f"[{m.kind}]")
        return Verdict.modify(redacted, f"redacted {len(foreign)} value(s) the user did not give")


DEFAULT_COMMITMENTS = (
    r"\b(?:i|we)(?:'ll| will| can| have)? (?:issue|process|give|send|approve)d? "
    r"(?:you )?(?:a |an )?(?:full |partial )?refund",
    r"\b(?:i|we)(?:'ll| will| can)? (?:give|offer|apply) (?:you )?(?:a |an )?\d+ ?% "
    r"(?:discount|off)",
    r"\bwe guarantee\b|\bguaranteed (?:delivery|refund|approval)\b",
    r"\b(?:you are|you're) entitled to (?:compensation|damages|a refund)",
    r"\blegally (?:binding|obliged|required)\b",
)


class Commitments(Guardrail):
    name = "commitments"
    stages = _OUTPUT

    def __init__(
        self, patterns: Iterable[str] = DEFAULT_COMMITMENTS, *, phrases: Iterable[str] = ()
    ) -> None:
        escaped = [re.escape(p) for p in phrases]
        self._pattern = re.compile("|".join([*patterns, *escaped]), re.IGNORECASE)

    def inspect(self, text: str) -> Verdict:
        if self._pattern.search(text):
            return Verdict.block("makes a commitment the business has not authorized")
        return Verdict.allow()


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())
