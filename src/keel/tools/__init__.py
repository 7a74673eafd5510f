"""Tools the model may call: typed Python functions, or anything else behind a JSON schema."""

from keel.tools.base import Tool, ToolAnnotations, Toolset
from keel.tools.schema_tool import SchemaTool
from keel.tools.tool import FunctionTool, make_tool, tool

__all__ = ["FunctionTool", "SchemaTool", "Tool", "ToolAnnotations", "Toolset", "make_tool", "tool"]
