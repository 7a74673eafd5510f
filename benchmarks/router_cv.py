"""The desk router's hyperparameters, chosen by 5-fold cross-validation on `train` only.

    python benchmarks/router_cv.py [--top 10]

Prints the best settings of `keel.routing.tuning.grid()` (k, quantile, margin, method,
whether to use the out-of-scope examples) by balanced accuracy — the mean of the per-label
accuracies of the router alone — over stratified folds of the `train` split. Then, once,
the chosen setting's accuracy per label on the held-out split, with routes built from all
of `train`. `keel.examples.support_desk.routing.desk_router` uses the setting printed here.
"""

from __future__ import annotations

import argparse
import os
import time

from keel.embeddings import int8_embedder
from keel.examples.support_desk.intents import LABELS, load_intents
from keel.examples.support_desk.routing import DESCRIPTIONS, desk_router
from keel.routing.tuning import Fitted, Setting, cross_validate, grid


def print_ranked(ranked: list[Fitted], top: int) -> None:
    labels = " ".join(f"{label[:7]:>7s}" for label in LABELS)
    print(f"  {'method':9s} {'k':>2s} {'quant':>6s} {'margin':>6s} {'oos':>5s}  balanced  {labels}")
    for fitted in ranked[:top]:
        s = fitted.setting
        cells = " ".join(f"{fitted.per_label[label]:7.2f}" for label in LABELS)
        shape = f"{s.method:9s} {s.k:2d} {s.quantile:6.2f} {s.margin:6.2f}"
        print(f"  {shape} {s.use_out_of_scope!s:>5s}  {fitted.balanced:8.3f}  {cells}")


def print_heldout(chosen: Setting) -> None:
    router = desk_router()
    configured = (
        router.method,
        router.k,
        router.quantile,
        router.margin,
        bool(router.out_of_scope),
    )
    wanted = (chosen.method, chosen.k, chosen.quantile, chosen.margin, chosen.use_out_of_scope)
    print(f"desk_router() is configured with it: {configured == wanted} {configured}")
    held = load_intents("heldout")
    right: dict[str, int] = dict.fromkeys(LABELS, 0)
    seen: dict[str, int] = dict.fromkeys(LABELS, 0)
    for item in held:
        seen[item.label] += 1
        right[item.label] += (router.classify(item.text).route or "out_of_scope") == item.label
    print(f"\nheld-out accuracy of desk_router() ({len(held)} messages, measured once):")
    for label in LABELS:
        print(f"  {label:14s} {right[label] / seen[label]:.2f}  ({right[label]}/{seen[label]})")
    print(f"  {'overall':14s} {sum(right.values()) / len(held):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--no-heldout", action="store_true")
    args = parser.parse_args()
    train = [
        (x.text, None if x.label == "out_of_scope" else x.label) for x in load_intents("train")
    ]
    start = time.perf_counter()
    settings = grid()
    ranked = cross_validate(train, DESCRIPTIONS, settings, int8_embedder())
    took = time.perf_counter() - start
    print(f"{len(settings)} settings x 5 folds on {len(train)} train messages, {took:.1f} s")
    print(f"load average {os.getloadavg()[0]:.2f}\n")
    print_ranked(ranked, args.top)
    print(f"\nchosen: {ranked[0].setting}")
    if not args.no_heldout:
        print_heldout(ranked[0].setting)


if __name__ == "__main__":
    main()
