"""`necto mcp`: the tools over stdio with the official MCP SDK's low-level server.

stdout carries JSON-RPC only; anything we log goes to stderr. A tool's failure is a result
with `isError: true` and the text `Error: ...` (as NectoProxy's server answers), so an agent
can read it and try again; only an unknown tool name is a protocol error.
"""

from __future__ import annotations

import logging
from typing import Any

import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from necto import __version__
from necto.mcp.backend import Backend, ToolError
from necto.mcp.tools import TOOLS, TOOLS_BY_NAME, encode

log = logging.getLogger("necto.mcp")

INSTRUCTIONS = (
    "Necto is an intercepting HTTP(S) proxy that records traffic into sessions. Start with "
    "list_traffic or search_traffic (summaries), then get_traffic for one exchange; bodies are "
    "cut at maxBodyChars (read on with bodyOffset) and secrets are masked unless redact=false. "
    "get_inventory and get_openapi describe the API seen; diff_sessions compares two runs; "
    "create_rule mocks or blocks requests through the proxy."
)


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"Error: {message}")], is_error=True)


def build_server(backend: Backend) -> Server[Any]:
    tools = [
        types.Tool(
            name=t.name,
            description=t.description,
            input_schema=t.schema,
            annotations=types.ToolAnnotations(read_only_hint=t.read_only),
        )
        for t in TOOLS
    ]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = TOOLS_BY_NAME.get(params.name)
        if tool is None:
            return _error(f"unknown tool {params.name!r}")
        try:
            result = await tool.run(backend, dict(params.arguments or {}))
        except ToolError as e:
            return _error(str(e))
        except Exception as e:  # a bug of ours: the agent still gets an answer, stderr the trace
            log.exception("tool %s failed", params.name)
            return _error(f"{params.name} failed unexpectedly: {type(e).__name__}: {e}")
        return types.CallToolResult(content=[types.TextContent(type="text", text=encode(result))])

    return Server(
        "necto",
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve_stdio(backend: Backend) -> None:
    server = build_server(backend)
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await backend.close()
