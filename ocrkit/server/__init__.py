"""The HTTP API (``ocrkit serve``): :func:`ocrkit.server.app.create_app` builds it."""
