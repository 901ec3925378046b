"""Built-in integrations: the watched folder and the MCP server (issue 19)."""
