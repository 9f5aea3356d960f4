"""The models the API serves besides the loaded one: LoRA adapters made for it.

A request naming one gets exactly base + that adapter (the server swaps it in for the request and
puts the chat's adapters back after). They come from three places, first name wins:
- training runs whose GGUF adapter was made on the served model (newest first),
- adapters given to the server (`studio serve --lora`),
- adapters attached in the engine now (the chat's), when none of the above is that file.

Ids are the run's name, or the adapter file's name (its folder's, for a run's `adapter.gguf`); a name
already taken gets "-2", "-3", ….
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.workspace import normalized_path


@dataclass
class ServedAdapter:
    id: str
    path: str
    scale: float
    created: int          # when the run started or the file was written (Unix time)
    source: str           # "run", "server" (given with --lora) or "attached"

    def wanted(self) -> list[dict[str, Any]]:
        """The engine's adapter list for a request on this adapter."""
        return [{"path": self.path, "scale": self.scale}]

    def model_object(self, base: str) -> dict[str, Any]:
        """The OpenAI model object; `parent` names the base model, as other servers list LoRA adapters."""
        return {"id": self.id, "object": "model", "created": self.created, "owned_by": "local", "parent": base}


def served_adapters(model_path: str, base_id: str, given: list[dict[str, Any]],
                    attached: list[dict[str, Any]]) -> list[ServedAdapter]:
    """The adapters for the model at `model_path` (blocking: reads the runs folder)."""
    from studio.core.training.runs import list_runs

    wanted = normalized_path(model_path)
    found: list[ServedAdapter] = []
    seen: set[str] = set()
    taken = {base_id}

    def add(path: str, name: str, scale: float, created: float, source: str) -> None:
        key = normalized_path(path)
        if not path or key in seen:
            return
        seen.add(key)
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}-{n}"
        taken.add(unique)
        found.append(ServedAdapter(unique, path, float(scale), int(created or 0), source))

    for run in list_runs():
        if run.gguf_adapter and run.base_model and normalized_path(run.base_model) == wanted:
            add(run.gguf_adapter, run.name, 1.0, run.started or _mtime(run.gguf_adapter), "run")
    for source, entries in (("server", given), ("attached", attached)):
        for entry in entries:
            path = str(entry.get("path", ""))
            add(path, _file_name(path), float(entry.get("scale", 1.0)), _mtime(path), source)
    return found


def _file_name(path: str) -> str:
    file = Path(path)
    if file.stem == "adapter" and file.parent.name:  # a run folder's adapter.gguf: the run's name
        return file.parent.name
    return file.stem


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
