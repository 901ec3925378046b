"""ocrkit as a Model Context Protocol server (``ocrkit mcp``, ``/mcp`` in ``ocrkit serve``).

See :mod:`ocrkit.mcp_server.tools` for the tools and :mod:`ocrkit.mcp_server.server` for
the transports. Added by the built-in ``mcp`` plugin (``plugins/integrations/mcp.py``)
through ``register_commands``, ``register_routes`` and ``register_services``.
"""
