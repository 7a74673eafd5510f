"""Tools the model may call: typed Python functions with schemas derived from signatures."""

from keel.tools.tool import Tool, tool

__all__ = ["Tool", "tool"]
