"""A training run's settings: one JSON file the user can save, edit and rerun (`studio train CONFIG`).

Torch-free, so the GUI can build, validate and save configs without loading the trainer.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError

CONFIG_VERSION = 1
SCHEDULERS = ("cosine", "linear", "constant")

# Every linear layer of the decoder: for small models LoRA on all of them learns best per step.
_LLAMA_LIKE = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_TARGETS: dict[str, list[str]] = {
    **{arch: _LLAMA_LIKE for arch in (
        "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3",
        "gemma3_text", "granite", "olmo", "olmo2", "cohere", "stablelm", "internlm2", "deepseek", "exaone", "smollm3")},
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"],
    "phi2": ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"],
    "starcoder2": ["q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "falcon": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "bloom": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
}
# GGUF architecture names that differ from transformers' model_type.
_ALIASES = {"phi2": "phi", "gptneox": "gpt_neox", "qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe",
            "command-r": "cohere", "internlm": "internlm2"}


def target_modules_for(architecture: str) -> list[str]:
    """The LoRA target modules for a GGUF architecture or transformers model_type."""
    arch = (architecture or "").lower().replace("-", "_")
    arch = _ALIASES.get(arch, arch)
    return list(_TARGETS.get(arch, _LLAMA_LIKE))


def defaults_for(n_params: int, architecture: str = "llama") -> dict[str, Any]:
    """Settings that train well for a model of this size on an ordinary machine."""
    billions = max(0, n_params) / 1e9
    d: dict[str, Any]
    if billions < 0.5:
        d = dict(lora_r=16, lora_alpha=32, learning_rate=3e-4, batch_size=8, grad_accum=1, max_seq_len=512)
    elif billions < 2:
        d = dict(lora_r=16, lora_alpha=32, learning_rate=2e-4, batch_size=4, grad_accum=2, max_seq_len=1024)
    elif billions < 9:
        d = dict(lora_r=16, lora_alpha=32, learning_rate=1e-4, batch_size=2, grad_accum=4, max_seq_len=1024)
    else:
        d = dict(lora_r=8, lora_alpha=16, learning_rate=1e-4, batch_size=1, grad_accum=8, max_seq_len=1024)
    d["target_modules"] = target_modules_for(architecture)
    return d


PRESETS: dict[str, dict[str, Any]] = {
    "Quick test": dict(max_steps=30, epochs=1.0, lora_r=8, lora_alpha=16, max_seq_len=256, eval_every=10, save_every=10),
    "Balanced": dict(max_steps=-1, epochs=1.0, lora_r=16, lora_alpha=32, learning_rate=2e-4, lr_scheduler="cosine"),
    "Thorough": dict(max_steps=-1, epochs=3.0, lora_r=32, lora_alpha=64, learning_rate=1e-4, lr_scheduler="cosine",
                     warmup_ratio=0.05),
}


class ConfigError(StudioError, ValueError):
    """A config file that cannot be used; the message says which key and why. Still a ValueError,
    which the Fine-tune screen catches together with bad field values."""

    def __init__(self, message: str) -> None:
        super().__init__("config", message)


class ConfigProblem(str):
    """One thing wrong with a config: the English sentence the CLI prints, with a code and the values
    in it, so a screen can say the same in its own language (studio.ui.finetune.config_panel)."""

    code: str
    values: dict[str, str]

    def __new__(cls, text: str, code: str = "", **values: str) -> "ConfigProblem":
        problem = super().__new__(cls, text)
        problem.code = code
        problem.values = values
        return problem


@dataclass
class RunConfig:
    version: int = CONFIG_VERSION
    base_model: str = ""                      # .gguf path or Hugging Face folder (safetensors)
    data: list[str] = field(default_factory=list)
    val_data: list[str] = field(default_factory=list)
    val_ratio: float = 0.1
    format: str | None = None                 # None: detect per file
    mapping: dict[str, Any] | None = None     # column mapping for CSV/TSV/JSON
    output_dir: str = ""                      # the run folder; "" picks runs_root()/<time>-<model>-<data>
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: list[str] | None = None   # None: chosen per architecture
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    epochs: float = 1.0
    max_steps: int = -1                       # > 0 overrides epochs
    batch_size: int = 4
    grad_accum: int = 1
    max_seq_len: int = 512
    packing: bool = False
    response_only: bool = True
    seed: int = 42
    eval_every: int = 0                       # 0: about 10 evaluations per run
    save_every: int = 0                       # 0: about 5 checkpoints per run
    logging_every: int = 1

    # --- (de)serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "RunConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a run config is a JSON object, not {type(data).__name__}")
        known = {f.name: f for f in fields(cls)}
        unknown = [k for k in data if k not in known]
        if unknown:
            hint = ""
            close = [k for k in known if _similar(unknown[0], k)]
            if close:
                hint = f" (did you mean {close[0]!r}?)"
            raise ConfigError(f"{source}: unknown setting {unknown[0]!r}{hint}")
        version = data.get("version", CONFIG_VERSION)
        if version != CONFIG_VERSION:
            raise ConfigError(f"{source}: config version {version!r} is not supported (this studio reads version "
                              f"{CONFIG_VERSION})")
        values: dict[str, Any] = {}
        for key, value in data.items():
            values[key] = _coerce(key, value, known[key].type, source)
        return cls(**values)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically: a crash mid-write never leaves a half config."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "RunConfig":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the config ({exc})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
        config = cls.from_dict(data, source=str(path))
        # Relative paths in a saved config mean "next to the config file", so a folder can be moved whole.
        base = path.resolve().parent
        config.base_model = _relative_to(config.base_model, base)
        config.data = [_relative_to(p, base) for p in config.data]
        config.val_data = [_relative_to(p, base) for p in config.val_data]
        config.output_dir = _relative_to(config.output_dir, base)
        return config

    # --- checks --------------------------------------------------------------------------------
    def validate(self, *, check_files: bool = True) -> list[str]:
        """Everything wrong with this config, as sentences a user can act on ([] when fine); the ones a
        screen can cause are `ConfigProblem`s, whose codes let it say them in its own language."""
        problems: list[str] = []
        if not self.base_model:
            problems.append(ConfigProblem("Choose a base model (a .gguf file or a Hugging Face folder).",
                                          "no_model"))
        elif check_files and not Path(self.base_model).expanduser().exists():
            problems.append(ConfigProblem(f"The base model {self.base_model} does not exist.", "model_missing",
                                          path=self.base_model))
        elif check_files and Path(self.base_model).is_file() and not self.base_model.lower().endswith(".gguf"):
            name = Path(self.base_model).name
            problems.append(ConfigProblem(f"The base model {name} is not a .gguf file or a model folder.",
                                          "model_not_gguf", name=name))
        if not self.data:
            problems.append(ConfigProblem("Add at least one training data file.", "no_data"))
        for label, files in (("training", self.data), ("validation", self.val_data)):
            for item in files:
                if check_files and not Path(item).expanduser().is_file():
                    problems.append(ConfigProblem(f"The {label} file {item} does not exist.",
                                                  f"{label}_file_missing", path=item))
        if not 0 <= self.val_ratio < 1:
            problems.append(f"The validation share must be from 0 to under 1 (it is {self.val_ratio}).")
        if self.lora_r < 1 or self.lora_r > 1024:
            problems.append(f"LoRA rank must be between 1 and 1024 (it is {self.lora_r}).")
        if self.lora_alpha <= 0:
            problems.append(f"LoRA alpha must be positive (it is {self.lora_alpha}).")
        if not 0 <= self.lora_dropout < 1:
            problems.append(f"LoRA dropout must be from 0 to under 1 (it is {self.lora_dropout}).")
        if self.target_modules is not None and not self.target_modules:
            problems.append(ConfigProblem("Target modules is empty: leave it unset to choose them for the "
                                          "architecture.", "no_targets"))
        if not 0 < self.learning_rate < 1:
            problems.append(f"The learning rate {self.learning_rate} is out of range; try 1e-4 to 3e-4.")
        if self.lr_scheduler not in SCHEDULERS:
            problems.append(f"Unknown learning-rate schedule {self.lr_scheduler!r}; use one of {', '.join(SCHEDULERS)}.")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"Warmup must be a share of the run from 0 to under 1 (it is {self.warmup_ratio}).")
        if self.weight_decay < 0:
            problems.append(f"Weight decay cannot be negative (it is {self.weight_decay}).")
        if self.max_steps <= 0 and not self.epochs > 0:
            problems.append(ConfigProblem("Set a number of epochs above 0 or a maximum number of steps.",
                                          "no_length"))
        if self.max_steps == 0:
            problems.append("Maximum steps is 0: use -1 to train by epochs, or a positive number.")
        if self.batch_size < 1:
            problems.append(f"Batch size must be at least 1 (it is {self.batch_size}).")
        if self.grad_accum < 1:
            problems.append(f"Gradient accumulation must be at least 1 (it is {self.grad_accum}).")
        if self.max_seq_len < 16:
            problems.append(f"The maximum sequence length {self.max_seq_len} is too short; use at least 16 tokens.")
        for name in ("eval_every", "save_every"):
            if getattr(self, name) < 0:
                problems.append(f"{name} cannot be negative; 0 picks a sensible interval.")
        if self.logging_every < 1:
            problems.append("logging_every must be at least 1.")
        return problems

    def check(self, *, check_files: bool = True) -> None:
        problems = self.validate(check_files=check_files)
        if problems:
            raise ConfigError(" ".join(problems))

    # --- derived values -----------------------------------------------------------------------
    def with_defaults_for(self, n_params: int, architecture: str) -> "RunConfig":
        return replace(self, **defaults_for(n_params, architecture))

    def resolved(self, root: Path | None = None) -> "RunConfig":
        """A copy with absolute paths and a run folder picked (runs_root()/<time>-<model>-<data>)."""
        config = replace(self, data=list(self.data), val_data=list(self.val_data))
        config.base_model = str(Path(self.base_model).expanduser().resolve()) if self.base_model else ""
        config.data = [str(Path(p).expanduser().resolve()) for p in self.data]
        config.val_data = [str(Path(p).expanduser().resolve()) for p in self.val_data]
        if not config.output_dir:
            from studio.core.training.runs import runs_root
            model = _slug(Path(self.base_model).stem if self.base_model else "model")
            data = _slug(Path(self.data[0]).stem if self.data else "data")
            stamp = time.strftime("%Y%m%d-%H%M%S")
            folder = (root or runs_root()) / f"{stamp}-{model}-{data}"
            n = 2
            while folder.exists():
                folder = folder.with_name(f"{stamp}-{model}-{data}-{n}")
                n += 1
            config.output_dir = str(folder)
        else:
            config.output_dir = str(Path(self.output_dir).expanduser().resolve())
        return config

    def total_steps(self, n_batches: int, world_size: int = 1) -> int:
        """Optimizer steps for a run over `n_batches` batches per epoch."""
        if self.max_steps > 0:
            return self.max_steps
        per_epoch = max(1, math.ceil(n_batches / (self.grad_accum * world_size)))
        return max(1, math.ceil(self.epochs * per_epoch))

    def eval_interval(self, total: int) -> int:
        return self.eval_every if self.eval_every > 0 else max(1, total // 10)

    def save_interval(self, total: int) -> int:
        return self.save_every if self.save_every > 0 else max(1, total // 5)


def _coerce(key: str, value: Any, annotation: Any, source: str) -> Any:
    """Type-check one JSON value against its field, with a sentence naming the key."""
    kind = str(annotation)
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{source}: {key!r} must be {expected}, not {json.dumps(value)}")
    if kind.startswith("list[str]"):
        if value is None and "None" in kind:
            return None
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return list(value)
    if kind.startswith("dict"):
        if value is not None and not isinstance(value, dict):
            raise bad("an object")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if kind == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise bad("a whole number")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a number")
        return float(value)
    if kind.startswith("str"):
        if value is None and "None" in kind:
            return None
        if not isinstance(value, str):
            raise bad("text")
        return value
    return value


def _relative_to(value: str, base: Path) -> str:
    if not value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:40] or "run"


def _similar(a: str, b: str) -> bool:
    a, b = a.lower().replace("-", "_"), b.lower()
    return a in b or b in a or (len(a) > 3 and a[:4] == b[:4])
