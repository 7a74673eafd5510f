from __future__ import annotations

from keel.embeddings import HashEmbedder
from keel.guardrails.filters import (
    Commitments,
    OtherCustomersPII,
    PromptLeak,
    SecretLeak,
    TopicGuard,
)

SYSTEM = (
    "You are the support agent of Acme. "
    "Never discuss internal pricing rules with customers or partners."
)


def test_prompt_leak_blocks_a_repeated_system_prompt_but_not_a_shared_word() -> None:
    guard = PromptLeak(SYSTEM)
    assert (
        guard.inspect(
            "Sure: You are the support agent of Acme. Never discuss internal pricing"
        ).action
        == "block"
    )
    assert guard.inspect("I am the support agent of Acme, how can I help?").action == "allow"


def test_secret_leak_and_other_customers_pii() -> None:
    assert SecretLeak().inspect("use key AKIAIOSFODNN7EXAMPLE").action == "block"
    guard = OtherCustomersPII(lambda: ["me@x.io"])
    verdict = guard.inspect("I emailed me@x.io and copied bob@corp.io")
    assert verdict.action == "modify" and verdict.text == "I emailed me@x.io and copied [EMAIL]"


def test_commitments_block_promises_by_pattern_and_phrase() -> None:
    guard = Commitments(phrases=["free upgrade"])
    assert guard.inspect("We will issue you a full refund today.").action == "block"
    assert guard.inspect("I can give you a 50% discount.").action == "block"
    assert guard.inspect("You qualify for a free upgrade!").action == "block"
    assert (
        guard.inspect("Refunds are reviewed by our billing team within 5 days.").action == "allow"
    )


def test_topic_guard_blocks_what_is_far_from_every_topic() -> None:
    guard = TopicGuard(
        {"orders": ["where is my order", "order shipping status"]},
        min_similarity=0.5,
        embedder=HashEmbedder(),
    )
    assert guard.inspect("where is my order").action == "allow"
    assert guard.inspect("qwerty zxcv plumbus").action == "block"


def test_topic_guard_on_the_local_embedder() -> None:
    guard = TopicGuard(
        {"orders": ["where is my order", "I want to return an item", "refund for a broken product"]}
    )
    assert guard.inspect("my parcel has not arrived yet").action == "allow"
    assert guard.inspect("write me a poem about the french revolution").action == "block"
