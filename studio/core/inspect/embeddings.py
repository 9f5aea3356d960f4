"""A model's input embedding matrix: nearest neighbours of a token (cosine) and a 2-D map (PCA).

The matrix is read straight from the GGUF's `token_embd.weight` tensor and dequantized with the
gguf package (numpy, no torch, no llama.cpp context): the model is never loaded for generation.
The header is walked with the fast scanner from studio.core.models.gguf_info (GGUFReader would
spend ~2 s on the vocabulary strings), the tensor's bytes are memory-mapped, and rows are
dequantized in chunks so a caller can show progress and cancel. Pieces and tokenizing come from the
vocabulary-only llama.cpp tokenizer of studio.core.inspect.tokens (its cache is reused).

The dequantized matrix is kept in memory as float32, unit-normalised (cosine is then a dot
product), for the last two files. Everything here blocks: call it from a thread
(`studio.ui.tasks.in_thread`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.core.inspect.errors import TokenizerError
from studio.core.inspect.tokens import Tokenizer, _piece_label, open_tokenizer
from studio.core.models.gguf_tensors import GgufTensors

TENSOR = "token_embd.weight"
_CHUNK_ROWS = 4096
_CACHE_SIZE = 2


class EmbeddingError(TokenizerError):
    """A file without a usable token_embd tensor, a word that has no tokens, a cancelled load.
    kind: "model_file", "tensor", "word", "cancelled" (and the tokenizer's kinds)."""


@dataclass(frozen=True)
class Estimate:
    """What loading the matrix costs, known from the header alone (milliseconds to read)."""
    rows: int            # vocabulary entries in the matrix
    dim: int             # embedding size
    ggml_type: str       # e.g. "Q4_1"
    file_bytes: int      # bytes read from the GGUF
    memory_bytes: int    # rows × dim × 4: the float32 copy kept in memory

    def sentence(self) -> str:
        return (f"reads {self.rows:,} × {self.dim:,} floats = {self.memory_bytes / 1e6:,.0f} MB "
                f"(from {self.file_bytes / 1e6:,.0f} MB of {self.ggml_type} in the file)")


@dataclass(frozen=True)
class Neighbour:
    id: int
    piece: str           # a label: whitespace made visible, bytes as <0x..>
    cosine: float


@dataclass(frozen=True)
class NeighbourResult:
    query: str
    token_ids: list[int]         # the query's tokens; their mean vector was compared
    token_pieces: list[str]
    neighbours: list[Neighbour]

    @property
    def averaged(self) -> bool:
        return len(self.token_ids) > 1


@dataclass(frozen=True)
class PcaMap:
    words: list[str]
    token_ids: list[list[int]]
    points: np.ndarray               # (n_words, 2)
    explained: tuple[float, float]   # share of the variance along each axis

    @property
    def explained_total(self) -> float:
        return float(sum(self.explained))


def _locate(path: Path) -> tuple[GgufTensors, Estimate]:
    from studio.core.models.gguf_tensors import TensorReadError

    try:
        tensors = GgufTensors(path)
        dim = tensors.info.embedding_length
        if not tensors.has(TENSOR) or not dim or tensors.shape(TENSOR)[1] != dim:
            raise EmbeddingError("tensor", f"{path.name} has no {TENSOR} tensor this view can read.")
        tensors.check_readable(TENSOR)
    except TensorReadError as exc:
        raise EmbeddingError(exc.kind, exc.message) from None
    rows = tensors.shape(TENSOR)[0]
    return tensors, Estimate(rows=rows, dim=dim, ggml_type=tensors.type_name(TENSOR),
                             file_bytes=tensors.nbytes(TENSOR), memory_bytes=rows * dim * 4)


def estimate(path: str | os.PathLike[str]) -> Estimate:
    """The cost of `load` for this file, from its header (no tensor data is read)."""
    return _locate(Path(path).expanduser())[1]


class Embeddings:
    """One file's input embeddings (unit rows, float32) and its tokenizer."""

    def __init__(self, path: Path, matrix: np.ndarray, norms: np.ndarray, tokenizer: Tokenizer,
                 est: Estimate, seconds: float) -> None:
        self.path = path
        self.unit = matrix          # (rows, dim), each row divided by its norm
        self.norms = norms          # (rows,) the rows' original lengths
        self.tokenizer = tokenizer
        self.estimate = est
        self.load_seconds = seconds

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.unit.shape[0]), int(self.unit.shape[1]))

    def row(self, token_id: int) -> np.ndarray:
        """The dequantized embedding of one token, as stored in the file."""
        token = self._check(token_id)
        return self.unit[token] * self.norms[token]

    def _check(self, token_id: int) -> int:
        token = int(token_id)
        if not 0 <= token < self.unit.shape[0]:
            raise EmbeddingError("word", f"Token id {token} is outside this model (0 to {self.unit.shape[0] - 1}).")
        return token

    def label(self, token_id: int) -> str:
        try:
            return _piece_label(self.tokenizer.piece(token_id))
        except TokenizerError:
            return f"#{token_id}"

    def tokens_of(self, word: str | int) -> list[int]:
        """A token id (an int, or text like "#4197") is itself; text is tokenized as written, no
        BOS/EOS added, so " king" (with the space, as mid-sentence) and "king" differ."""
        if isinstance(word, int):
            return [self._check(word)]
        text = str(word)
        stripped = text.strip()
        if stripped.startswith("#") and stripped[1:].isdigit():
            return [self._check(int(stripped[1:]))]
        if not text.strip():
            raise EmbeddingError("word", "Type a word or a token id (#123).")
        ids = [i for i in self.tokenizer._ids(text.encode("utf-8"), False, False) if 0 <= i < self.unit.shape[0]]
        if not ids:
            raise EmbeddingError("word", f"“{text}” gives no tokens with this vocabulary.")
        return ids

    def vector(self, ids: Sequence[int]) -> np.ndarray:
        """Unit mean of the tokens' unit vectors (a multi-token word is averaged over its tokens)."""
        v = self.unit[list(ids)].mean(axis=0)
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v

    def nearest(self, word: str | int, k: int = 20) -> NeighbourResult:
        """The k tokens whose embeddings have the highest cosine with `word`'s (itself included:
        a single token is its own first neighbour at 1.0)."""
        ids = self.tokens_of(word)
        scores = self.unit @ self.vector(ids)
        k = max(1, min(int(k), scores.shape[0]))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return NeighbourResult(
            query=str(word), token_ids=ids, token_pieces=[self.label(i) for i in ids],
            neighbours=[Neighbour(int(t), self.label(int(t)), float(scores[t])) for t in top])

    def pca_map(self, words: Sequence[str | int]) -> PcaMap:
        """2-D coordinates of each word's (unit, token-averaged) vector: the top two principal
        components of the centred vectors, with the share of variance each explains."""
        words = [w for w in words if str(w).strip()]
        if len(words) < 2:
            raise EmbeddingError("word", "The map needs at least two words.")
        ids = [self.tokens_of(w) for w in words]
        x = np.stack([self.vector(i) for i in ids]).astype(np.float64)
        x -= x.mean(axis=0, keepdims=True)
        u, s, _vt = np.linalg.svd(x, full_matrices=False)
        var = s ** 2
        total = float(var.sum())
        if total <= 0:
            raise EmbeddingError("word", "These words all have the same embedding; there is nothing to map.")
        s2 = np.zeros(2)
        s2[:min(2, s.shape[0])] = s[:2]
        u2 = np.zeros((u.shape[0], 2))
        u2[:, :min(2, u.shape[1])] = u[:, :2]
        points = u2 * s2
        for axis in range(2):  # a stable sign: the first word on the positive side where possible
            j = int(np.argmax(np.abs(points[:, axis])))
            if points[j, axis] < 0:
                points[:, axis] *= -1
        explained = (float(s2[0] ** 2 / total), float(s2[1] ** 2 / total))
        return PcaMap([str(w) for w in words], ids, points, explained)


# --- loading and cache -----------------------------------------------------------------------------

_CACHE: OrderedDict[tuple[str, int, int], Embeddings] = OrderedDict()
_LOCK = threading.Lock()
_LOADING: dict[tuple[str, int, int], threading.Lock] = {}


def _key(path: Path) -> tuple[str, int, int]:
    try:
        resolved = path.resolve()
        stat = resolved.stat()
    except OSError:
        raise EmbeddingError("model_file", f"The model file {path.name} does not exist; choose another model.") from None
    return (str(resolved), stat.st_mtime_ns, stat.st_size)


def cached(path: str | os.PathLike[str]) -> Embeddings | None:
    """The loaded matrix for `path` if it is in memory already (and the file unchanged)."""
    try:
        key = _key(Path(path).expanduser())
    except EmbeddingError:
        return None
    with _LOCK:
        return _CACHE.get(key)


def load(path: str | os.PathLike[str], *, progress: Callable[[float], None] | None = None,
         cancel: threading.Event | None = None) -> Embeddings:
    """Dequantize `path`'s token_embd (cached for the last two files). `progress` gets 0..1 from
    the calling thread; setting `cancel` stops between chunks with EmbeddingError("cancelled")."""
    path = Path(path).expanduser()
    key = _key(path)
    with _LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
        gate = _LOADING.setdefault(key, threading.Lock())
    with gate:  # two callers for one file: the second waits and takes the first one's result
        with _LOCK:
            found = _CACHE.get(key)
        if found is not None:
            return found
        emb = _load(path, progress, cancel)
        with _LOCK:
            for old in [k for k in _CACHE if k[0] == key[0]]:
                del _CACHE[old]
            _CACHE[key] = emb
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
            _LOADING.pop(key, None)
        return emb


def _load(path: Path, progress: Callable[[float], None] | None, cancel: threading.Event | None) -> Embeddings:
    started = time.perf_counter()
    tensors, est = _locate(path)
    tokenizer = open_tokenizer(path)
    matrix = np.empty((est.rows, est.dim), dtype=np.float32)
    for start, block in tensors.blocks(TENSOR, rows=_CHUNK_ROWS):
        if cancel is not None and cancel.is_set():
            raise EmbeddingError("cancelled", "Loading the embeddings was cancelled.")
        matrix[start:start + len(block)] = block
        if progress is not None:
            progress((start + len(block)) / est.rows)
    if not np.isfinite(matrix).all():
        raise EmbeddingError("tensor", f"{path.name}'s {TENSOR} holds values that are not numbers (damaged file?).")
    norms = np.linalg.norm(matrix, axis=1)
    np.divide(matrix, np.where(norms > 0, norms, 1.0)[:, None], out=matrix)
    return Embeddings(path, matrix, norms.astype(np.float32), tokenizer, est, time.perf_counter() - started)


__all__ = ["EmbeddingError", "Embeddings", "Estimate", "Neighbour", "NeighbourResult", "PcaMap",
           "cached", "estimate", "load"]
