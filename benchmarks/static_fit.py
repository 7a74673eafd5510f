"""Fit the static embedder's table to MiniLM (tokenlearn) and write the fit Keel ships.

    python benchmarks/static_fit.py [--work DIR] [--shards 0 1 2 3 12 13 14] [--write]

1. Corpus: unlabelled paragraphs found offline on this machine — docstrings of the
   standard library (tests, idlelib, lib2to3 aside) and of some installed packages, the
   Python reference's topics (`pydoc_data`), packages' descriptions (METADATA) — cleaned
   (no code, no doctests, mostly words), deduplicated, shuffled with seed 0, in shards of
   2,000. Never Keel's own prose (the proxy task below) nor the labelled questions or
   their documents (`tests/knowledge`).
2. Targets: MiniLM's sentence vector of each text cut at 128 tokens, cached in `--work`
   per shard (~1 ms of CPU a token: ~200-400 CPU-seconds a shard).
3. Fit: the distilled table's mean rows of a text, normalised, regressed onto MiniLM's
   vector by ridge (a 384 x 384 map, every row through it); then a correction per token
   seen, least squares of the text means onto MiniLM's direction (at each text's own
   length), shrunk towards zero, solved by 30 conjugate-gradient steps. The first shard
   is held out.
4. Proxy task (the selection; never the labelled questions): each paragraph of README,
   DESIGN, BENCHMARKS and the issue texts (`--prose`) whose first sentence must find the
   rest; MRR and hit@3 static/static and MiniLM queries against static documents, and the
   held-out cosine to MiniLM.

The shipped fit (`src/keel/embeddings/assets/minilm-static-fit.npz`) was made by this
recipe from shards 0-3 and 12-14 (12,440 texts, shard 0 held out) of the dev venv of
2026-11-23 (Python 3.11.7).
"""

from __future__ import annotations

import argparse
import ast
import random
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from _common import first_paragraph
from keel.embeddings.base import normalize
from keel.embeddings.local import LocalEmbedder, uncut_tokenizer
from keel.embeddings.static import FIT, distilled, fitted

ROOT = Path(__file__).resolve().parents[1]
SHARD = 2_000
CUT = 128
PACKAGES = ("openai", "anthropic", "hypothesis", "pygments", "rich", "click", "pydantic",
            "starlette", "fastapi", "httpx", "requests", "jsonschema", "temporalio", "mcp",
            "pypdf", "redis", "psycopg")  # fmt: skip
SKIP = ("test", "tests", "site-packages", "idlelib", "lib2to3", "pydoc_data")
WORD = re.compile(r"[A-Za-z]{2,}")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def clean(paragraph: str) -> str | None:
    """A paragraph of prose, or None: no doctests, no code, mostly words."""
    p = " ".join(paragraph.split())
    words = p.split()
    if len(p) < 40 or ">>>" in p or p.count("`") > 6 or len(words) < 7:
        return None
    alpha = sum(1 for w in words if WORD.fullmatch(w.strip(".,;:()\"'")))
    return p[:700] if alpha / len(words) >= 0.7 else None


def paragraphs(text: str) -> list[str]:
    blocks = re.split(r"\n\s*\n", text)
    kept = [clean(b) for b in blocks if not b.lstrip().startswith(("```", "    ", "\t", "|", "<"))]
    return [p for p in kept if p]


def docstrings(path: Path) -> Iterator[str]:
    try:
        tree = ast.parse(path.read_text("utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        doc = ast.get_docstring(node) if isinstance(node, kinds) else None
        yield from paragraphs(doc or "")


def corpus() -> list[str]:
    """Step 1: the unlabelled texts, deduplicated and shuffled (seed 0)."""
    std = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    topics: dict[str, object] = {}
    exec((std / "pydoc_data" / "topics.py").read_text("utf-8"), topics)
    sources = [
        (p for f in std.glob("**/*.py") if not set(SKIP) & set(f.parts) for p in docstrings(f)),
        (p for t in topics["topics"].values() for p in paragraphs(t)),  # type: ignore[attr-defined]
        (p for f in site.glob("*.dist-info/METADATA")
         for p in paragraphs(f.read_text("utf-8", "replace").split("\n\n", 1)[-1])),
        (p for pkg in PACKAGES for f in (site / pkg).glob("**/*.py") for p in docstrings(f)),
    ]  # fmt: skip
    texts = list(dict.fromkeys(p for source in sources for p in source))
    random.Random(0).shuffle(texts)
    return texts


def targets(texts: list[str], shards: list[int], work: Path) -> tuple[list[str], np.ndarray]:
    """Step 2: MiniLM's vectors of the shards' texts, each shard cached in `work`."""
    model: LocalEmbedder | None = None
    chosen, vectors = [], []
    for k in shards:
        part = texts[k * SHARD : (k + 1) * SHARD]
        path = work / f"t{k:03d}.npy"
        if not path.exists():
            model = model or LocalEmbedder()
            model._tokenizer.enable_truncation(CUT)
            np.save(path, model.embed(part))
            print(f"shard {k}: {len(part)} texts embedded", flush=True)
        chosen += part
        vectors.append(np.load(path))
    return chosen, np.concatenate(vectors)


def tokens(texts: list[str], cut: int = CUT - 2) -> list[list[int]]:
    encodings = uncut_tokenizer().encode_batch(texts, add_special_tokens=False)
    return [e.ids[:cut] for e in encodings]


class Bag:
    """The mean-of-rows operator A of some texts (A[i, t] = count / length), and its
    transpose, over the tokens they use (compact indices)."""

    def __init__(self, ids: list[list[int]], empty: int) -> None:
        ids = [i or [empty] for i in ids]
        self.n = np.array([len(i) for i in ids], dtype=np.float32)[:, None]
        flat = np.fromiter((t for i in ids for t in i), dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum([len(i) for i in ids])[:-1]])
        self.row = np.repeat(np.arange(len(ids)), [len(i) for i in ids])
        self.used, self.compact = np.unique(flat, return_inverse=True)
        self.order = np.argsort(self.compact, kind="stable")
        self.groups = np.searchsorted(self.compact[self.order], np.arange(len(self.used)))

    def means(self, rows: np.ndarray, compact: bool = False) -> np.ndarray:
        """A @ rows (rows of the whole table, or of `used` only when compact); 4,000
        texts at a time, to bound the memory."""
        index = self.compact if compact else self.used[self.compact]
        ends = [*self.starts[4000::4000], len(index)]
        out = [
            np.add.reduceat(rows[index[s:e]], self.starts[b : b + 4000] - s, axis=0)
            for b, s, e in zip(
                range(0, len(self.starts), 4000), self.starts[::4000], ends, strict=True
            )
        ]
        return np.concatenate(out) / self.n

    def transposed(self, g: np.ndarray) -> np.ndarray:
        """A.T @ g, one row per used token; ~300k token occurrences at a time."""
        scaled = (g / self.n).astype(np.float32)
        out = np.zeros((len(self.used), g.shape[1]), np.float32)
        first = 0
        while first < len(self.groups):
            start = self.groups[first]
            last = max(int(np.searchsorted(self.groups, start + 300_000, "right")), first + 1)
            end = self.groups[last] if last < len(self.groups) else len(self.order)
            rows = self.row[self.order[start:end]]
            out[first:last] = np.add.reduceat(scaled[rows], self.groups[first:last] - start, 0)
            first = last
        return out


def fit_map(bag: Bag, table: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """Step 3a: the 384 x 384 map from normalised mean rows to MiniLM's vectors."""
    x = normalize(bag.means(table))
    return np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y).astype(np.float32)


def fit_correction(bag: Bag, table: np.ndarray, y: np.ndarray, shrink: float) -> np.ndarray:
    """Step 3b: min |A (table + D) - y * s|^2 + shrink |D|^2 over the used rows D, where
    s is each text's mean-row length (only the direction is fitted); 30 CG steps."""
    start = bag.means(table)
    residual = bag.transposed(y * np.linalg.norm(start, axis=1, keepdims=True) - start)
    d = np.zeros_like(residual)
    r, p = residual, residual.copy()
    rr = float((r * r).sum())
    for _ in range(30):
        ap = bag.transposed(bag.means(p, compact=True)) + shrink * p
        step = rr / float((p * ap).sum())
        d += step * p
        r = r - step * ap
        rr, previous = float((r * r).sum()), rr
        p = r + (rr / previous) * p
    return d


def pack(w: np.ndarray, bag: Bag, d: np.ndarray, empty: int) -> dict[str, np.ndarray]:
    """The shipped fit: the map in float16, the corrections in int8 with a scale per row
    (the row of an empty text keeps none)."""
    keep = bag.used != empty
    rows, d = bag.used[keep], d[keep]
    scale = np.maximum(np.abs(d).max(axis=1), 1e-12) / 127
    delta = np.round(d / scale[:, None]).astype(np.int8)
    return {"map": w.astype(np.float16), "ids": rows.astype(np.int32), "delta": delta,
            "scale": scale.astype(np.float32)}  # fmt: skip


def proxy_pairs(prose: list[Path]) -> list[tuple[str, str]]:
    """Step 4: (first sentence, rest) of each long enough paragraph or list item."""
    pairs: dict[str, str] = {}
    for path in prose:
        blocks = [i for b in re.split(r"\n\s*\n", path.read_text("utf-8"))
                  for i in re.split(r"\n(?=[-*] |\d+\. )", b)]  # fmt: skip
        for block in blocks:
            b = " ".join(line.lstrip("> ").strip() for line in block.splitlines())
            b = re.sub(r"^([-*]|\d+\.) ", "", " ".join(b.split()))
            b = b.replace("**", "").replace("`", "")
            if b.startswith(("```", "|", "#", "-", "*")) or len(b) < 100:
                continue
            parts = SENTENCE.split(b, maxsplit=1)
            if len(parts) == 2 and len(parts[0].split()) >= 6 and len(parts[1]) >= 80:
                pairs.setdefault(parts[1], parts[0])
    return [(q, rest) for rest, q in pairs.items()]


def ranks(queries: np.ndarray, documents: np.ndarray) -> tuple[float, float]:
    """MRR and hit@3 of each query's own document among all."""
    sims = queries @ documents.T
    rank = (sims > np.diag(sims)[:, None]).sum(axis=1) + 1
    return float((1 / rank).mean()), float((rank <= 3).mean())


def report(label: str, table: np.ndarray, held: tuple[Bag, np.ndarray], proxy: dict) -> None:
    bag, y = held
    embed = lambda b: normalize(b.means(table))  # noqa: E731
    cosine = float((embed(bag) * y).sum(axis=1).mean())
    same = ranks(embed(proxy["q"]), embed(proxy["d"]))
    mixed = ranks(proxy["minilm"], embed(proxy["d"]))
    print(f"{label:24} held-out cosine {cosine:.3f}  proxy MRR/hit@3 static {same[0]:.3f} / "
          f"{same[1]:.3f}  MiniLM queries {mixed[0]:.3f} / {mixed[1]:.3f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "keel-fit")
    parser.add_argument("--shards", type=int, nargs="+", default=[0, 1, 2, 3, 12, 13, 14])
    parser.add_argument("--prose", type=Path, nargs="+",
                        default=[ROOT / "README.md", ROOT / "BENCHMARKS.md"])  # fmt: skip
    parser.add_argument("--ridge", type=float, default=0.01)
    parser.add_argument("--shrink", type=float, default=1e-3)
    parser.add_argument("--write", action="store_true", help=f"write assets/{FIT}")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    texts, y = targets(corpus(), args.shards, args.work)
    table = distilled()
    empty = len(table) - 1
    ids = tokens(texts)
    held, train = (Bag(ids[:SHARD], empty), y[:SHARD]), Bag(ids[SHARD:], empty)
    pairs = proxy_pairs(args.prose)
    proxy = {"q": Bag(tokens([q for q, _ in pairs]), empty),
             "d": Bag(tokens([d for _, d in pairs], 254), empty),
             "minilm": LocalEmbedder().embed([q for q, _ in pairs])}  # fmt: skip
    print(f"{len(texts) - SHARD} texts fitted, {SHARD} held out, {len(pairs)} proxy pairs")
    report("distilled (v1)", table, held, proxy)
    w = fit_map(train, table, y[SHARD:], args.ridge)
    report(f"map, ridge {args.ridge:g}", table @ w, held, proxy)
    d = fit_correction(train, table @ w, y[SHARD:], args.shrink)
    fit = pack(w, train, d, empty)
    report(f"+ rows, shrink {args.shrink:g}", fitted(table, fit), held, proxy)
    if args.write:
        with (ROOT / "src" / "keel" / "embeddings" / "assets" / FIT).open("wb") as out:
            np.savez(out, map=fit["map"], ids=fit["ids"], delta=fit["delta"], scale=fit["scale"])


if __name__ == "__main__":
    sys.exit(main())
