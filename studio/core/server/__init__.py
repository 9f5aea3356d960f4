"""The OpenAI-compatible API over the app's engine: `create_app(workspace, options)` is the ASGI app,
`serve(config)` loads a model and runs it (the `studio serve` command and `python -m studio.core.server`)."""

from studio.core.server.app import ApiError, ServerOptions, create_app
from studio.core.server.run import ServeConfig, ServeRefused, check_bind, serve

__all__ = ["ApiError", "ServeConfig", "ServeRefused", "ServerOptions", "check_bind", "create_app", "serve"]
