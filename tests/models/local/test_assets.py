"""Assembling model files from part packages, and resolving `local:` names — no model run."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keel.exceptions import MissingExtraError, ModelAssetError, UnknownModelError
from keel.models.local import LocalModel
from keel.models.local import _assets as assets
from keel.models.registry import infer_model

PARTS = [b"GGUF-head-" * 1000, b"middle" * 3000, b"tail"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("KEEL_CACHE", str(folder))
    return folder


def make_parts(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[assets.ModelPart, ...]:
    """Install three tiny part packages (importable from `root`) holding PARTS."""
    site = root / "site"
    parts: list[assets.ModelPart] = []
    for i, data in enumerate(PARTS, start=1):
        package = site / f"fake_part_{root.name}_{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(data)
        parts.append(assets.ModelPart(package.name, f"data/part{i:02d}.bin", f"fake-part-{i}"))
    monkeypatch.syspath_prepend(str(site))
    return tuple(parts)


def make_asset(parts: tuple[assets.ModelPart, ...], sha256: str | None = None) -> assets.ModelAsset:
    digest = sha256 or hashlib.sha256(b"".join(PARTS)).hexdigest()
    return assets.ModelAsset("tiny", "a test model", "tiny.gguf", digest, parts)


def test_parts_are_joined_verified_and_progress_is_reported(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = make_asset(make_parts(tmp_path, monkeypatch))
    seen: list[tuple[str, float | None]] = []
    path = assets.ensure_asset(asset, lambda stage, done: seen.append((stage, done)))
    assert path == cache / "models" / "tiny.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert assets.is_ready(asset)
    fractions = [done for _, done in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert fractions == sorted(f for f in fractions if f is not None)
    assert all(stage == "assembling tiny" for stage, _ in seen)


def test_a_hash_mismatch_raises_and_leaves_no_file_behind(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = make_asset(make_parts(tmp_path, monkeypatch), sha256="0" * 64)
    with pytest.raises(ModelAssetError, match="sha256") as caught:
        assets.ensure_asset(asset)
    assert "pip install --force-reinstall 'keel[local]'" in str(caught.value)
    assert list((cache / "models").iterdir()) == []  # neither the model, a temp, nor a stamp
    assert not assets.is_ready(asset)


def test_a_verified_file_is_trusted_by_its_stamp_without_the_parts(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = make_parts(tmp_path, monkeypatch)
    asset = make_asset(parts)
    path = assets.ensure_asset(asset)
    for part in parts:  # the parts are gone: a second start must not need them
        (tmp_path / "site" / part.package / part.resource).unlink()
    assert assets.ensure_asset(asset) == path
    assert path.read_bytes() == b"".join(PARTS)


def test_a_changed_file_no_longer_matches_its_stamp_and_is_rebuilt(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = make_asset(make_parts(tmp_path, monkeypatch))
    path = assets.ensure_asset(asset)
    path.write_bytes(b"truncated")
    assert not assets.is_ready(asset)
    assert assets.ensure_asset(asset).read_bytes() == b"".join(PARTS)


def test_a_missing_part_package_names_it_and_the_extra_to_install(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = make_parts(tmp_path, monkeypatch)
    missing = assets.ModelPart("no_such_part_package", "data/part09.bin", "no-such-part")
    with pytest.raises(ModelAssetError, match="no-such-part") as caught:
        assets.ensure_asset(make_asset((*parts, missing)))
    assert "pip install 'keel[local]'" in str(caught.value)
    assert not (cache / "models" / "tiny.gguf").exists()


def test_the_catalog_lists_aliases_and_readiness_without_loading_llama_cpp(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = make_asset(make_parts(tmp_path, monkeypatch))
    monkeypatch.setattr(assets, "CATALOG", {"tiny": asset})
    assert assets.catalog() == [
        assets.LocalModelInfo("tiny", "a test model", cache / "models" / "tiny.gguf", "first use")
    ]
    assets.ensure_asset(asset)
    assert [(info.status, info.ready) for info in assets.catalog()] == [("ready", True)]


def test_a_model_whose_file_is_gone_is_not_ready(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = make_asset(make_parts(tmp_path, monkeypatch))
    assets.ensure_asset(asset).unlink()  # its stamp stays behind
    assert assets.status_of(asset) == "first use"


def test_a_model_whose_parts_are_not_installed_says_so(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = assets.ModelPart("no_such_part_package", "data/part09.bin", "no-such-part")
    asset = make_asset((*make_parts(tmp_path, monkeypatch), missing))
    assert assets.status_of(asset) == "missing parts"


def test_a_file_verified_under_a_former_name_is_renamed_not_rebuilt(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = make_parts(tmp_path, monkeypatch)
    old = assets.ensure_asset(make_asset(parts))
    for part in parts:  # without the parts, only a rename can make it ready
        (tmp_path / "site" / part.package / part.resource).unlink()
    renamed = dataclasses.replace(
        make_asset(parts), filename="renamed.gguf", former_filenames=(old.name,)
    )
    assert assets.status_of(renamed) == "first use"
    path = assets.ensure_asset(renamed)
    assert path.name == "renamed.gguf" and path.read_bytes() == b"".join(PARTS)
    assert assets.is_ready(renamed) and not old.exists()


def test_the_default_model_is_named_for_what_it_is(cache: Path) -> None:
    assert assets.DEFAULT_ALIAS == "qwen2.5-coder-0.5b"
    (info,) = [i for i in assets.catalog() if i.alias == assets.DEFAULT_ALIAS]
    assert "Qwen2.5-Coder-0.5B-Instruct" in info.description
    assert info.path == cache / "models" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert not info.ready  # an empty cache holds nothing yet


def test_the_former_alias_is_a_synonym_not_a_second_model() -> None:
    assert assets.find_asset("qwen2.5-0.5b") is assets.find_asset("qwen2.5-coder-0.5b")
    assert "qwen2.5-0.5b" not in [info.alias for info in assets.catalog()]
    assert infer_model("local:qwen2.5-0.5b").name == "qwen2.5-coder-0.5b"


# --- names ----------------------------------------------------------------------------------


def test_a_missing_gguf_path_is_a_model_asset_error(tmp_path: Path) -> None:
    with pytest.raises(ModelAssetError, match="no model file"):
        LocalModel.from_name(str(tmp_path / "absent.gguf"))


def test_an_unknown_alias_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"qwen2\.5-coder-0\.5b"):
        infer_model("local:gpt-17")


def test_model_strings_resolve_to_local_models(tmp_path: Path) -> None:
    gguf = tmp_path / "My-Model.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    by_path = infer_model(f"local:{gguf}")
    assert (by_path.name, by_path.provider) == ("My-Model.Q4", "local")
    default = infer_model("local:qwen2.5-coder-0.5b")
    assert (default.name, default.provider) == ("qwen2.5-coder-0.5b", "local")


def test_a_shared_model_finds_its_file_in_the_cache_of_when_it_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh object: the registry's shared one may already be loaded by an earlier test.
    model = LocalModel.from_name("qwen2.5-coder-0.5b")
    monkeypatch.setenv("KEEL_CACHE", str(tmp_path / "elsewhere"))
    assert model.path.parent == tmp_path / "elsewhere" / "models"


def test_loading_without_the_extra_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = tmp_path / "any.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` fail
    with pytest.raises(MissingExtraError, match=r"pip install 'keel\[local\]'"):
        LocalModel(gguf).prepare()


def test_a_file_llama_cpp_cannot_load_is_a_model_asset_error(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp")
    gguf = tmp_path / "broken.gguf"
    gguf.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelAssetError, match="could not load"):
        LocalModel(gguf, threads=1).prepare()


def test_importing_keel_and_resolving_a_local_model_does_not_load_llama_cpp() -> None:
    code = (
        "import sys, keel\n"
        "from keel.models.registry import infer_model\n"
        "infer_model('local:qwen2.5-coder-0.5b')\n"
        "from keel.models.local import catalog\n"
        "catalog()\n"
        "assert 'xllamacpp' not in sys.modules, 'xllamacpp was imported'\n"
    )
    env = {**os.environ, "KEEL_CACHE": "/nonexistent-keel-cache"}
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
