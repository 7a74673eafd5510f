"""Names providers reject are mapped reversibly, stably and without collisions."""

from __future__ import annotations

import hashlib
import re

from keel.mcp import ToolNameMap, provider_safe

VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def test_valid_names_are_kept_as_they_are() -> None:
    assert provider_safe("lookup_order") == "lookup_order"
    assert provider_safe("order", "crm_") == "crm_order"


def test_rejected_names_become_valid_and_distinct() -> None:
    names = ["orders.get", "orders get", "orders/get", "orders_get", "x" * 70, "x" * 71, "ünï"]
    mapped = [provider_safe(n) for n in names]
    assert all(VALID.match(m) for m in mapped)
    assert len(set(mapped)) == len(names)
    assert mapped[0].startswith("orders_get_") and mapped[3] == "orders_get"


def test_the_map_goes_both_ways_and_never_hands_out_one_name_twice() -> None:
    names = ToolNameMap()
    dotted = names.safe("orders.get")
    # A server whose *valid* tool name equals another tool's mapped form.
    clash = names.safe(dotted)
    assert clash != dotted and VALID.match(clash)
    assert names.original(dotted) == "orders.get" and names.original(clash) == dotted
    assert names.safe("orders.get") == dotted  # stable


def test_the_mapping_depends_only_on_the_name_so_every_process_agrees() -> None:
    assert provider_safe("a.b") == "a_b_" + hashlib.sha256(b"a.b").hexdigest()[:8]
