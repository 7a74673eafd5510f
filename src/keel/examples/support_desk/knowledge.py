"""Product knowledge: short documents the product specialist searches by meaning.

The search reports its best similarity in the run's metadata (`RETRIEVAL_SCORE_KEY`), so
the human handoff can step in when nothing matched well (the retrieval floor).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from keel.embeddings import default_embedder

__all__ = ["DOCS", "search"]

DOCS: tuple[tuple[str, str], ...] = (
    ("Trail running shoes", "Sizes 36-47, half sizes included. Waterproof Gore-Tex upper. "
     "Fit runs true to size. Machine washable at 30 degrees."),
    ("Desk lamp", "Dimmable LED, 3 colour temperatures, USB-C powered. Can be wall mounted "
     "with the included bracket. 2-year warranty."),
    ("Espresso machine", "15-bar pump, makes espresso and lungo, steam wand for milk. "
     "Descale monthly. Drip tray and water tank are dishwasher safe. 2-year warranty."),
    ("Rain jacket", "Fully waterproof (20k mm), breathable, packable hood. Runs small: "
     "order one size up. Sizes XS-XXL, in blue, black and olive."),
    ("Warranty", "Every product has a 2-year warranty against manufacturing faults. "
     "Damage from misuse is not covered."),
    ("Stock", "Out-of-stock items are usually restocked within 3 weeks; the product page "
     "offers an email alert."),
)  # fmt: skip


@cache
def _doc_vectors() -> Any:
    return default_embedder().embed([f"{title}. {body}" for title, body in DOCS])


def search(question: str, top: int = 2) -> tuple[list[dict[str, Any]], float]:
    """The best `top` documents for `question`, and the best similarity."""
    query = default_embedder().embed([question])[0]
    sims = _doc_vectors() @ query
    order = [int(i) for i in np.argsort(-sims)[:top]]
    hits: list[dict[str, Any]] = [
        {"title": DOCS[i][0], "text": DOCS[i][1], "score": round(float(sims[i]), 3)} for i in order
    ]
    return hits, float(sims[order[0]])
