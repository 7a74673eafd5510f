"""`RunLimits`: the bounds that keep one run finite and affordable."""

from __future__ import annotations

from dataclasses import dataclass

from keel.exceptions import ConfigurationError

__all__ = ["RunLimits"]


@dataclass(frozen=True, slots=True)
class RunLimits:
    """Bounds on one run. `None` means unbounded.

    `max_steps` counts model requests (repairs of bad output included); hitting it raises
    `MaxStepsExceeded`. Token, cost and tool-call bounds raise `UsageLimitExceeded`; token
    and cost bounds are checked before each model call against its worst case (the
    answer is capped to fit), so a call never takes a run past them.
    """

    max_steps: int = 10
    max_tool_calls: int | None = 50
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_total_tokens: int | None = None
    max_cost: float | None = None
    """USD for the run's model calls, from the models' profile prices."""
    max_output_retries: int = 2
    """How many times malformed structured output is sent back for repair."""
    max_tool_result_chars: int = 8_000
    """Tool results (and tool errors) longer than this are cut before the model sees them."""

    @property
    def has_token_bounds(self) -> bool:
        return not (
            self.max_input_tokens is None
            and self.max_output_tokens is None
            and self.max_total_tokens is None
            and self.max_cost is None
        )

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ConfigurationError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.max_output_retries < 0:
            raise ConfigurationError(
                f"max_output_retries must be >= 0, got {self.max_output_retries}"
            )
        if self.max_cost is not None and self.max_cost < 0:
            raise ConfigurationError(f"max_cost must be >= 0, got {self.max_cost}")
        if self.max_tool_result_chars < 100:
            raise ConfigurationError("max_tool_result_chars must be at least 100")
