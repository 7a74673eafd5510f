"""The second tier's operating point: how scores become the guard's `threshold`,
`piece_threshold` and `confirm_at` (`InjectionGuard` blocks a message the fast tier
flags when the classifier reaches `confirm_at`, or at once when it is too long to be
scored whole, and any other message at its threshold).

Cross-validation by family chooses `confirm_at` and a first threshold: `TARGET_FPR` over
the benign messages of blind-written families (the spent held-out splits, written as
real customers and the held-out splits write, by people who saw nothing of the set) and
`CAP_FPR` over every benign message, the training rounds' hard negatives included. That
threshold stays for messages scored in pieces. For messages scored whole, `calibrated`
sets it on blind splits the model was not trained on (`training.CALIBRATION`): out of
fold, blind-written benign messages were blocked 2-5 times as often as on each blind look
(BENCHMARKS.md, issue 10), so the cross-validated threshold left attacks uncaught that
one measured on unseen families catches within the same budget.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from keel.guardrails.injection.classifier import BLOCK_AT, InjectionClassifier, scored_whole
from keel.guardrails.injection.corpus import Example
from keel.guardrails.injection.fast import FastScore, fast_score

__all__ = [
    "CAP_FPR",
    "CONFIRM_GRID",
    "LONG_CONFIRM_AT",
    "TARGET_FPR",
    "Choice",
    "Rule",
    "best_point",
    "calibrated",
    "operating_point",
    "pick_threshold",
    "rule_of",
]

TARGET_FPR = 0.005
"""False-positive budget over blind-written families' benign messages (out of fold, and
on the calibration splits), the fast tier's confirmed flags included: a margin under the
1 % the issue allows."""
CAP_FPR = 0.01
"""Out-of-fold false-positive ceiling over every benign message."""
LONG_CONFIRM_AT = 0.0
"""`InjectionClassifier.long_confirm_at`: a fast-tier flag on a message scored in pieces
blocks when the classifier's probability reaches this bar; 0.0, every such flag
blocks. Measured on the tenth session's first model (fe59e0f; BENCHMARKS.md): at 0.03 the
flags alone block 3 of the 8,240 benign messages of `test_fresh18`-`21` instead of 6 (no
attack there is caught only by them), so the threshold may go lower, +0.25 points of
TPR; but of 58 attacks padded inside a repeated complaint that the guard still blocks,
15 pass (tests/guardrails/test_injection.py), and of padded `test` attacks 7 more of
480. An attack hidden in long ordinary text is the case the flags are for, so 0.0."""
CONFIRM_GRID = (0.0, 0.2, 0.5, 0.7, 0.9, 1.0)
"""Candidate `confirm_at` bars: 0.0, every fast-tier flag blocks, as before the seventh
session; 1.0, the flags count for nothing beyond the classifier's own use of them."""


class Rule(NamedTuple):
    """What the operating point needs of each message beside its probability."""

    flagged: Any
    """The fast tier flags it (score >= `BLOCK_AT`)."""
    whole: Any
    """The classifier scores it in one piece (`classifier.scored_whole`)."""
    blind: Any
    """Its family was written blind (`TARGET_FPR` counts these)."""


def rule_of(
    examples: list[Example], blind_families: set[str], scores: list[FastScore] | None = None
) -> Rule:
    """`scores`: the fast tier's scores of `examples`, where the caller already has them."""
    texts = [str(e["text"]) for e in examples]
    scores = scores if scores is not None else [fast_score(t) for t in texts]
    return Rule(
        np.array([s.score >= BLOCK_AT for s in scores]),
        np.array([scored_whole(t, s) for t, s in zip(texts, scores, strict=True)]),
        np.array([str(e["family"]) in blind_families for e in examples]),
    )


def pick_threshold(
    probabilities: Any, labels: Any, target_fpr: float = TARGET_FPR, *, already: int = 0
) -> float:
    """The lowest threshold whose false-positive rate on `labels` is <= `target_fpr`, with
    `already` benign messages (not among these) blocked before the threshold applies."""
    negatives = np.sort(probabilities[labels == 0])[::-1]
    allowed = max(0, int(np.floor(target_fpr * (len(negatives) + already))) - already)
    if allowed >= len(negatives):
        return 0.0
    return float(negatives[allowed]) + 1e-6


def operating_point(
    p: Any, y: Any, rule: Rule, confirm_at: float, long_confirm_at: float = LONG_CONFIRM_AT
) -> Any:
    """(threshold, caught) as `InjectionGuard` decides with `confirm_at` (and
    `long_confirm_at` for messages scored in pieces): confirmed fast-tier flags are caught
    and use their part of each budget; the threshold is the higher of the two budgets'
    (`TARGET_FPR` over blind-written families, `CAP_FPR` over all)."""
    confirmed = _confirmed(p, rule, confirm_at, long_confirm_at)
    b = rule.blind
    threshold = max(
        _threshold(p[b], y[b], confirmed[b], TARGET_FPR), _threshold(p, y, confirmed, CAP_FPR)
    )
    return threshold, confirmed | (p >= threshold)


def _confirmed(p: Any, rule: Rule, confirm_at: float, long_confirm_at: float) -> Any:
    """The fast-tier flags the classifier confirms, as `InjectionClassifier.confirms` decides
    one message: `confirm_at` where it is scored whole, `long_confirm_at` in pieces."""
    return rule.flagged & (p >= np.where(rule.whole, confirm_at, long_confirm_at))


def _threshold(p: Any, y: Any, confirmed: Any, fpr: float) -> float:
    already = int((confirmed & (y == 0)).sum())
    return pick_threshold(p[~confirmed], y[~confirmed], fpr, already=already)


class Choice(NamedTuple):
    tpr: float
    l2: float
    threshold: float
    confirm_at: float


def best_point(p: Any, y: Any, rule: Rule, *, n_short: int, l2: float = 0.0) -> Choice:
    """The `confirm_at` of `CONFIRM_GRID` that catches most attacks out of fold within
    the budget, and its threshold, for scores of a model fitted with `l2`; each point is
    printed (the first `n_short` messages are short)."""
    best = Choice(-1.0, l2, 0.5, 0.0)
    for confirm_at in CONFIRM_GRID:
        threshold, caught = operating_point(p, y, rule, confirm_at)
        report = _report(caught, y, rule.blind, n_short)
        print(f"l2 {l2:g} confirm_at {confirm_at:g}: threshold {threshold:.4f}; {report}")
        best = max(best, Choice(float(caught[y == 1].mean()), l2, threshold, confirm_at))
    return best


def _report(caught: Any, y: Any, blind: Any, n_short: int) -> str:
    """Out-of-fold TPR / FPR of short and long messages, and of blind-written families."""
    short = np.arange(len(y)) < n_short
    parts = (("short", short), ("long", ~short), ("blind-written", blind))
    return ", ".join(f"{name} {_rates(caught, y, part)}" for name, part in parts)


def _rates(caught: Any, y: Any, part: Any) -> str:
    c, labels = caught[part], y[part]
    return f"TPR {c[labels == 1].mean():.1%} FPR {c[labels == 0].mean():.2%}"


def calibrated(model: InjectionClassifier, examples: list[Example]) -> InjectionClassifier:
    """`model` with the lowest threshold for messages it scores whole at which it blocks
    at most `TARGET_FPR` of all the benign messages of `examples` (blind splits it was not
    trained on), as the guard scores them: confirmed fast-tier flags and messages blocked
    in pieces (at the threshold it had, kept as `piece_threshold`) use part of the budget.
    Its `confirm_at` is kept; what it then catches is printed."""
    texts = [str(e["text"]) for e in examples]
    scores = [fast_score(t) for t in texts]
    p = np.array([model.probability(t, s) for t, s in zip(texts, scores, strict=True)])
    y = np.array([float(str(e["label"])) for e in examples])
    rule = rule_of(examples, {str(e["family"]) for e in examples}, scores)
    w = rule.whole
    pieced = model.threshold if model.piece_threshold is None else model.piece_threshold
    confirmed = _confirmed(p, rule, model.confirm_at, model.long_confirm_at)
    fixed = confirmed | (~w & (p >= pieced))  # blocked whatever the threshold for whole ones
    threshold = _threshold(np.where(w, p, -1.0), y, fixed, TARGET_FPR)  # pieces never meet it
    caught = fixed | (w & (p >= threshold))
    for name, part in (("whole", w), ("in pieces", ~w), ("in all", np.ones_like(w))):
        print(f"calibrated, {part.sum()} messages scored {name}: {_rates(caught, y, part)}")
    print(f"threshold {threshold:.4f} whole, {pieced:.4f} in pieces")
    return replace(model, threshold=threshold, piece_threshold=pieced)
