"""Shape cues: zero-weight signals that describe how a message is built, for the second tier.

Why: the fast tier's phrases name known tactics; a tactic nobody wrote down still has a
shape — a directive to the assistant, a target to override (rules, checks, limits), a
claim of authority, markup or a fake turn, an unlock, an urgent "now". These cues add
nothing to the fast tier's score (weight 0, so its decisions do not change); they are
features the classifier weighs, and where no weighted signal fired they choose the
window the second tier reads. Chosen by cross-validation over families of train +
validation (PROVENANCE.md), hand-written for Keel.
"""

from __future__ import annotations

__all__ = ["SHAPES"]

SHAPES: tuple[tuple[str, float, tuple[str, ...], str], ...] = (
    (
        "shape_directive",
        0.0,
        ("you ",),
        r"\byou (?:must|will now|should now|are (?:now )?(?:required|allowed|permitted"
        r"|authori[sz]ed|free)|may now|can now|have to|are to)\b",
    ),
    (
        "shape_override_target",
        0.0,
        (
            "ignor",
            "skip",
            "suspend",
            "disabl",
            "drop",
            "waive",
            "lift",
            "remov",
            "bypass",
            "aside",
            "forget",
            "overr",
            " off",
            "turn",
            "relax",
            "break",
            "pause",
            "no longer",
        ),
        r"\b(?:ignor\w*|skip\w*|suspend\w*|disabl\w*|drop\w*|waiv\w*|lift\w*|remov\w*"
        r"|bypass\w*|set aside|forget\w*|overrid\w*|turn\w* off|relax\w*|break\w*|paus\w*"
        r"|no longer)\b[^.!?\n]{0,40}\b(?:rules?|instructions?|polic(?:y|ies)|restrictions?"
        r"|limits?|guidelines?|protocols?|procedures?|checks?|filters?|safety|guardrails?"
        r"|constraints?|setup|configuration|verification|approval)\b",
    ),
    (
        "shape_authority",
        0.0,
        (
            "ceo",
            "owner",
            "manager",
            "supervisor",
            "lawyer",
            "attorney",
            "court",
            "regulat",
            "auditor",
            "engineer",
            "qa ",
            "operator",
            "admin",
            "platform",
            "operations",
            "compliance",
            "head of",
            "team",
        ),
        r"\b(?:ceo|owner|manager|supervisor|lawyer|attorney|court|regulator|auditor"
        r"|engineer(?:ing)?|qa|operator|admin\w*|platform|operations|compliance|head of"
        r"|\w+ team)\b",
    ),
    (
        "shape_markup",
        0.0,
        ("<", "```", '{"', "[", "=", "--", "/*"),
        r"<!--|```|<[a-z_]+[ >/]|</[a-z_]+>|\{\"[a-z_]+\":|\[/?[a-z_ ]+\]|\b[a-z_]+\s*=\s*\S"
        r"|--[a-z][a-z_-]+|/\*",
    ),
    (
        "shape_to_agent",
        0.0,
        ("assistant", "ai", "agent", "bot", "llm", "model"),
        r"\b(?:assistant|ai|agent|bot|chatbot|llm|language model|model)s?\b[^.!?\n]{0,30}"
        r"\b(?:must|should|please|now|will|are to|need to)\b",
    ),
    (
        "shape_now",
        0.0,
        ("now", "effective", "immediately"),
        r"\b(?:from now on|effective (?:now|immediately)|immediately|right now|as of now"
        r"|starting now)\b",
    ),
    (
        "shape_unlock",
        0.0,
        (
            "unlock",
            "unrestrict",
            "no limit",
            "without",
            "approved",
            "enabled",
            "activated",
            "granted",
            "suspended",
            "disabled",
            "deprecated",
            "exception",
        ),
        r"\b(?:unlock(?:ed)?|unrestricted|no limits|without (?:any )?(?:checks|limits"
        r"|restrictions|approval)|pre-?approved|enabled|activated|granted|suspended|disabled"
        r"|deprecated|make an exception)\b",
    ),
    (
        "shape_reveal",
        0.0,
        ("your ", "you were", "you received", "before"),
        r"\b(?:your (?:setup|initiali[sz]ation|configuration|config|setup text|first instruction"
        r"|original|starting)|you were (?:told|given|initiali[sz]ed)|before (?:my|i) )",
    ),
    (
        "shape_non_latin",
        0.0,
        ("",),  # no substring stands for a script: the pattern itself always runs
        "[\u0400-\u04ff\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]",
    ),
)
