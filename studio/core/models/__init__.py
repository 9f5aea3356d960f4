"""Model files: GGUF metadata and validation, the local library, the starter model, hub downloads."""

from studio.core.models.gguf_info import (
    GGUFInfo,
    ModelFileError,
    check_chat_template,
    format_size,
    read_gguf_info,
    translate_llama_error,
)
from studio.core.models.hub import DownloadError, download_from_hub
from studio.core.models.library import ModelEntry, ModelLibrary
from studio.core.models.starter import (
    ProvisionError,
    is_starter_present,
    provision_starter,
    starter_path,
)

__all__ = [
    "DownloadError",
    "GGUFInfo",
    "ModelEntry",
    "ModelFileError",
    "ModelLibrary",
    "ProvisionError",
    "check_chat_template",
    "download_from_hub",
    "format_size",
    "is_starter_present",
    "provision_starter",
    "read_gguf_info",
    "starter_path",
    "translate_llama_error",
]
