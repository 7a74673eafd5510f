"""The tool gateway: validate → authorize → approve → execute → audit, for every tool call.

    from keel.tools.gateway import ToolGateway
    from keel.policy import PolicySet, deny, require_approval

    gateway = ToolGateway(
        PolicySet([require_approval(tools=["refund"], reason="refunds need a person")]),
        database="app.db",
    )
    app = App(agents=[agent], database="app.db", middleware=[gateway])

`keel audit verify` checks the audit chain; `keel audit list` shows it.
"""

from keel.tools.gateway.audit import AuditEntry, AuditProblem, StoredEntry
from keel.tools.gateway.audit_stage import Audit
from keel.tools.gateway.call import AuditDecision, GatewayCall, Stage
from keel.tools.gateway.execute import Execute, GuardedTool, ToolUnavailableError
from keel.tools.gateway.middleware import ToolGateway
from keel.tools.gateway.stages import Approve, Authorize, Validate
from keel.tools.gateway.store import AuditReport, GatewayStore, LedgerEntry

__all__ = [
    "Approve",
    "Audit",
    "AuditDecision",
    "AuditEntry",
    "AuditProblem",
    "AuditReport",
    "Authorize",
    "Execute",
    "GatewayCall",
    "GatewayStore",
    "GuardedTool",
    "LedgerEntry",
    "Stage",
    "StoredEntry",
    "ToolGateway",
    "ToolUnavailableError",
    "Validate",
]
