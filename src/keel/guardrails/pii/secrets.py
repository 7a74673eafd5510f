"""Secret and API-key patterns: Keel's own list, plus the token patterns of the
`detect-secrets` plugins when that package is installed (the `security` extra).

Only detect-secrets' *fixed-format* detectors are borrowed — their regexes work on one
string without a file around them. Its entropy and keyword plugins need file context and
would flag ordinary customer text, so Keel's own keyword rule below stands in for them.
"""

from __future__ import annotations

import re
from functools import cache

__all__ = ["SECRET_PATTERNS"]

_OWN: tuple[tuple[str, int | str], ...] = (
    (r"\b(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}\b", 0),  # AWS access key id
    (r"\bgh[pousr]_[A-Za-z0-9_]{30,}", 0),  # GitHub
    (r"\bgithub_pat_[A-Za-z0-9_]{22,}", 0),
    (r"\bgl(?:pat|dt|ft|soat|rt)-[A-Za-z0-9_\-]{20,50}", 0),  # GitLab
    (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", 0),  # Slack
    (r"\b[rsp]k_(?:live|test)_[A-Za-z0-9]{16,}", 0),  # Stripe
    (r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}", 0),  # OpenAI, Anthropic
    (r"\bAIza[0-9A-Za-z_\-]{35}", 0),  # Google API key
    (r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}", 0),  # SendGrid
    (r"\bnpm_[A-Za-z0-9]{36}", 0),
    (r"\bpypi-[A-Za-z0-9_\-]{50,}", 0),
    (r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{10,}", 0),  # JWT
    (r"://[^:/?#\[\]@\s]{1,64}:(?P<pw>[^:/?#\[\]@\s]{1,128})@", "pw"),  # basic auth in a URL
    (
        r"(?i)\b(?:password|passwd|pwd|passcode|secret|api[_\- ]?key|access[_\- ]?key"
        r"|auth[_\- ]?token|token|client[_\- ]?secret)\b\s*(?:is|=|:)\s*['\"]?"
        r"(?P<value>[^\s'\",;]{6,200})",
        "value",
    ),
)

# detect-secrets plugins whose denylist regexes are safe on free text.
_BORROWED = (
    "AWSKeyDetector",
    "AzureStorageKeyDetector",
    "DiscordBotTokenDetector",
    "MailchimpDetector",
    "OpenAIDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TwilioKeyDetector",
)


@cache
def _borrowed() -> tuple[tuple[re.Pattern[str], int | str], ...]:
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    except ImportError:  # the extra is not installed: Keel's own list still applies
        return ()
    found: list[tuple[re.Pattern[str], int | str]] = []
    for plugin in get_mapping_from_secret_type_to_class().values():
        if plugin.__name__ in _BORROWED:
            denylist: tuple[re.Pattern[str], ...] = tuple(getattr(plugin, "denylist", ()))
            found.extend((p, 1 if p.groups else 0) for p in denylist)
    return tuple(found)


SECRET_PATTERNS: tuple[tuple[re.Pattern[str], int | str], ...] = (
    *((re.compile(p), g) for p, g in _OWN),
    *_borrowed(),
)
