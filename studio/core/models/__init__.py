"""Model files: GGUF metadata and validation (gguf_info), chat-template safety (templates),
llama.cpp error translation (llama_errors), the local library, the starter model, hub downloads."""
