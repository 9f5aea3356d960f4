"""User settings, one JSON file in the user config dir: validated field by field on load (a damaged
file is copied aside first), written atomically (temp file + fsync + rename)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, TypeVar

from studio.core import limits, paths

SETTINGS_VERSION = 1


@dataclass
class EngineSettings:
    n_gpu_layers: int = 0      # 0 = CPU only, -1 = offload every layer
    n_threads: int | None = None  # None = the engine picks (physical cores minus one)
    n_batch: int = 512
    flash_attn: bool = False
    prompt_lookup: bool = True  # draft from the prompt's n-grams (studio.core.engine.lookup); it drafts
                                # only with flash_attn on, which its exact verification needs

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "EngineSettings":
        """Field by field: bad or unknown values are left out."""
        return _validated({"engine": data} if isinstance(data, dict) else {})[0].engine


@dataclass
class ServerSettings:
    """The in-app API server. Its key is a secret (studio.core.secrets), never kept here."""
    port: int = 8080
    allow_remote: bool = False   # listen on every interface (0.0.0.0); needs a key as well
    auto_start: bool = False     # start serving when the app starts


@dataclass
class KnowledgeSettings:
    """Knowledge retrieval: how a question searches the collections (see studio.core.knowledge.retrieval)."""
    mode: str = "hybrid"         # hybrid | vector | keyword
    top_k: int = 5               # chunks that go into the prompt
    min_similarity: float = 0.0  # vector candidates below this cosine are dropped


@dataclass
class AppSettings:
    last_model: str = ""
    engine: EngineSettings = field(default_factory=EngineSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    window_geometry: str = ""  # base64 of QWidget.saveGeometry()
    window_state: str = ""     # base64 of QMainWindow.saveState()
    splitter_state: str = ""
    language: str = ""         # "" = follow the system, "en", "zh_CN"
    last_conversation_id: int = 0
    # Remote engines: [{"name", "base_url", "key_ref", "models"}]; key_ref names the key in the
    # SecretStore, so no key is ever written here.
    remote_engines: list[dict[str, Any]] = field(default_factory=list)
    chat_remote: str = ""      # remote:<engine>/<model> the chat answered with last ("" = the local model)
    hub_source: str = "huggingface"  # where Find models searches: "huggingface" or "modelscope"
    hub_endpoint: str = ""     # a Hugging Face mirror ("" = HF_ENDPOINT, else huggingface.co)
    knowledge: KnowledgeSettings = field(default_factory=KnowledgeSettings)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["version"] = SETTINGS_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AppSettings":
        """Field by field, as a settings file is read: bad or unknown values are left out."""
        return _validated(data if isinstance(data, dict) else {})[0]


@dataclass
class SettingsReport:
    """What load_settings_checked found wrong. `notice` is one line for the window's banner ("" when
    the file was fine or absent); `dropped` lists the dotted names reset to their defaults;
    `backup` is the copy of the damaged file, made before anything can write over it."""

    dropped: list[str] = field(default_factory=list)
    backup: Path | None = None
    notice: str = ""


# Settings are a few hundred bytes; anything far larger is not ours, and is not read into memory.
MAX_SETTINGS_BYTES = 1024 * 1024
LANGUAGES = ("", "en", "zh_CN")
_INT64_MAX = 2**63 - 1  # conversation ids are SQLite rowids


def load_settings(path: Path | None = None) -> AppSettings:
    """The settings, with anything damaged reset to defaults; see load_settings_checked."""
    return load_settings_checked(path)[0]


def load_settings_checked(path: Path | None = None) -> tuple[AppSettings, SettingsReport]:
    """Settings validated field by field: a bad field takes its default and the rest are kept.

    A missing file gives defaults and no notice. When anything had to be dropped, the original file
    is first copied to settings.json.bad-<time> (never moved or changed here), so the next save
    cannot lose what the user had. Never raises for a damaged file: it must not stop the app."""
    try:
        path = Path(path or paths.settings_path())
    except OSError as exc:  # the config folder itself cannot be created: start with defaults
        return AppSettings(), SettingsReport(notice=f"The settings folder cannot be created ({exc.strerror or exc}); "
                                                    "every setting is at its default and changes are not saved.")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SETTINGS_BYTES + 1)
    except FileNotFoundError:
        return AppSettings(), SettingsReport()
    except OSError as exc:
        # Unreadable (permissions, a folder): nothing to copy, and the save will most likely fail too.
        reason = exc.strerror or str(exc)
        return AppSettings(), SettingsReport(
            dropped=_all_fields(), notice=f"The settings file {path} could not be read ({reason}); "
                                          f"every setting is back to its default.")
    data, problem = _parse(raw)
    if problem:
        settings, dropped = AppSettings(), _all_fields()
    else:
        settings, dropped = _validated(data)
        if not dropped:
            return settings, SettingsReport()
    backup, backup_error = _keep_copy(path)
    if problem:
        notice = f"The settings file could not be read ({problem}), so every setting is back to its default."
    else:
        notice = f"Some settings were unreadable and are back to their defaults: {', '.join(dropped)}."
    if backup is not None:
        notice += f" Your original file is kept as {backup}."
    else:
        notice += f" Keeping a copy of the original ({path}) failed: {backup_error}."
    return settings, SettingsReport(dropped=dropped, backup=backup, notice=notice)


def _parse(raw: bytes) -> tuple[dict[str, Any], str]:
    """(the file's object, "") or ({}, a few words on why it is not one)."""
    if len(raw) > MAX_SETTINGS_BYTES:
        return {}, f"it is larger than {MAX_SETTINGS_BYTES // (1024 * 1024)} MiB"
    try:
        data = json.loads(raw.decode("utf-8-sig"))  # -sig: a file edited in Notepad may start with a BOM
    except UnicodeDecodeError:
        return {}, "it is not UTF-8 text"
    except (ValueError, RecursionError):
        return {}, "it is not valid JSON"
    if not isinstance(data, dict):
        return {}, f"it holds a JSON {_json_kind(data)} instead of an object"
    return data, ""


def _validated(data: dict[str, Any]) -> tuple[AppSettings, list[str]]:
    """AppSettings from the fields that pass their check, and the dotted names of those that did not.
    Absent and unknown keys are not problems (older and newer versions write other sets)."""
    dropped: list[str] = []
    top: dict[str, Any] = {}
    for name, valid in _TOP_CHECKS.items():
        if name in data:
            if valid(data[name]):
                top[name] = data[name]
            else:
                dropped.append(name)
    engine = _section(data, "engine", EngineSettings(), _ENGINE_CHECKS, dropped)
    server = _section(data, "server", ServerSettings(), _SERVER_CHECKS, dropped)
    knowledge = _section(data, "knowledge", KnowledgeSettings(), _KNOWLEDGE_CHECKS, dropped,
                         convert=lambda name, value: float(value) if name == "min_similarity" else _plain(value))
    settings = AppSettings(engine=engine, server=server, knowledge=knowledge,
                           **{k: _plain(v) for k, v in top.items()})
    return settings, dropped


_Section = TypeVar("_Section")


def _section(data: dict[str, Any], key: str, section: _Section, checks: dict[str, Callable[[Any], bool]],
             dropped: list[str], convert: Callable[[str, Any], Any] = lambda _name, value: _plain(value)
             ) -> _Section:
    """`section` (defaults) with each field of data[key] that passes its check; the others are named in
    `dropped` as "key.field" ("key" when data[key] is not an object at all)."""
    if key not in data:
        return section
    raw = data[key]
    if not isinstance(raw, dict):
        dropped.append(key)
        return section
    for name, valid in checks.items():
        if name in raw:
            if valid(raw[name]):
                setattr(section, name, convert(name, raw[name]))
            else:
                dropped.append(f"{key}.{name}")
    return section


def _plain(value: Any) -> Any:
    """JSON's 12.0 for a whole-number field becomes 12 (the checks already allowed only whole ones)."""
    return int(value) if isinstance(value, float) else value


def _base64_text(value: Any) -> bool:
    """Qt's saved geometry/state, as written by the window: base64 in a str."""
    if not isinstance(value, str):
        return False
    try:
        base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return False
    return True


def _in_range(name: str) -> Callable[[Any], bool]:
    return limits.limit(name).contains


def _conversation_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT64_MAX


def _remote_engines(value: Any) -> bool:
    def entry(e: Any) -> bool:
        return (isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("base_url"), str)
                and isinstance(e.get("key_ref", ""), str) and isinstance(e.get("models", []), list)
                and all(isinstance(m, str) for m in e.get("models", [])))
    return isinstance(value, list) and all(entry(e) for e in value)


_TOP_CHECKS: dict[str, Callable[[Any], bool]] = {
    "last_model": lambda v: isinstance(v, str),
    "window_geometry": _base64_text,
    "window_state": _base64_text,
    "splitter_state": _base64_text,
    "language": lambda v: isinstance(v, str) and v in LANGUAGES,
    "last_conversation_id": _conversation_id,
    "remote_engines": _remote_engines,
    "chat_remote": lambda v: isinstance(v, str),
    "hub_source": lambda v: v in ("huggingface", "modelscope"),
    "hub_endpoint": lambda v: isinstance(v, str) and (v == "" or v.startswith(("http://", "https://"))),
}
_ENGINE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "n_gpu_layers": _in_range("n_gpu_layers"),
    "n_threads": lambda v: v is None or limits.limit("n_threads").contains(v),
    "n_batch": _in_range("n_batch"),
    "flash_attn": lambda v: isinstance(v, bool),  # a JSON "no" is a mistake, not a truthy string
    "prompt_lookup": lambda v: isinstance(v, bool),
}
_SERVER_CHECKS: dict[str, Callable[[Any], bool]] = {
    "port": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65535,
    "allow_remote": lambda v: isinstance(v, bool),
    "auto_start": lambda v: isinstance(v, bool),
}

_KNOWLEDGE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "mode": lambda v: v in ("hybrid", "vector", "keyword"),
    "top_k": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100,
    "min_similarity": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and -1.0 <= v <= 1.0,
}


def _all_fields() -> list[str]:
    return [f.name for f in fields(AppSettings)]


def _json_kind(value: Any) -> str:
    kinds = {list: "list", str: "string", bool: "true/false", type(None): "null", int: "number", float: "number"}
    return kinds.get(type(value), type(value).__name__)


def _keep_copy(path: Path) -> tuple[Path | None, str]:
    """Copy `path` to `<name>.bad-<YYYYmmdd-HHMMSS>[-n]` beside it; (copy, "") or (None, why not).
    A copy, not a move: until the next save the user's file stays exactly where and what it was."""
    earlier = _newest_copy(path)
    if earlier is not None:
        return earlier, ""  # the same damage seen again (the app did not get to save): one copy is enough
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for attempt in range(1, 1000):
        suffix = f".bad-{stamp}" if attempt == 1 else f".bad-{stamp}-{attempt}"
        target = path.with_name(path.name + suffix)
        try:
            # "xb" so two starts in the same second never overwrite an earlier copy.
            copy = open(target, "xb")
        except FileExistsError:
            continue
        except OSError as exc:
            return None, exc.strerror or str(exc)
        try:
            with open(path, "rb") as source, copy:
                shutil.copyfileobj(source, copy)
                copy.flush()
                os.fsync(copy.fileno())
        except OSError as exc:
            target.unlink(missing_ok=True)  # a partial copy (disk full) would only mislead
            return None, exc.strerror or str(exc)
        return target, ""
    return None, "too many earlier copies"


def _newest_copy(path: Path) -> Path | None:
    """The latest settings.json.bad-* if it holds exactly the bytes of `path`, else None."""
    try:
        copies = [(p.stat().st_mtime, p) for p in path.parent.glob(path.name + ".bad-*") if p.is_file()]
        if not copies:
            return None
        newest = max(copies)[1]
        import filecmp  # only after a damaged settings file: not on every start

        return newest if filecmp.cmp(path, newest, shallow=False) else None
    except OSError:
        return None


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    """Write atomically: a temp file in the same folder, fsync, rename. A folder that cannot be
    written raises OSError whose text says which file and why, for the caller to show."""
    path = Path(path or paths.settings_path())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=path.parent)
    except OSError as exc:
        raise OSError(f"{path} could not be written ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(settings.to_dict(), handle, indent=2, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OSError(f"{path} could not be written ({exc.strerror or exc})") from exc
        raise
