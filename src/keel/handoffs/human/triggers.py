"""When to hand a conversation to a person: each trigger a small pure function.

Text triggers (English): an explicit ask for a person, the anger lexicon, shouting in
capitals, repeated rephrasing of the same request, and policy topics (legal threats,
safety, data protection) that a bot should not handle. Signals from the run: the
router's confidence over consecutive turns, a retrieval similarity under a floor, the
model's own uncertainty in a schema field, repeated tool failures. Thresholds live in
`EscalationPolicy`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

__all__ = [
    "DEFAULT_POLICY_TOPICS",
    "EscalationPolicy",
    "Trigger",
    "all_caps",
    "angry",
    "asks_for_person",
    "check_text",
    "model_uncertain",
    "policy_topic",
    "rephrasing",
]

_PERSON = re.compile(
    r"\b(human|real person|representative|operator|live agent|customer service agent)\b"
    r"|\b(speak|talk|chat|connect me|put me through)\b.{0,25}\b(agent|person|someone|manager|"
    r"supervisor|staff)\b",
    re.IGNORECASE,
)
_ANGER = frozenset((
    "ridiculous", "useless", "terrible", "awful", "worst", "angry", "furious",
    "unacceptable", "scam", "disgusting", "pathetic", "incompetent", "outrageous",
    "infuriating", "fed-up", "sick", "wtf", "hate", "rubbish",
))  # fmt: skip
_WORD = re.compile(r"[a-z']+(?:-[a-z]+)?")
DEFAULT_POLICY_TOPICS: Mapping[str, Sequence[str]] = {
    "legal": ("lawyer", "solicitor", "sue", "legal action", "court", "attorney"),
    "safety": ("injured", "injury", "caught fire", "burned", "electric shock", "unsafe"),
    "privacy": ("gdpr", "delete my data", "data breach", "my personal data"),
    "chargeback": ("chargeback", "dispute with my bank", "fraud"),
}


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why a conversation goes to a person: `kind` (machine) and `reason` (for people)."""

    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Thresholds for every trigger; set any count to 0 to switch that trigger off."""

    anger_words: int = 1
    caps_min_letters: int = 12
    caps_share: float = 0.8
    rephrase_similarity: float = 0.6
    rephrase_count: int = 2
    """Earlier user messages this similar to the new one that make it "repeated"."""
    low_confidence_turns: int = 2
    """Consecutive turns the router could not place confidently."""
    retrieval_floor: float = 0.3
    confidence_floor: float = 0.5
    tool_failures: int = 2
    """Consecutive failed tool calls in one run."""
    policy_topics: Mapping[str, Sequence[str]] = field(
        default_factory=lambda: dict(DEFAULT_POLICY_TOPICS)
    )


def asks_for_person(text: str) -> bool:
    return _PERSON.search(text) is not None


def angry(text: str, policy: EscalationPolicy) -> bool:
    words = _WORD.findall(text.lower())
    hits = sum(1 for w in words if w in _ANGER) + ("fed up" in text.lower())
    return policy.anger_words > 0 and hits >= policy.anger_words


def all_caps(text: str, policy: EscalationPolicy) -> bool:
    letters = [c for c in text if c.isalpha()]
    if policy.caps_min_letters <= 0 or len(letters) < policy.caps_min_letters:
        return False
    return sum(c.isupper() for c in letters) / len(letters) >= policy.caps_share


def _similar(a: str, b: str) -> float:
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    jaccard = len(wa & wb) / len(wa | wb) if wa | wb else 0.0
    return max(jaccard, SequenceMatcher(None, a.lower(), b.lower()).ratio())


def rephrasing(text: str, earlier: Sequence[str], policy: EscalationPolicy) -> bool:
    """The customer asked this same thing `rephrase_count` times before."""
    if policy.rephrase_count <= 0:
        return False
    same = [e for e in earlier if _similar(text, e) >= policy.rephrase_similarity]
    return len(same) >= policy.rephrase_count


def policy_topic(text: str, policy: EscalationPolicy) -> str | None:
    lowered = text.lower()
    for topic, phrases in policy.policy_topics.items():
        if any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in phrases):
            return topic
    return None


def check_text(text: str, earlier: Sequence[str], policy: EscalationPolicy) -> Trigger | None:
    """The first text trigger that fires on a customer's message, if any."""
    if asks_for_person(text):
        return Trigger("explicit_request", "the customer asked for a person")
    topic = policy_topic(text, policy)
    if topic is not None:
        return Trigger("policy_topic", f"a {topic} matter, which people handle")
    if angry(text, policy):
        return Trigger("frustration", "the customer sounds angry")
    if all_caps(text, policy):
        return Trigger("frustration", "the customer is writing in capitals")
    if rephrasing(text, earlier, policy):
        return Trigger("frustration", "the customer keeps asking the same thing")
    return None


def model_uncertain(text: str, policy: EscalationPolicy) -> bool:
    """A structured answer whose `confidence` is under the floor or `needs_human` is true."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    fields: dict[str, Any] = data  # pyright: ignore[reportUnknownVariableType]
    if fields.get("needs_human") is True:
        return True
    confidence = fields.get("confidence")
    return isinstance(confidence, int | float) and confidence < policy.confidence_floor
