"""Process wiring and entry points: the CLI, client, workers, daemon and MCP server."""
