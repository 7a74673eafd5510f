"""Test doubles for applications built on Keel: models that answer from a script."""

from keel.testing.models import EchoModel, FunctionModel, Reply, ScriptedModel, tool_call

__all__ = ["EchoModel", "FunctionModel", "Reply", "ScriptedModel", "tool_call"]
