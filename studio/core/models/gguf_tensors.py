"""A few named tensors of a GGUF, read as float32 without loading the model for generation.

The header is walked with the fast scanner of studio.core.models.gguf_info (GGUFReader would
spend seconds on the vocabulary strings), the tensor's bytes are memory-mapped, and rows are
dequantized with the gguf package in chunks: a caller can stream a vocabulary-sized matrix
through a computation without ever holding all of it as float32.

    tensors = GgufTensors(path)
    tensors.shape("output_norm.weight")        # (1, 576)
    for start, block in tensors.blocks("token_embd.weight", rows=4096): ...
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import StudioError


class TensorReadError(StudioError):
    """kind: "model_file" (not a usable GGUF), "tensor" (missing, or a type gguf cannot read)."""


class GgufTensors:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        from studio.core.models.gguf_info import ModelFileError, _scan, read_gguf_info

        self.path = Path(path).expanduser()
        try:
            self.info = read_gguf_info(self.path)  # checks the file is whole before offsets are trusted
        except ModelFileError as exc:
            raise TensorReadError("model_file", exc.message) from None
        size = self.path.stat().st_size
        with open(self.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            self.meta, tensors, self._data_start = _scan(buf, size)
        self._tensors = {t.name: t for t in tensors}

    def has(self, name: str) -> bool:
        return name in self._tensors

    def _tensor(self, name: str) -> Any:
        tensor = self._tensors.get(name)
        if tensor is None:
            raise TensorReadError("tensor", f"{self.path.name} has no {name} tensor.")
        return tensor

    def shape(self, name: str) -> tuple[int, int]:
        """(rows, row length): a matrix's rows, or (1, n) for a vector."""
        tensor = self._tensor(name)
        width = int(tensor.dims[0]) if tensor.dims else int(tensor.n_elements)
        return int(tensor.n_elements) // max(width, 1), width

    def type_name(self, name: str) -> str:
        return str(self._tensor(name).ggml_type.name)

    def nbytes(self, name: str) -> int:
        return int(self._tensor(name).n_bytes)

    def check_readable(self, name: str) -> None:
        """Raise TensorReadError unless `name` exists in a type the gguf package can dequantize."""
        import gguf

        qtype = self._tensor(name).ggml_type
        known = getattr(gguf.quants, "_type_traits", None)  # the types dequantize() supports
        if qtype not in _plain_types() and known is not None and qtype not in known:
            raise TensorReadError("tensor", f"{self.path.name} stores {name} as {qtype.name}, which the "
                                            "installed gguf package cannot dequantize.")

    def blocks(self, name: str, rows: int = 4096) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, float32 [n, width]) for consecutive blocks of at most `rows` rows."""
        import gguf
        from gguf.quants import dequantize

        self.check_readable(name)
        tensor = self._tensor(name)
        qtype = tensor.ggml_type
        plain = _plain_types()
        n_rows, width = self.shape(name)
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        row_bytes = width // block * type_size
        raw = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self._data_start + tensor.offset,
                        shape=(n_rows, row_bytes))
        try:
            for start in range(0, n_rows, max(1, rows)):
                stop = min(start + rows, n_rows)
                chunk = np.asarray(raw[start:stop])
                if qtype in plain:
                    values = chunk.view(plain[qtype]).reshape(stop - start, width).astype(np.float32)
                else:
                    values = dequantize(chunk, qtype).reshape(stop - start, width).astype(np.float32, copy=False)
                yield start, values
        finally:
            del raw

    def read(self, name: str) -> np.ndarray:
        """The whole tensor as float32 [rows, width] (for small ones: norms, biases)."""
        parts = [values for _start, values in self.blocks(name, rows=1 << 30)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _plain_types() -> dict[Any, Any]:
    import gguf

    return {gguf.GGMLQuantizationType.F32: np.float32, gguf.GGMLQuantizationType.F16: np.float16}


__all__ = ["GgufTensors", "TensorReadError"]
