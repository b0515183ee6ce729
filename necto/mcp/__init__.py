"""Necto for AI agents: an MCP server (stdio) over the REST API, or over the data directory when
Necto is not running. backend.py reaches Necto, tools.py holds the tools, present.py keeps
their results compact and redacted, server.py speaks MCP with the official SDK."""
