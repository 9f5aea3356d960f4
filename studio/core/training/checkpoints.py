"""Training checkpoints on disk: safetensors for tensors, JSON for everything else (never pickle).

A checkpoint is written into `step-N.partial`, flushed, then renamed, so a crash never leaves a
`step-N` that looks whole; reading checks every file's header, names and shapes before torch maps
it, and a checkpoint that fails is `CheckpointDamaged` with a sentence for people.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from studio.core.files import fsync_dir
from studio.core.training.runs import checkpoint_problem, write_json_atomic


def save_checkpoint(folder: Path, peft_model: Any, optimizer: Any, state: dict[str, Any]) -> Path:
    """Write into step-N.partial, flush it to disk, then rename: a crash never leaves a step-N that
    looks whole but is not (checkpoints() and resume only look at step-N names)."""
    import torch
    from safetensors.torch import save_file

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    peft_model.save_pretrained(str(partial / "adapter"), safe_serialization=True)
    opt = optimizer.state_dict()
    tensors: dict[str, Any] = {}
    scalars: dict[str, Any] = {}
    for index, values in opt["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                scalars[f"{index}.{name}"] = value
    save_file(tensors, str(partial / "optimizer.safetensors"))
    rng = torch.get_rng_state()
    save_file({"torch_rng": rng}, str(partial / "rng.safetensors"))
    full_state = dict(state, optimizer_groups=_json_safe(opt["param_groups"]), optimizer_scalars=scalars,
                      python_rng=_json_safe(random.getstate()), saved=time.time())
    write_json_atomic(partial / "state.json", full_state)
    fsync_tree(partial)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    fsync_dir(folder.parent)
    return folder


def fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*"), reverse=True):  # files before the folders that hold them
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        else:
            fsync_dir(path)
    fsync_dir(root)


class CheckpointDamaged(Exception):
    """A checkpoint that cannot be resumed from; str() is "file: problem" for people."""


def read_checkpoint(folder: Path, peft_model: Any, optimizer: Any) -> dict[str, Any]:
    """Read and check every part of a checkpoint against this model and optimizer, changing nothing.

    Raises CheckpointDamaged naming the file and the problem. Only safetensors and JSON are read
    (never pickle), and the headers are checked before torch maps the files."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file

    problem = checkpoint_problem(folder)
    if problem:
        raise CheckpointDamaged(problem)
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    for key in ("step", "epoch", "position"):
        if not isinstance(state.get(key), int) or isinstance(state.get(key), bool) or state[key] < 0:
            raise CheckpointDamaged(f"state.json: {key} is missing or not a count ({state.get(key)!r})")

    def tensors(name: str) -> dict[str, Any]:
        try:
            return load_file(str(folder / name))
        except Exception as exc:  # safetensors' own checks, e.g. a dtype this torch lacks
            raise CheckpointDamaged(f"{name}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__}") from None

    adapter = tensors("adapter/adapter_model.safetensors")
    expected = {k: tuple(v.shape) for k, v in get_peft_model_state_dict(peft_model).items()}
    _check_shapes("adapter/adapter_model.safetensors", {k: tuple(v.shape) for k, v in adapter.items()}, expected)

    params = [p for group in optimizer.param_groups for p in group["params"]]
    groups = state.get("optimizer_groups")
    if (not isinstance(groups, list) or len(groups) != len(optimizer.param_groups)
            or any(not isinstance(g, dict) or len(g.get("params") or []) != len(o["params"])
                   for g, o in zip(groups, optimizer.param_groups))):
        raise CheckpointDamaged("state.json: the optimizer groups do not match this model's LoRA parameters")
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors("optimizer.safetensors").items():
        index, _, name = key.partition(".")
        if not index.isdigit() or not name or int(index) >= len(params):
            raise CheckpointDamaged(f"optimizer.safetensors: unexpected tensor {key!r}")
        if name in ("exp_avg", "exp_avg_sq") and tuple(value.shape) != tuple(params[int(index)].shape):
            raise CheckpointDamaged(f"optimizer.safetensors: {key} is {_shape(value.shape)}, "
                                    f"this run's parameter is {_shape(params[int(index)].shape)}")
        per_param.setdefault(int(index), {})[name] = value
    scalars = state.get("optimizer_scalars") or {}
    if not isinstance(scalars, dict):
        raise CheckpointDamaged("state.json: optimizer_scalars is not an object")
    for key, value in scalars.items():
        index, _, name = key.partition(".")
        if not index.isdigit() or int(index) >= len(params):
            raise CheckpointDamaged(f"state.json: unexpected optimizer value {key!r}")
        per_param.setdefault(int(index), {})[name] = value

    rng = tensors("rng.safetensors").get("torch_rng")
    if rng is None or rng.dtype != torch.uint8 or rng.dim() != 1:
        raise CheckpointDamaged("rng.safetensors: no torch random state in it")
    python_rng = state.get("python_rng")
    if python_rng:
        try:
            python_rng = (python_rng[0], tuple(python_rng[1]), python_rng[2])
            random.Random().setstate(python_rng)  # validates without touching the global generator
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise CheckpointDamaged(f"state.json: python_rng is not a random state ({exc})") from None
    return {"state": state, "adapter": adapter, "optimizer": {"state": per_param, "param_groups": groups},
            "torch_rng": rng, "python_rng": python_rng}


def apply_checkpoint(loaded: dict[str, Any], peft_model: Any, optimizer: Any) -> dict[str, Any]:
    """Put a read_checkpoint() result into the model, optimizer and random generators."""
    import torch
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(peft_model, loaded["adapter"])
    optimizer.load_state_dict(loaded["optimizer"])
    torch.set_rng_state(loaded["torch_rng"])
    if loaded["python_rng"]:
        random.setstate(loaded["python_rng"])
    return loaded["state"]


def load_checkpoint(folder: Path, peft_model: Any, optimizer: Any) -> dict[str, Any]:
    return apply_checkpoint(read_checkpoint(folder, peft_model, optimizer), peft_model, optimizer)


def _check_shapes(file: str, found: dict[str, tuple], expected: dict[str, tuple]) -> None:
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        name = (missing or extra)[0]
        raise CheckpointDamaged(f"{file}: {len(missing)} tensors missing and {len(extra)} unexpected for this "
                                f"model and config (e.g. {name.split('model.', 1)[-1]})")
    for key, shape in found.items():
        if shape != expected[key]:
            raise CheckpointDamaged(f"{file}: {key.split('model.', 1)[-1]} is {_shape(shape)}, this model and "
                                    f"config need {_shape(expected[key])}")


def _shape(shape: Any) -> str:
    return "x".join(str(d) for d in shape) or "a scalar"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return float(value) if hasattr(value, "__float__") else str(value)
