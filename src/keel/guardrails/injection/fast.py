"""The fast tier: weighted patterns over every reading of the text (see `normalize`).

Each signal that fires adds its weight as an independent piece of evidence
(`score = 1 - Π(1 - w)`); a signal found only in a decoded or de-obfuscated reading adds
the `obfuscated` signal too, since hiding words is itself a sign. With google-re2
installed, one RE2 pass over a reading says which signal patterns match at all
(`patterns.PatternSet`), and only the strongest is searched again, for the window's
place; without it each signal's few trigger substrings are checked first with `in` (a
memchr-speed scan) and its `re` pattern runs only where one of its words is present.
Either way a signal fires only where a trigger is present too, so both engines give the
same scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from keel.guardrails.injection.normalize import squash, views_spaced
from keel.guardrails.injection.patterns import Finder, PatternSet, compile_pattern
from keel.guardrails.injection.shapes import SHAPES

__all__ = ["SIGNALS", "FastScore", "FastScorer", "fast_score"]

_ANY = r"[^.!?\n]{0,40}?"
_OVERRIDE_VERB = (
    r"(?:ignore|ignoring|disregard|forget|skip|bypass|override|overrule|drop|abandon|neglect"
    r"|set aside|throw out|discard|delete|erase|clear)"
)
_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|all|any|your|the|initial|original|system"
    r"|developer|existing|current|old|every|those|these|safety)"
)
_RULES = (
    r"(?:instructions?|prompts?|rules|directions|guidelines|guidance|constraints|polic(?:y|ies)"
    r"|programming|directives?|orders|restrictions|training|commands?)"
)
_SECRET_PROMPT = (
    r"(?:system prompt|system message|initial prompt|original prompt|hidden (?:prompt|instructions?"
    r"|rules)|developer (?:message|prompt)|pre-?prompt|secret instructions?"
    r"|internal (?:rules|notes|instructions)|the (?:system|hidden|initial|original) (?:instructions"
    r"|rules|prompt))"
)
_REVEAL = (
    r"(?:reveal|show|print|output|repeat|display|tell|give|share|leak|dump|spell out|recite"
    r"|write out|paste|expose|what (?:is|are|was|were))"
)

_TABLE: tuple[tuple[str, float, tuple[str, ...], str], ...] = (
    (
        "override",
        0.9,
        (
            "ignor",
            "disregard",
            "forget",
            "skip",
            "bypass",
            "overr",
            "drop",
            "abandon",
            "neglect",
            "aside",
            "throw",
            "discard",
            "delete",
            "erase",
            "clear",
        ),
        rf"\b{_OVERRIDE_VERB}\b{_ANY}\b{_PRIOR}\b{_ANY}\b{_RULES}\b",
    ),
    (
        "extract_prompt",
        0.85,
        ("prompt", "system", "hidden", "developer", "secret instruction", "internal"),
        rf"\b{_REVEAL}{_ANY}{_SECRET_PROMPT}",
    ),
    (
        "extract_rules",
        0.5,
        ("your ",),
        rf"\b{_REVEAL}\b[^.!?\n]{{0,25}}\byour (?:instructions|rules|guidelines|configuration"
        r"|directives|programming|initial message)",
    ),
    (
        "persona",
        0.85,
        ("you are", "from now", "mode", "anything now", "jail", "act as"),
        r"\byou are (?:now|no longer) (?:an? |in |free|unrestricted|unfiltered|dan\b)"
        r"|\bfrom now on,? you (?:are|will|must|act|answer|respond|have)\b|\bfrom now on,? act"
        r"|\b(?:enable|enter|activate|switch to|in) (?:developer|dan|god|jailbreak) mode\b"
        r"|\bdo anything now\b|\bjail ?bre?a?k(?:en)?\b"
        r"|\bact as (?:an? )?(?:unrestricted|unfiltered|jailbroken|evil|uncensored|different)",
    ),
    (
        "persona_weak",
        0.35,
        ("you are now", "developer mode", "no longer"),
        r"\byou are (?:now|no longer)\b|\bdeveloper mode\b",
    ),
    (
        "role_marker",
        0.8,
        (
            "<|",
            "inst]",
            "<<sys",
            "system",
            "assistant",
            "developer",
            "###",
            "</",
            "<sys",
            "<inst",
            "<admin",
            "begin",
        ),
        r"<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?inst\]|<</?sys>>"
        r"|(?:^|\n)\s*(?:system|assistant|developer)\s*:|###\s*(?:system|instruction)"
        r"|</?(?:system|instructions?|admin)>|\bbegin (?:system|admin) (?:prompt|message)",
    ),
    (
        "new_rules",
        0.7,
        ("new ", "updated ", "real ", "actual ", "revised ", "secret "),
        rf"\b(?:new|updated|real|actual|revised|secret) {_RULES}\s*:",
    ),
    (
        "no_limits",
        0.6,
        (
            "restriction",
            "filter",
            "guardrail",
            "safety",
            "censor",
            "limitation",
            "polic",
            "moderation",
        ),
        r"\b(?:without|no|ignore|ignoring|remove|disable|disabled|bypass|turn off|lift)\b"
        r"[^.\n]{0,25}\b(?:restrictions|filters?|guardrails?|safety (?:rules|guidelines|checks)"
        r"|censorship|limitations|content polic(?:y|ies)|moderation)\b",
    ),
    (
        "override_foreign",
        0.9,
        ("anweisung", "instructions", "instrucc", "istruzion", "instructie"),
        r"\bignorier\w*\b[^.\n]{0,30}\banweisungen|\bignore[rz]?\b[^.\n]{0,30}\binstructions"
        r" (?:precedentes|anterieures)|\bignora\w*\b[^.\n]{0,30}\binstrucciones"
        r"|\bignora\w*\b[^.\n]{0,30}\bistruzioni|\bnegeer\b[^.\n]{0,30}\binstructies",
    ),
    (
        "authority",
        0.45,
        (
            "admin",
            "developer",
            "system",
            "operator",
            "creator",
            "owner",
            "supervisor",
            "security team",
            "sudo",
            "mode",
            "override",
        ),
        r"\b(?:i am|i'm|this is|speaking as) (?:the|your|an?) (?:admin|administrator|developer"
        r"|system|operator|creator|owner|supervisor|security team)\b|\bsudo\b"
        r"|\b(?:admin|maintenance|god|debug) (?:override|mode)\b|\boverride code\b",
    ),
    (
        "pretend",
        0.45,
        ("pretend", "role", "imagine", "hypothetical"),
        r"\bpretend (?:to be|you are|that you)\b|\brole-?play as\b"
        r"|\bimagine (?:you are|you have no|there are no)\b|\bhypothetically,? if you had no\b",
    ),
    (
        "exfiltrate",
        0.55,
        ("customer", "user", "client", "account"),
        r"\b(?:all|every|other|another) (?:customers?|users?|clients?|accounts?)(?:'s?)?"
        r" (?:emails?|data|records|addresses|passwords|details|orders|phone numbers|cards?)\b"
        r"|\b(?:list|dump|export|send me) (?:all|every) (?:customers?|users?|accounts?)\b",
    ),
    (
        "to_the_ai",
        0.6,
        ("ai ", "ai,", "ai:", "ai.", "assistant", "llm", "model", "bot", "when you"),
        r"\b(?:note|message|instruction) (?:to|for) (?:the )?"
        r"(?:ai|assistant|llm|model|chatbot|bot)\b"
        r"|\b(?:ai|assistant|llm|chatbot),? (?:please )?(?:ignore|disregard|forward|send|email"
        r"|reply only|you must)\b|\bwhen you (?:read|summari[sz]e|process) this\b",
    ),
    (
        "say_exactly",
        0.25,
        ("exactly", "only", "pwned"),
        r"\b(?:say|respond|reply|answer|output) (?:exactly|only|with only)\b",
    ),
    ("pwned", 0.6, ("pwned", "access granted"), r"\bpwned\b|\baccess granted\b"),
    (
        "forget_all",
        0.6,
        ("forget",),
        r"\bforget (?:everything|all (?:of )?(?:that|this|the above)|what you were told)\b",
    ),
    (
        "tool_abuse",
        0.3,
        ("tool", "function", "api"),
        r"\b(?:call|run|execute|invoke|trigger) (?:the |every )?(?:tool|function|api)\b",
    ),
    (
        "weak_cues",
        0.05,
        (
            "your",
            "admin",
            "all ",
            "every",
            "hidden",
            "secret",
            "function",
            "tool",
            "password",
            "database",
            "internal",
            "verbatim",
            "word for word",
            "authoriz",
            "ai ",
            "model",
        ),
        r"\b(?:your (?:rules|instructions|guidelines|task|real|prompt|configuration)|admin\w*"
        r"|(?:all|every) (?:users|customers|orders|accounts|records)|hidden|secret|function"
        r"|tools?|passwords?|database|internal|verbatim|word for word|authori[sz]\w*"
        r"|language model|chatbot|ai)\b",
    ),
    (
        "cue_words",
        0.15,
        ("prompt", "instructions", "your rules", "programming"),
        r"\b(?:system prompt|instructions|prompt injection|your rules|your programming)\b",
    ),
)

Signal = tuple[str, float, tuple[str, ...], Finder]


_ALL = (*_TABLE, *SHAPES)


def _signals(engine: str) -> tuple[Signal, ...]:
    return tuple((n, w, t, compile_pattern(p, engine=engine)) for n, w, t, p in _ALL)


SIGNALS: tuple[Signal, ...] = _signals("auto")

# Squashed phrases, for text whose letters were spaced out ("i g n o r e  a l l …").
_SQUASHED = compile_pattern(
    r"(?:ignore|disregard|forget|bypass|override)[a-z]{0,25}(?:instructions|rules|prompt"
    r"|guidelines)|systemprompt|developermode|jailbreak|youarenow|revealyour"
)


@dataclass(frozen=True, slots=True)
class FastScore:
    score: float
    signals: tuple[str, ...]
    window: str
    """The folded text around the strongest signal, 160 characters by default: the part
    of a long message to show a person reviewing a decision. (The second tier used to
    embed it; it now reads every reading whole, `readings`.)"""
    readings: tuple[str, ...] = ()
    """Every reading of the text (`normalize.views`), for the second tier's n-grams."""


class FastScorer:
    """The fast tier on one regex engine (`patterns`): RE2 where installed, or `re`."""

    def __init__(self, *, engine: str = "auto") -> None:
        self.signals = SIGNALS if engine == "auto" else _signals(engine)
        self._set = PatternSet([p for _, _, _, p in _ALL], engine=engine)

    def __call__(self, text: str, *, window_chars: int = 160) -> FastScore:
        readings, spaced = views_spaced(text)
        fired: dict[str, float] = {}
        best = _Best(0.0, 0, 0, None)
        for i, reading in enumerate(readings):
            candidates, exact = self._candidates(reading)
            for index in candidates:
                name, weight, triggers, pattern = self.signals[index]
                if (name in fired and i > 0) or not any(t in reading for t in triggers):
                    continue
                span = None
                if not exact:  # `re`: search to know; RE2's set pass already knows
                    if (match := pattern.search(reading)) is None:
                        continue
                    span = match.span()
                fired.setdefault(name, weight)
                if i > 0 and weight >= 0.3:  # a real sign, found only in a decoded reading
                    fired.setdefault("obfuscated", 0.3)
                if max(weight, 0.001) > best.weight:  # a shape cue places it if nothing else
                    best = _Best(max(weight, 0.001), i, index, span)
        if spaced and _SQUASHED.search(squash(readings[0])):
            fired.setdefault("spaced_out", 0.85)
            fired.setdefault("obfuscated", 0.3)
        window = self._window(readings, best, window_chars)
        return FastScore(_combine(fired.values()), tuple(fired), window, tuple(readings))

    def _candidates(self, reading: str) -> tuple[Sequence[int], bool]:
        """The signals (indices) whose pattern may match, and whether they surely do: those
        RE2's one pass found, else all (each behind its substring triggers, so `re` runs
        only where a word is present)."""
        found = self._set.matching(reading)
        if found is None:
            return range(len(self.signals)), False
        return found, True

    def _window(self, readings: list[str], best: _Best, size: int) -> str:
        """The reading where the strongest signal fired, cut to `size` around its first
        match. Only this one signal is ever searched for its place, and only when the
        reading is longer than the window: with RE2 each search costs a pass and the
        wrapper's offset bookkeeping (~10 µs), and the set pass already said what fired."""
        text = readings[best.reading]
        if len(text) <= size:
            return text
        if best.weight == 0.0:  # no signal, no shape cue: the start and the end
            return text[: size // 2] + " " + text[-size // 2 :]
        span = best.span
        if span is None:
            match = self.signals[best.signal][3].search(text)
            span = match.span() if match is not None else (0, 0)
        begin = max(0, min((span[0] + span[1]) // 2 - size // 2, len(text) - size))
        return text[begin : begin + size]


class _Best(NamedTuple):
    """The strongest signal so far: its weight (a shape cue counts 0.001), the reading
    it fired in, and its place there where already known (`re`), else found at the end."""

    weight: float
    reading: int
    signal: int
    span: tuple[int, int] | None


_DEFAULT = FastScorer()


def fast_score(text: str, *, window_chars: int = 160) -> FastScore:
    """The fast tier's score of `text`, with the window the second tier reads."""
    return _DEFAULT(text, window_chars=window_chars)


def _combine(weights: Iterable[float]) -> float:
    keep = 1.0
    for w in weights:
        keep *= 1.0 - w
    return round(1.0 - keep, 4)
