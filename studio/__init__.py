"""Local LLM Studio: chat with, fine-tune and inspect quantized GGUF models offline."""

__version__ = "0.1.0"
APP_NAME = "Local LLM Studio"
APP_ID = "local-llm-studio"
