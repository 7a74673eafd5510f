"""Handoffs between agents and to people; agents called as tools.

See `keel.handoffs.agents` (agent handoffs, `Agent.as_tool`) and `keel.handoffs.human`
(the human queue, escalation triggers).
"""

from keel.handoffs.agents import AgentTool, HandoffTool, hand_back, handoff

__all__ = ["AgentTool", "HandoffTool", "hand_back", "handoff"]
