"""Offline sentence embeddings: WordLlama, whose weights and tokenizer ship inside its wheel.

`WordLlama.load()` looks for the tokenizer in `<package>/tokenizer/` (it ships in `<package>/tokenizers/`)
and then tries a download; passing the package directory as `cache_dir` with downloads disabled finds
both files and never touches the network.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from engines.insight._models import FloatArray

MODEL_NAME = "wordllama-l2_supercat-256"
EMBED_BATCH_SIZE = 512


class _WordLlamaModel(Protocol):
    def embed(self, texts: list[str], *, norm: bool, batch_size: int) -> object: ...


class Embedder:
    """Turns texts into L2-normalised float32 vectors (one row per text)."""

    def __init__(self, model: _WordLlamaModel, *, name: str, dimension: int) -> None:
        self._model = model
        self.name = name
        self.dimension = dimension

    def embed(self, texts: Sequence[str]) -> FloatArray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        raw = np.asarray(self._model.embed(list(texts), norm=False, batch_size=EMBED_BATCH_SIZE))
        vectors = raw.astype(np.float32, copy=False).reshape(len(texts), self.dimension)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        # An empty or all-unknown text embeds to zero; it stays zero rather than becoming NaN.
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


@functools.cache
def load_embedder() -> Embedder:
    """The process's embedder, loaded once from the files inside the `wordllama` wheel (no network)."""
    import wordllama  # pyright: ignore[reportMissingTypeStubs]

    package_dir = Path(wordllama.__file__).parent
    model = cast(
        "_WordLlamaModel",
        wordllama.WordLlama.load(  # pyright: ignore[reportUnknownMemberType]
            config="l2_supercat", dim=256, cache_dir=package_dir, disable_download=True
        ),
    )
    return Embedder(model, name=MODEL_NAME, dimension=256)
