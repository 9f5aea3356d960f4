"""Turn a PEFT LoRA adapter (safetensors) into a GGUF LoRA adapter that llama.cpp loads.

No torch here: the adapter is read with numpy, names are mapped with the gguf package's own
tensor tables, and the file is written with `gguf.GGUFWriter`. The subtle part is the layout of
q/k: llama.cpp's converter reorders the rows of q and k for llama-type models (rotary pairs
interleaved instead of split in halves), so the adapter's B matrices for q/k must get the same
row order or the adapter would nudge the wrong heads.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import StudioError

# Hugging Face model_type -> llama.cpp architecture, where the two names differ.
_ARCH_FROM_MODEL_TYPE = {"mistral": "llama", "mixtral": "llama", "granite": "granite"}
# Architectures whose GGUF converter reorders q/k rows (LlamaModel and its subclasses in llama.cpp).
PERMUTED_QK_ARCHS = frozenset({"llama", "granite"})
_SAFETENSORS_DTYPES: dict[str, Any] = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": None}


class ExportError(StudioError):
    """An adapter that cannot become a GGUF adapter; `message` says why and what to do."""


@dataclass(frozen=True)
class BaseFacts:
    """What the export needs to know about the base model."""
    architecture: str      # llama.cpp's name (general.architecture)
    n_head: int
    n_head_kv: int
    n_layers: int
    source: str            # where the facts came from, for messages


@dataclass
class LoraWeights:
    """An adapter in llama.cpp's layout: per base tensor name (e.g. 'blk.3.attn_q.weight'),
    A as (rank, in) and B as (out, rank), B already row-permuted and carrying any scale that
    llama.cpp's uniform alpha/rank cannot express."""
    architecture: str
    alpha: float
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def delta(self, name: str) -> np.ndarray:
        """The weight change llama.cpp applies at scale 1.0, in the base tensor's (out, in) shape."""
        a, b = self.pairs[name]
        rank = a.shape[0]
        factor = self.alpha / rank if self.alpha else 1.0
        return (b.astype(np.float32) @ a.astype(np.float32)) * np.float32(factor)


# --- reading the PEFT folder --------------------------------------------------------------------

def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Float tensors from a safetensors file, bf16 included (numpy has no bf16, so it is widened
    here). Reading the documented header directly keeps torch out of this module."""
    try:
        with open(path, "rb") as handle:
            (header_len,) = struct.unpack("<Q", handle.read(8))
            if header_len > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(handle.read(header_len))
            data_start = 8 + header_len
    except (OSError, ValueError, struct.error) as exc:
        raise ExportError("corrupt", f"{path}: not a readable safetensors file ({exc})") from exc
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    tensors: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dtype = meta.get("dtype")
        if dtype not in _SAFETENSORS_DTYPES:
            raise ExportError("dtype", f"{path.name}: tensor '{name}' has type {dtype}; a LoRA adapter holds "
                                       "float weights (F32, F16 or BF16)")
        start, end = meta["data_offsets"]
        chunk = raw[data_start + start:data_start + end]
        if dtype == "BF16":
            values = (chunk.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            values = chunk.view(_SAFETENSORS_DTYPES[dtype]).astype(np.float32)
        tensors[name] = values.reshape(meta["shape"])
    return tensors


def read_adapter_config(peft_dir: Path) -> dict:
    config_path = peft_dir / "adapter_config.json"
    if not peft_dir.is_dir():
        raise ExportError("missing", f"{peft_dir}: no such adapter folder")
    if not config_path.is_file():
        raise ExportError("missing", f"{peft_dir}: not a PEFT adapter folder (no adapter_config.json)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError("corrupt", f"{config_path}: unreadable adapter config ({exc})") from exc
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise ExportError("unsupported", f"{config_path}: a {peft_type} adapter; llama.cpp only runs LoRA adapters")
    if config.get("use_dora"):
        raise ExportError("unsupported", f"{config_path}: a DoRA adapter (use_dora); llama.cpp cannot run DoRA, "
                                         "train a plain LoRA adapter instead")
    return config


def _adapter_weights_file(peft_dir: Path) -> Path:
    weights = peft_dir / "adapter_model.safetensors"
    if weights.is_file():
        return weights
    pickles = [p.name for p in peft_dir.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]
    if pickles:
        raise ExportError("pickle", f"{peft_dir}: the adapter is saved as {pickles[0]}, a pickle file that can run "
                                    "code when loaded, so the studio does not open it. Save it as safetensors "
                                    "(PEFT's default: save_pretrained(..., safe_serialization=True)).")
    raise ExportError("missing", f"{peft_dir}: no adapter_model.safetensors in the folder")


# --- the base model -----------------------------------------------------------------------------

def base_facts(base_model: str | os.PathLike[str] | None, adapter_config: dict | None = None) -> BaseFacts:
    """Architecture and head counts from a GGUF file, an HF folder, or the adapter's own record."""
    if base_model is None:
        recorded = (adapter_config or {}).get("base_model_name_or_path")
        if not recorded or not Path(recorded).expanduser().exists():
            where = f" (it names '{recorded}', which is not on this computer)" if recorded else ""
            raise ExportError("base_unknown", "the adapter's base model could not be found" + where +
                              "; pass the base model (.gguf file or Hugging Face folder) explicitly")
        base_model = recorded
    path = Path(base_model).expanduser()
    if path.is_file():
        from studio.core.models.gguf_info import ModelFileError, read_gguf_info
        try:
            info = read_gguf_info(path)
        except ModelFileError as exc:
            raise ExportError("base_unusable", f"{path.name}: {exc.message}") from exc
        if not info.head_count or not info.block_count:
            raise ExportError("base_unusable", f"{path.name}: the file does not record its attention head or "
                                               "layer counts, so the adapter cannot be laid out for it")
        return BaseFacts(info.architecture, info.head_count, info.head_count_kv or info.head_count,
                         info.block_count, path.name)
    config_path = path / "config.json"
    if not config_path.is_file():
        raise ExportError("base_unusable", f"{path}: not a .gguf file or a Hugging Face folder with config.json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError("base_unusable", f"{config_path}: unreadable model config ({exc})") from exc
    config = config.get("text_config", config) if "num_attention_heads" not in config else config
    model_type = str(config.get("model_type", ""))
    try:
        n_head = int(config["num_attention_heads"])
        n_layers = int(config["num_hidden_layers"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError("base_unusable", f"{config_path}: missing {exc} in the model config") from exc
    n_head_kv = int(config.get("num_key_value_heads") or n_head)
    return BaseFacts(_ARCH_FROM_MODEL_TYPE.get(model_type, model_type), n_head, n_head_kv, n_layers, str(path))


def _tensor_map(facts: BaseFacts, n_blocks: int):
    import gguf
    arch = next((a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == facts.architecture), None)
    if arch is None:
        raise ExportError("unsupported_arch", f"the base model's architecture '{facts.architecture}' is unknown to "
                                              "llama.cpp, so its adapter cannot be exported to GGUF")
    return gguf.get_tensor_name_map(arch, n_blocks)


def permute_rows(b: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the output rows of a q/k matrix from HF's rotary layout (each head: first half, second
    half) to llama.cpp's (pairs interleaved), the same reordering its converter applies to q/k."""
    out = b.shape[0]
    if out % (2 * n_head):
        raise ExportError("shape", f"a q/k adapter with {out} output rows does not split into {n_head} heads")
    return b.reshape(n_head, 2, out // n_head // 2, *b.shape[1:]).swapaxes(1, 2).reshape(b.shape)


def _pattern_value(patterns: dict | None, module: str, default: float) -> float:
    """PEFT's rank_pattern / alpha_pattern: a key matches a module by its trailing dotted name."""
    for key, value in (patterns or {}).items():
        if module == key or re.fullmatch(rf"(.*\.)?{key}", module):
            return float(value)
    return default


_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[A-Za-z0-9_-]+)?\.weight$")


def peft_to_lora_weights(peft_dir: str | os.PathLike[str], base_model: str | os.PathLike[str] | None = None,
                         *, permute: bool = True) -> LoraWeights:
    """Read a PEFT adapter and lay it out as llama.cpp expects (names, permutation, scaling)."""
    peft_dir = Path(peft_dir).expanduser()
    config = read_adapter_config(peft_dir)
    tensors = read_safetensors(_adapter_weights_file(peft_dir))
    facts = base_facts(base_model, config)
    # Map names for every block the adapter mentions, so a too-deep layer is reported as such.
    numbers = [int(n) for key in tensors for n in re.findall(r"\.(\d+)\.", key)]
    tmap = _tensor_map(facts, max([facts.n_layers, *[n + 1 for n in numbers]]))
    alpha = float(config.get("lora_alpha") or config.get("r") or 8)

    halves: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        found = _KEY.match(key)
        if not found:
            what = ("an embedding LoRA" if "lora_embedding" in key else
                    "a DoRA magnitude" if "magnitude" in key else
                    "a fully trained module copy (modules_to_save)" if "modules_to_save" in key else
                    "a LoRA bias" if "lora_B.bias" in key or "lora_A.bias" in key else "an unknown tensor")
            raise ExportError("unsupported_module", f"{peft_dir.name}: '{key}' is {what}, which a llama.cpp "
                                                    "LoRA adapter cannot hold; train without it")
        halves.setdefault(found["module"], {})[found["ab"]] = value

    weights = LoraWeights(facts.architecture, alpha)
    for module, ab in sorted(halves.items()):
        if set(ab) != {"A", "B"}:
            raise ExportError("corrupt", f"{peft_dir.name}: module '{module}' has only lora_{next(iter(ab))}; "
                                         "the adapter file is incomplete")
        a, b = ab["A"], ab["B"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise ExportError("shape", f"{peft_dir.name}: module '{module}' has LoRA shapes {a.shape} and {b.shape}, "
                                       "which do not form a rank-r update of a linear layer")
        found = tmap.get_type_and_name(module + ".weight", try_suffixes=(".weight",))
        if found is None:
            raise ExportError("unsupported_module", f"{peft_dir.name}: module '{module}' has no counterpart in "
                                                    f"llama.cpp's '{facts.architecture}' model; train with "
                                                    "attention/MLP projection modules only")
        tensor_type, gguf_name = found
        block = re.match(r"blk\.(\d+)\.", gguf_name)
        if gguf_name.startswith("token_embd"):
            raise ExportError("unsupported_module", f"{peft_dir.name}: module '{module}' is the token embedding, "
                                                    "which this exporter does not support; train without it")
        if block and int(block.group(1)) >= facts.n_layers:
            raise ExportError("shape", f"{peft_dir.name}: module '{module}' is in layer {block.group(1)}, but the "
                                       f"base model ({facts.source}) has only {facts.n_layers} layers; "
                                       "the adapter was trained for another model")
        rank = a.shape[0]
        module_alpha = _pattern_value(config.get("alpha_pattern"), module, alpha)
        scaling = module_alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)
        factor = scaling / (alpha / rank)  # llama.cpp applies alpha/rank with one alpha for the whole file
        b = b * np.float32(factor) if abs(factor - 1.0) > 1e-9 else b
        if permute and facts.architecture in PERMUTED_QK_ARCHS:
            import gguf
            if tensor_type == gguf.MODEL_TENSOR.ATTN_Q:
                b = permute_rows(b, facts.n_head)
            elif tensor_type == gguf.MODEL_TENSOR.ATTN_K:
                b = permute_rows(b, facts.n_head_kv)
        weights.pairs[gguf_name] = (np.ascontiguousarray(a, dtype=np.float32),
                                    np.ascontiguousarray(b, dtype=np.float32))
    if not weights.pairs:
        raise ExportError("empty", f"{peft_dir.name}: the adapter holds no LoRA weights")
    return weights


# --- writing and reading GGUF adapters ----------------------------------------------------------

def write_lora_gguf(weights: LoraWeights, out_path: str | os.PathLike[str], *, name: str = "") -> Path:
    import gguf
    out_path = Path(out_path).expanduser()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + f".partial-{os.getpid()}")
    writer = gguf.GGUFWriter(str(partial), weights.architecture)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(weights.alpha))
        if name:
            writer.add_name(name)
        for base_name, (a, b) in weights.pairs.items():
            # numpy (rank, in) / (out, rank) become ggml ne [in, rank] / [rank, out], the shapes
            # llama.cpp checks against the base tensor's [in, out].
            writer.add_tensor(f"{base_name}.lora_a", a)
            writer.add_tensor(f"{base_name}.lora_b", b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(partial, out_path)
    return out_path


def export_lora_gguf(peft_dir: str | os.PathLike[str], out_path: str | os.PathLike[str], *,
                     base_model: str | os.PathLike[str] | None = None) -> Path:
    """Write the PEFT adapter in `peft_dir` as a GGUF LoRA adapter for llama.cpp (`lora_path`)."""
    peft_dir = Path(peft_dir).expanduser()
    weights = peft_to_lora_weights(peft_dir, base_model)
    return write_lora_gguf(weights, out_path, name=peft_dir.parent.name if peft_dir.name == "adapter" else peft_dir.name)


def read_lora_gguf(path: str | os.PathLike[str]) -> LoraWeights:
    """A GGUF LoRA adapter back as numpy arrays (for merging)."""
    import gguf
    path = Path(path).expanduser()
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:  # the reader raises ValueError/struct errors on damaged files
        raise ExportError("corrupt", f"{path.name}: not a readable GGUF file ({exc})") from exc

    def text(key: str) -> str | None:
        found = reader.fields.get(key)
        return found.contents() if found is not None else None

    if text("general.type") != "adapter" or text(gguf.Keys.Adapter.TYPE) != "lora":
        raise ExportError("not_adapter", f"{path.name}: not a GGUF LoRA adapter (general.type is "
                                         f"'{text('general.type')}')")
    alpha_field = reader.fields.get(gguf.Keys.Adapter.LORA_ALPHA)
    weights = LoraWeights(text("general.architecture") or "", float(alpha_field.contents()) if alpha_field else 0.0)
    found: dict[str, dict[str, np.ndarray]] = {}
    for tensor in reader.tensors:
        base, _, half = tensor.name.rpartition(".lora_")
        if half not in ("a", "b"):
            raise ExportError("corrupt", f"{path.name}: unexpected tensor '{tensor.name}' in a LoRA adapter")
        data = np.asarray(tensor.data)
        if tensor.tensor_type not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            data = gguf.quants.dequantize(data, tensor.tensor_type)
        found.setdefault(base, {})[half] = data.astype(np.float32).reshape(tuple(reversed(tensor.shape.tolist())))
    for base, ab in found.items():
        if set(ab) != {"a", "b"}:
            raise ExportError("corrupt", f"{path.name}: '{base}' lacks its lora_a or lora_b half")
        weights.pairs[base] = (ab["a"], ab["b"])
    return weights
