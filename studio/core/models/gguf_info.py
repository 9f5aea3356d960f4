"""Read and validate GGUF model files before llama.cpp ever sees them.

The header is walked with `struct` over an mmap instead of `gguf.GGUFReader`: the reader builds a
numpy view per token string (~2 s and lots of memory for a 49k vocabulary), while skipping arrays
by their lengths takes tens of milliseconds. The gguf package still supplies the format knowledge
(value types, tensor types and sizes, file types, architecture names).
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

from studio.core.models.errors import ModelFileError
from studio.core.models.templates import check_chat_template

SUPPORTED_VERSIONS = (2, 3)
KNOWN_ARCHITECTURES = frozenset(gguf.MODEL_ARCH_NAMES.values())
_MAX_DIMS = 4  # GGML_MAX_DIMS
_CUT_SHORT = "the download or copy was cut short; download it again"

_SCALAR_FORMATS = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h", GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f", GGUFValueType.BOOL: "<?", GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d",
}


def format_size(n: int | float) -> str:
    """Decimal units, like file managers and download pages show them."""
    if n < 1000:
        return f"{int(n)} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")


def _format_count(n: int) -> str:
    if n >= 1_000_000_000:
        return f"{n / 1e9:.2f} B"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} M"
    return f"{n:,}"


@dataclass
class GGUFInfo:
    path: Path
    file_size: int
    version: int
    architecture: str
    name: str | None
    general_type: str | None
    quantization: str
    parameter_count: int
    context_length: int | None
    block_count: int | None
    head_count: int | None
    head_count_kv: int | None
    embedding_length: int | None
    vocab_size: int | None
    chat_template: str | None
    bos_token_id: int | None
    eos_token_id: int | None
    tensor_count: int
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)

    def summary(self) -> list[tuple[str, str]]:
        def opt(v: int | None) -> str:
            return "—" if v is None else f"{v:,}"

        heads = opt(self.head_count)
        if self.head_count_kv is not None and self.head_count_kv != self.head_count:
            heads += f" ({self.head_count_kv:,} key/value)"
        return [
            ("File", self.path.name),
            ("Name", self.name or "—"),
            ("Size", format_size(self.file_size)),
            ("Architecture", self.architecture),
            ("Parameters", _format_count(self.parameter_count)),
            ("Quantization", self.quantization),
            ("Context length", opt(self.context_length)),
            ("Layers", opt(self.block_count)),
            ("Attention heads", heads),
            ("Embedding size", opt(self.embedding_length)),
            ("Vocabulary", opt(self.vocab_size)),
            ("Chat template", "built in" if self.chat_template else "none (plain prompts)"),
            ("Tensors", f"{self.tensor_count:,}"),
            ("GGUF version", str(self.version)),
        ]


# --- header walk -------------------------------------------------------------------------------

class _Short(Exception):
    """The file ended while reading args[0]."""


class _Bad(Exception):
    """The header holds something impossible."""


class _Scanner:
    def __init__(self, buf: Any, size: int):
        self.buf, self.size, self.pos = buf, size, 0

    def take(self, fmt: str, what: str) -> Any:
        n = struct.calcsize(fmt)
        if self.pos + n > self.size:
            raise _Short(what)
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += n
        return value

    def skip(self, n: int, what: str) -> None:
        if self.pos + n > self.size:
            raise _Short(what)
        self.pos += n

    def length(self, what: str) -> int:
        n = self.take("<Q", what)
        if n > self.size:  # a real length can never exceed the whole file
            raise _Bad(f"{what} claims {n:,} items/bytes, more than the whole file")
        return n

    def string(self, what: str) -> str:
        n = self.length(what)
        start = self.pos
        self.skip(n, what)
        try:
            return bytes(self.buf[start:start + n]).decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad(f"{what} is not valid UTF-8 text") from None

    def value(self, raw_type: int, what: str) -> Any:
        try:
            vtype = GGUFValueType(raw_type)
        except ValueError:
            raise _Bad(f"{what} has unknown value type {raw_type}") from None
        if vtype in _SCALAR_FORMATS:
            return self.take(_SCALAR_FORMATS[vtype], what)
        if vtype == GGUFValueType.STRING:
            return self.string(what)
        item_raw = self.take("<I", what)
        count = self.length(what)
        try:
            item_type = GGUFValueType(item_raw)
        except ValueError:
            raise _Bad(f"{what} is an array of unknown value type {item_raw}") from None
        least = struct.calcsize(_SCALAR_FORMATS.get(item_type, "<Q"))  # strings/arrays: >= 8
        if count * least > self.size - self.pos:  # would run off the end: fail before looping
            raise _Short(what)
        if item_type in _SCALAR_FORMATS:
            self.skip(count * struct.calcsize(_SCALAR_FORMATS[item_type]), what)
        elif item_type == GGUFValueType.STRING:
            for _ in range(count):  # skip by length; decoding 49k tokens is not needed here
                self.skip(self.length(what), what)
        else:
            for _ in range(count):
                self.value(item_raw, what)
        kind = "str" if item_type == GGUFValueType.STRING else item_type.name.lower()
        return f"[array of {count} {kind}]"


@dataclass
class _Tensor:
    name: str
    ggml_type: GGMLQuantizationType
    n_elements: int
    n_bytes: int
    offset: int
    n_dims: int
    dims: tuple[int, ...] = ()   # ggml order: dims[0] is the row (the fastest-changing) length


def _scan(buf: Any, size: int) -> tuple[dict[str, Any], list[_Tensor], int]:
    """Walk the header; returns (metadata, tensors, absolute offset where tensor data starts)."""
    sc = _Scanner(buf, size)
    sc.pos = 8  # magic and version were checked already
    n_tensors = sc.take("<Q", "the tensor count")
    n_kv = sc.take("<Q", "the metadata count")
    if n_tensors > size or n_kv > size:
        raise _Bad(f"the header claims {n_tensors:,} tensors and {n_kv:,} metadata entries")
    meta: dict[str, Any] = {}
    for i in range(n_kv):
        key = sc.string(f"metadata key #{i + 1}")
        if key in meta:
            raise _Bad(f"metadata key '{key}' appears twice")
        meta[key] = sc.value(sc.take("<I", f"metadata '{key}'"), f"metadata '{key}'")
    alignment = meta.get("general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise _Bad(f"general.alignment is {alignment!r}, not a power of two")
    tensors: list[_Tensor] = []
    names: set[str] = set()
    for i in range(n_tensors):
        name = sc.string(f"tensor #{i + 1}'s name")
        what = f"tensor '{name}'"
        n_dims = sc.take("<I", what)
        if n_dims > _MAX_DIMS:
            raise _Bad(f"{what} has {n_dims} dimensions (llama.cpp allows at most {_MAX_DIMS})")
        dims = [sc.take("<Q", what) for _ in range(n_dims)]
        raw_type = sc.take("<I", what)
        offset = sc.take("<Q", what)
        try:
            ggml_type = GGMLQuantizationType(raw_type)
            block, type_size = GGML_QUANT_SIZES[ggml_type]
        except (ValueError, KeyError):
            raise _Bad(f"{what} has unknown data type {raw_type} (damaged, or made by a newer "
                       "llama.cpp than this app ships)") from None
        if name in names:
            raise _Bad(f"tensor '{name}' appears twice")
        names.add(name)
        if dims and dims[0] % block:
            raise _Bad(f"{what} has a row of {dims[0]} values, not a multiple of its "
                       f"{ggml_type.name} block size {block}")
        if offset % alignment:
            raise _Bad(f"{what} starts at offset {offset}, not aligned to {alignment} bytes")
        n_elements = 1
        for d in dims:
            n_elements *= d
        tensors.append(_Tensor(name, ggml_type, n_elements, n_elements * type_size // block,
                               offset, n_dims, tuple(dims)))
    data_start = -(-sc.pos // alignment) * alignment
    return meta, tensors, data_start


# --- not-a-GGUF detection ----------------------------------------------------------------------

_OLD_GGML = ("an old GGML-era model (before GGUF); convert it with llama.cpp's "
             "convert_llama_ggml_to_gguf.py")
_SIGNATURES = [
    (b"PK\x03\x04", "a ZIP archive (PyTorch checkpoints are ZIP files too)"),
    (b"version https://git-lfs", "a Git LFS pointer, not the model itself; fetch the real file "
     "with `git lfs pull` or the site's download button"),
    (b"\x1f\x8b", "a gzip archive; unpack it first"),
    (b"7z\xbc\xaf", "a 7-Zip archive; unpack it first"),
    (b"Rar!", "a RAR archive; unpack it first"),
    (b"\x89HDF", "an HDF5 (Keras) weights file"),
    (b"lmgg", _OLD_GGML), (b"tjgg", _OLD_GGML), (b"fmgg", _OLD_GGML),
]


def _describe_foreign(head: bytes, size: int) -> str | None:
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return what
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (an old PyTorch checkpoint)"
    if len(head) > 8 and head[8:9] == b"{" and 0 < struct.unpack_from("<Q", head)[0] < size:
        return ("safetensors weights; convert them to GGUF with llama.cpp's "
                "convert_hf_to_gguf.py")
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
        return "an HTML page (often an error or login page saved instead of the model)"
    for cut in range(4):  # the 64-byte window may split a multi-byte character
        try:
            decoded = head[:len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded and all(c.isprintable() or c in "\r\n\t" for c in decoded):
            return "a text file"
        break
    return None


# --- reading -----------------------------------------------------------------------------------

def _int(meta: dict[str, Any], key: str) -> int | None:
    v = meta.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _quantization(meta: dict[str, Any], tensors: list[_Tensor]) -> str:
    file_type = _int(meta, "general.file_type")
    if file_type is not None:
        try:
            ftype = gguf.LlamaFileType(file_type)
        except ValueError:
            ftype = None
        if ftype is not None and ftype != gguf.LlamaFileType.GUESSED:
            return "F32" if ftype == gguf.LlamaFileType.ALL_F32 else ftype.name.removeprefix("MOSTLY_")
    # No usable file type: name it after the type holding most bytes of the matrices.
    weights: dict[str, int] = {}
    for t in tensors:
        if t.n_dims >= 2 or len(tensors) == 1:
            weights[t.ggml_type.name] = weights.get(t.ggml_type.name, 0) + t.n_bytes
    return max(weights, key=weights.__getitem__) if weights else "unknown"


def read_gguf_info(path: str | Path) -> GGUFInfo:
    """Validate a GGUF file and return its metadata; raises ModelFileError saying what is wrong."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelFileError("not_found", f"no such file: {path}")
    if not path.is_file():
        raise ModelFileError("not_a_file", f"{path} is a folder or device, not a model file")
    try:
        size = path.stat().st_size
        if size == 0:
            raise ModelFileError("empty", f"{path.name} is empty (0 bytes); {_CUT_SHORT}")
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _read(path, buf, size)
    except PermissionError:
        raise ModelFileError("not_a_file", f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise ModelFileError("not_a_file", f"cannot read {path}: {exc.strerror or exc}") from None


def _read(path: Path, buf: Any, size: int) -> GGUFInfo:
    version = _header_version(bytes(buf[:64]), size)
    meta, tensors = _scan_whole(buf, size)
    arch, general_type = _runnable_architecture(meta, tensors)
    template = meta.get("tokenizer.chat_template")
    template = template if isinstance(template, str) and template.strip() else None
    if template is not None:
        check_chat_template(template)

    vocab = _int(meta, f"{arch}.vocab_size")
    tokens = meta.get("tokenizer.ggml.tokens")
    if vocab is None and isinstance(tokens, str):
        match = re.match(r"\[array of (\d+) ", tokens)
        vocab = int(match.group(1)) if match else None
    name = meta.get("general.name")
    return GGUFInfo(
        path=path, file_size=size, version=version, architecture=arch,
        name=name if isinstance(name, str) else None,
        general_type=general_type if isinstance(general_type, str) else None,
        quantization=_quantization(meta, tensors),
        parameter_count=sum(t.n_elements for t in tensors),
        context_length=_int(meta, f"{arch}.context_length"),
        block_count=_int(meta, f"{arch}.block_count"),
        head_count=_int(meta, f"{arch}.attention.head_count"),
        head_count_kv=_int(meta, f"{arch}.attention.head_count_kv"),
        embedding_length=_int(meta, f"{arch}.embedding_length"),
        vocab_size=vocab, chat_template=template,
        bos_token_id=_int(meta, "tokenizer.ggml.bos_token_id"),
        eos_token_id=_int(meta, "tokenizer.ggml.eos_token_id"),
        tensor_count=len(tensors), metadata=meta,
    )


def _header_version(head: bytes, size: int) -> int:
    """The GGUF version, or ModelFileError saying what the file is instead."""
    if not head.startswith(b"GGUF"):
        if size < 4 and b"GGUF".startswith(head):
            raise ModelFileError("truncated", f"truncated: the file has only {size} bytes; "
                                 f"{_CUT_SHORT}")
        what = _describe_foreign(head, size)
        looks = f" (looks like {what})" if what else ""
        raise ModelFileError("not_gguf", f"not a GGUF file: it starts with {head[:4]!r}{looks}, "
                             "not 'GGUF'")
    if size < 8:
        raise ModelFileError("truncated", f"truncated: the file has only {size} bytes, not even "
                             f"a full GGUF header; {_CUT_SHORT}")
    version = struct.unpack_from("<I", head, 4)[0]
    if version not in SUPPORTED_VERSIONS:
        if version and version & 0xFFFF == 0:
            raise ModelFileError("unsupported_version", "this GGUF file is big-endian (made for "
                                 "machines like IBM Z); get the little-endian file instead")
        hint = ("made by an early converter; convert the model again with a current llama.cpp"
                if version < 2 else "probably made by a newer llama.cpp than this app ships")
        raise ModelFileError("unsupported_version", f"unsupported GGUF version {version} (this "
                             f"app reads versions 2 and 3), {hint}")
    return version


def _scan_whole(buf: Any, size: int) -> tuple[dict[str, Any], list[Any]]:
    """Metadata and tensor records, checked to fit inside the file."""
    try:
        meta, tensors, data_start = _scan(buf, size)
    except _Short as short:
        raise ModelFileError("truncated", f"truncated: the file has only {format_size(size)} and "
                             f"ends inside its header (while reading {short.args[0]}), so the "
                             f"weights are missing — {_CUT_SHORT}") from None
    except RecursionError:
        raise ModelFileError("corrupt", "corrupt GGUF header: arrays nested impossibly deep; "
                             "the file is damaged, download it again") from None
    except _Bad as bad:
        raise ModelFileError("corrupt", f"corrupt GGUF header: {bad}; the file is damaged, "
                             "download it again") from None
    expected = max((data_start + t.offset + t.n_bytes for t in tensors), default=data_start)
    if size < expected:
        raise ModelFileError("truncated", f"truncated: expected {format_size(expected)}, file has "
                             f"{format_size(size)} — {_CUT_SHORT}")
    return meta, tensors


def _runnable_architecture(meta: dict[str, Any], tensors: list[Any]) -> tuple[str, Any]:
    """(architecture, general.type) of a file llama.cpp can run as a model; adapters, projectors,
    vocabulary-only files and unknown architectures are refused with what they are."""
    general_type = meta.get("general.type")
    arch = meta.get("general.architecture")
    if general_type == "adapter" or "adapter.type" in meta:
        raise ModelFileError("not_a_model", "this is a LoRA adapter, not a model; attach it to a "
                             "base model in chat settings")
    if arch == "clip" or general_type == "mmproj":
        raise ModelFileError("not_a_model", "this is a vision projector (mmproj) that goes with a "
                             "multimodal model; it cannot chat on its own")
    if not tensors:
        raise ModelFileError("not_a_model", "this GGUF file holds no weights (probably a "
                             "vocabulary-only file); pick the model file instead")
    if not isinstance(arch, str) or not arch:
        raise ModelFileError("unknown_architecture", "the file does not say which architecture it "
                             "is (general.architecture is missing), so llama.cpp cannot run it")
    if arch not in KNOWN_ARCHITECTURES:
        raise ModelFileError("unknown_architecture", f"unknown architecture '{arch}' — llama.cpp "
                             "cannot run it (it may need a newer llama.cpp than this app ships)")
    return arch, general_type


def scan_metadata_prefix(head: bytes) -> dict[str, Any] | None:
    """The metadata of a GGUF file from its first bytes only (a Range request's answer), or None when
    `head` ends before the metadata does (ask for more). Tensor records are not read. Raises
    ModelFileError when the bytes are not a GGUF header at all."""
    if len(head) < 24:
        return None
    _header_version(head[:64], len(head))
    sc = _Scanner(head, len(head))
    sc.pos = 16  # magic, version, tensor count
    try:
        n_kv = sc.take("<Q", "the metadata count")
        meta: dict[str, Any] = {}
        for i in range(n_kv):
            key = sc.string(f"metadata key #{i + 1}")
            meta[key] = sc.value(sc.take("<I", f"metadata '{key}'"), f"metadata '{key}'")
        return meta
    except _Short:
        return None
    except _Bad as bad:  # a length "longer than the file" is only longer than what we fetched
        if "more than the whole file" in str(bad):
            return None
        raise ModelFileError("corrupt", f"corrupt GGUF header: {bad}") from None


def read_token_strings(path: str | Path, ids: "list[int] | set[int] | tuple[int, ...]") -> dict[int, str]:
    """The vocabulary strings of the given token ids (e.g. BOS/EOS for a chat template).

    Walks the header again but decodes only the wanted entries of tokenizer.ggml.tokens, so it
    costs milliseconds even for a large vocabulary. Ids outside the vocabulary are left out.
    """
    wanted = {i for i in ids if isinstance(i, int) and i >= 0}
    found: dict[int, str] = {}
    path = Path(path).expanduser()
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        size = len(buf)
        if not wanted or size < 24 or bytes(buf[:4]) != b"GGUF":
            return found
        sc = _Scanner(buf, size)
        sc.pos = 16  # magic, version, tensor count
        try:
            n_kv = sc.take("<Q", "the metadata count")
            for i in range(n_kv):
                key = sc.string(f"metadata key #{i + 1}")
                raw_type = sc.take("<I", f"metadata '{key}'")
                if key != "tokenizer.ggml.tokens" or raw_type != GGUFValueType.ARRAY:
                    sc.value(raw_type, f"metadata '{key}'")
                    continue
                if sc.take("<I", key) != GGUFValueType.STRING:
                    return found
                for index in range(sc.length(key)):
                    if index in wanted:
                        found[index] = sc.string(key)
                        if len(found) == len(wanted):
                            return found
                    else:
                        sc.skip(sc.length(key), key)
                return found
        except (_Short, _Bad):
            pass  # damaged header: read_gguf_info reports that; here we simply know fewer tokens
    return found
