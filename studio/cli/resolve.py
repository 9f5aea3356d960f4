"""The one answer to `--model X`: a .gguf path, a library name ("starter", a unique prefix) or,
where torch reads it, a Hugging Face folder."""

from __future__ import annotations

import os
from pathlib import Path

from studio.cli.exits import CliError


def resolve_model(name: str, *, folders: bool = False, as_given: bool = False, unchecked: bool = False) -> str:
    """The model file or folder `name` means, or CliError (bad input) with the library's sentence.

    folders:   an existing folder is accepted (a HF model for torch, a base model for training).
    as_given:  an existing path comes back as the user wrote it (it ends up in reports and run
               configs), not made absolute.
    unchecked: anything that looks like a path comes back even if it is missing, for a caller that
               reports a missing file together with its other problems.
    """
    from studio.core.models.gguf_info import ModelFileError
    from studio.core.models.library import ModelLibrary

    path = Path(name).expanduser()
    looks_like_path = path.suffix.lower() == ".gguf" or os.sep in name or "/" in name
    if (unchecked and looks_like_path) or (as_given and (path.is_file() or (folders and path.is_dir()))):
        return str(path)
    if folders and path.is_dir():
        return str(path.resolve())
    try:
        return str(ModelLibrary().resolve(name))
    except ModelFileError as exc:
        raise CliError.from_error(exc) from None
