"""Handing a conversation to a person: triggers, the queue, the middleware."""

from keel.handoffs.human.middleware import RETRIEVAL_SCORE_KEY, HumanHandoff
from keel.handoffs.human.store import (
    HandoffConflictError,
    HandoffError,
    HandoffItem,
    HandoffNotFoundError,
    HumanQueue,
)
from keel.handoffs.human.triggers import EscalationPolicy, Trigger

__all__ = [
    "RETRIEVAL_SCORE_KEY",
    "EscalationPolicy",
    "HandoffConflictError",
    "HandoffError",
    "HandoffItem",
    "HandoffNotFoundError",
    "HumanHandoff",
    "HumanQueue",
    "Trigger",
]
