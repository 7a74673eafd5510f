"""`Rule` and `PolicySet`: policies written as data plus small predicates.

A rule applies when every selector it sets matches (kinds, names — `fnmatch` patterns —,
agents, tenants, roles, and `when`/`unless` predicates). Predicates receive the
`PolicyRequest` and may be sync or async, so an argument rule can ask the application
("is this order the caller's?") through `request.deps`. Combining is deny-overrides:
any matching deny wins, then require_approval, then allow, then the set's default.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache

from keel.exceptions import ConfigurationError
from keel.policy.model import ActionKind, Effect, PolicyRequest, Verdict

__all__ = ["PolicySet", "Predicate", "Rule", "allow", "deny", "require_approval"]

Predicate = Callable[[PolicyRequest], bool | Awaitable[bool]]
Reason = str | Callable[[PolicyRequest], str]

_ORDER: dict[Effect, int] = {"deny": 0, "require_approval": 1, "allow": 2}


def _frozen(values: Iterable[str] | None, what: str) -> frozenset[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        raise ConfigurationError(f"{what} must be a collection of names, not one string")
    return frozenset(values)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One rule. A selector left None matches anything."""

    effect: Effect
    reason: Reason = ""
    kinds: frozenset[ActionKind] | None = None
    names: frozenset[str] | None = None
    """Action names (tool, model, resource); `*` and `?` patterns allowed."""
    agents: frozenset[str] | None = None
    tenants: frozenset[str] | None = None
    roles: frozenset[str] | None = None
    """Applies only to principals holding one of these roles."""
    except_roles: frozenset[str] | None = None
    """Does not apply to principals holding one of these roles."""
    when: Predicate | None = None
    unless: Predicate | None = None
    name: str = ""

    def selects(self, request: PolicyRequest) -> bool:
        """The selectors that need no predicate."""
        who = request.principal
        return (
            (self.kinds is None or request.action.kind in self.kinds)
            and (self.names is None or _name_matches(self.names, request.action.name))
            and (self.agents is None or request.agent in self.agents)
            and (self.tenants is None or who.tenant_id in self.tenants)
            and (self.roles is None or not self.roles.isdisjoint(who.roles))
            and (self.except_roles is None or self.except_roles.isdisjoint(who.roles))
        )

    async def applies(self, request: PolicyRequest) -> bool:
        if not self.selects(request):
            return False
        if self.when is not None and not await _truth(self.when(request)):
            return False
        return self.unless is None or not await _truth(self.unless(request))

    def applies_now(self, request: PolicyRequest) -> bool:
        """`applies` for callers without an event loop; predicates must be sync here."""
        if not self.selects(request):
            return False
        if self.when is not None and not _sync_truth(self, self.when(request)):
            return False
        return self.unless is None or not _sync_truth(self, self.unless(request))

    def verdict(self, request: PolicyRequest) -> Verdict:
        reason = self.reason(request) if callable(self.reason) else self.reason
        return Verdict(self.effect, reason or _default_reason(self, request), self.label)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        names = ",".join(sorted(self.names)) if self.names else "*"
        return f"{self.effect}({names})"


def _name_matches(patterns: frozenset[str], name: str) -> bool:
    return name in patterns or any(fnmatchcase(name, p) for p in _globs(patterns))


@cache
def _globs(patterns: frozenset[str]) -> tuple[str, ...]:
    """The patterns with wildcards (found once per rule, not on every evaluation)."""
    return tuple(p for p in patterns if "*" in p or "?" in p)


async def _truth(value: bool | Awaitable[bool]) -> bool:
    if isinstance(value, bool):  # the common case, without inspecting it
        return value
    return bool(await value) if inspect.isawaitable(value) else bool(value)


def _sync_truth(rule: Rule, value: bool | Awaitable[bool]) -> bool:
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()
        raise ConfigurationError(
            f"rule {rule.label} has an async predicate, but it is used where decisions are "
            "synchronous (who may approve); give it a plain function"
        )
    return bool(value)


def _default_reason(rule: Rule, request: PolicyRequest) -> str:
    what = f"{request.action.kind.replace('_', ' ')} {request.action.name!r}"
    if rule.effect == "deny":
        return f"policy does not allow {request.principal.label} this {what}"
    if rule.effect == "require_approval":
        return f"policy requires a person to approve this {what}"
    return ""


class PolicySet:
    """Rules combined deny-overrides; `default` is the effect when no rule applies."""

    def __init__(
        self, rules: Sequence[Rule], *, default: Effect = "allow", default_reason: str = ""
    ) -> None:
        self.rules = tuple(sorted(rules, key=lambda r: _ORDER[r.effect]))  # stable
        self.default: Effect = default
        self.default_reason = default_reason

    async def evaluate(self, request: PolicyRequest) -> Verdict:
        for rule in self.rules:
            if await rule.applies(request):
                return rule.verdict(request)
        return self._default(request)

    def evaluate_now(self, request: PolicyRequest) -> Verdict:
        """`evaluate` without an event loop (sync predicates only)."""
        for rule in self.rules:
            if rule.applies_now(request):
                return rule.verdict(request)
        return self._default(request)

    def _default(self, request: PolicyRequest) -> Verdict:
        if self.default == "allow":
            return Verdict("allow", self.default_reason)
        probe = Rule(effect=self.default, reason=self.default_reason, name="default")
        return probe.verdict(request)


def _builder(effect: Effect) -> Callable[..., Rule]:
    def build(
        *,
        tools: Iterable[str] | None = None,
        kind: ActionKind | None = None,
        names: Iterable[str] | None = None,
        agents: Iterable[str] | None = None,
        tenants: Iterable[str] | None = None,
        roles: Iterable[str] | None = None,
        except_roles: Iterable[str] | None = None,
        when: Predicate | None = None,
        unless: Predicate | None = None,
        reason: Reason = "",
        name: str = "",
    ) -> Rule:
        if tools is not None and (names is not None or kind not in (None, "tool_call")):
            raise ConfigurationError("give either tools=… or kind=…/names=…, not both")
        chosen_kind: ActionKind | None = "tool_call" if tools is not None else kind
        return Rule(
            effect=effect,
            kinds=None if chosen_kind is None else frozenset({chosen_kind}),
            names=_frozen(tools if tools is not None else names, "tools"),
            agents=_frozen(agents, "agents"),
            tenants=_frozen(tenants, "tenants"),
            roles=_frozen(roles, "roles"),
            except_roles=_frozen(except_roles, "except_roles"),
            when=when,
            unless=unless,
            reason=reason,
            name=name,
        )

    build.__name__ = effect
    build.__doc__ = (
        f"A rule whose effect is {effect}. `tools=[…]` selects tool calls by name; "
        "`kind=`/`names=` select other actions (model calls, data access, approvals)."
    )
    return build


allow = _builder("allow")
deny = _builder("deny")
require_approval = _builder("require_approval")
