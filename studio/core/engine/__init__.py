"""The llama.cpp engine: a worker process that owns the model, and the asyncio client that drives it."""
