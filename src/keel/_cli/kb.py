"""`keel kb`: ingest files into the knowledge base, search it, list and rebuild it.

The knowledge base lives in the app's database (`--app`; the default app's otherwise),
scoped by tenant (`--tenant`, default "default"). Heavy imports (numpy, onnxruntime)
happen inside each command, so `keel --help` stays fast.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from keel.principal import DEFAULT_TENANT

if TYPE_CHECKING:
    from keel.knowledge import IngestReport, KnowledgeBase, Reranker, SearchResult

__all__ = ["kb_app"]

kb_app = typer.Typer(
    help="The knowledge base: ingest documents, search them with citations.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

AppOpt = Annotated[
    str | None,
    typer.Option("--app", metavar="MODULE:ATTR", help="Use this app's database."),
]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")]
EmbedderOpt = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        metavar="NAME",
        help="minilm (the default), minilm-int8 or static (fast, less accurate); "
        "default: the app's knowledge_embedder, else what the knowledge base was "
        "embedded with.",
    ),
]
RerankUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--rerank-url",
        metavar="URL",
        help="Re-rank the passages with this rerank endpoint (Cohere/Jina/vLLM/llama.cpp "
        "format, e.g. http://127.0.0.1:8080/v1/rerank); default: the app's "
        "knowledge_reranker. A failing one leaves the fused order, with a note.",
    ),
]
RerankModelOpt = Annotated[
    str | None,
    typer.Option("--rerank-model", metavar="NAME", help="The model the endpoint should use."),
]
RerankKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--rerank-key-env",
        metavar="VAR",
        help="Send the API key in this environment variable as a bearer token.",
    ),
]
TenantOpt = Annotated[
    str, typer.Option("--tenant", metavar="ID", help="Whose knowledge base (default: default).")
]


def open_kb(
    app_path: str | None, embedder: str | None = None, reranker: Reranker | None = None
) -> KnowledgeBase:
    """The app's knowledge base, embedding with `--embedder`, else the app's
    `knowledge_embedder`, else whatever the tenant's vectors were made with (minilm for
    a new one): see `KnowledgeBase.embedder_for`. Re-ranked by `reranker`, else the
    app's `knowledge_reranker`."""
    from keel._cli.target import load_app_from_cwd
    from keel.knowledge import KnowledgeBase, SQLiteKnowledgeStore
    from keel.storage import SQLiteDatabase

    app = load_app_from_cwd(app_path)
    store = SQLiteKnowledgeStore(SQLiteDatabase(app.database_path))
    return KnowledgeBase(
        store, embedder or app.knowledge_embedder, reranker=reranker or app.knowledge_reranker
    )


def http_reranker(url: str | None, model: str | None, key_env: str | None) -> Reranker | None:
    """`--rerank-url`/`--rerank-model`/`--rerank-key-env` as a reranker (None without a url)."""
    import os

    from keel.exceptions import ConfigurationError
    from keel.knowledge import HttpReranker

    if url is None:
        if model is not None or key_env is not None:
            raise ConfigurationError("--rerank-model and --rerank-key-env need --rerank-url")
        return None
    key = os.environ.get(key_env) if key_env else None
    if key_env and not key:
        raise ConfigurationError(f"--rerank-key-env: ${key_env} is not set")
    return HttpReranker(url, model, api_key=key)


@kb_app.command("ingest")
def ingest(
    path: Annotated[str, typer.Argument(metavar="PATH", help="A file or a folder.")],
    app: AppOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest Markdown, text, HTML (and PDF, extra `pdf`) files; unchanged ones are skipped."""
    from rich.progress import Progress

    from keel._cli.errors import reported
    from keel._cli.ui import stderr_console

    err = stderr_console()
    with reported(err):
        kb = open_kb(app, embedder)
        with Progress(console=err, transient=True, disable=as_json) as bar:
            task = bar.add_task("ingesting", total=None)

            def advance(done: int, total: int, name: str) -> None:
                bar.update(task, completed=done, total=total, description=name[-40:])

            report = kb.ingest(path, tenant_id=tenant, progress=advance)
        print_report(report, as_json)


def print_report(report: IngestReport, as_json: bool) -> None:
    data: dict[str, Any] = {
        "files": report.files,
        "ingested": [{"document": d, "chunks": n} for d, n in report.ingested],
        "chunks": report.chunks,
        "unchanged": report.unchanged,
        "skipped": [{"document": s.path, "reason": s.reason} for s in report.skipped],
        "converted": [{"document": d, "note": n} for d, n in report.converted],
        "seconds": round(report.seconds, 3),
    }
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"{report.files} files: {len(report.ingested)} ingested ({report.chunks} chunks), "
        f"{len(report.unchanged)} unchanged, {len(report.skipped)} skipped "
        f"in {report.seconds:.1f} s"
    )
    for skipped in report.skipped:
        typer.echo(f"  skipped {skipped.path}: {skipped.reason}")
    for document, note in report.converted:
        typer.echo(f"  converted {document}: {note}")


@kb_app.command("search")
def search(
    query: Annotated[str, typer.Argument(metavar="QUERY", help="What to look for.")],
    *,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="How many passages.")] = 5,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, text or vector.")] = "hybrid",
    min_similarity: Annotated[
        float | None,
        typer.Option("--min-similarity", metavar="S", help="Drop passages below this cosine."),
    ] = None,
    rerank_url: RerankUrlOpt = None,
    rerank_model: RerankModelOpt = None,
    rerank_key_env: RerankKeyOpt = None,
    app: AppOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the knowledge base; every passage is printed with its citation."""
    from keel._cli.errors import reported
    from keel._cli.ui import stderr_console

    err = stderr_console()
    with reported(err):
        kb = open_kb(app, embedder, http_reranker(rerank_url, rerank_model, rerank_key_env))
        result = kb.search(
            query,
            tenant_id=tenant,
            k=k,
            mode=mode,  # type: ignore[arg-type]  # checked by search
            min_similarity=min_similarity,
        )
        print_result(result, as_json)
        if result.note and not as_json:
            err.print(result.note, markup=False, highlight=False)


def print_result(result: SearchResult, as_json: bool) -> None:
    if as_json:
        hits = [
            {
                "document": h.citation.document,
                "heading": h.citation.heading,
                "chunk": h.citation.chunk,
                "score": round(h.citation.score, 6),
                "rerank_score": _rounded(h.citation.rerank_score),
                "similarity": round(h.similarity, 6),
                "text": h.text,
            }
            for h in result.hits
        ]
        data = {"query": result.query, "mode": result.mode, "found_nothing": result.found_nothing}
        rerank = {"rerank": result.rerank, "note": result.note}
        typer.echo(json.dumps({**data, **rerank, "hits": hits}, ensure_ascii=False, indent=2))
        return
    if result.found_nothing:
        typer.echo("nothing found")
    for n, hit in enumerate(result.hits, 1):
        typer.echo(f"[{n}] {hit.citation}\n{hit.text}\n")


def _rounded(score: float | None) -> float | None:
    return None if score is None else round(score, 6)


@kb_app.command("list")
def list_documents(
    app: AppOpt = None, tenant: TenantOpt = DEFAULT_TENANT, as_json: JsonOpt = False
) -> None:
    """List the ingested documents and their chunk counts."""
    from keel._cli.errors import reported
    from keel._cli.ui import stderr_console

    with reported(stderr_console()):
        documents = open_kb(app).store.documents(tenant)
    if as_json:
        rows = [{"document": d, "chunks": n} for d, n in documents]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for document, chunks in documents:
        typer.echo(f"{document}  ({chunks} chunks)")


@kb_app.command("reembed")
def reembed(
    embedder: Annotated[
        str,
        typer.Option("--embedder", metavar="NAME", help="minilm, minilm-int8, static, static-v1."),
    ],
    app: AppOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Embed the stored chunks again with another embedder (no files are read again)."""
    from keel._cli.errors import reported
    from keel._cli.ui import stderr_console

    with reported(stderr_console()):
        kb = open_kb(app, embedder)
        count = kb.reembed(tenant)
    name = kb.embedder.name
    data = {"chunks": count, "embedder": name}
    typer.echo(json.dumps(data) if as_json else f"re-embedded {count} chunks with {name}")


@kb_app.command("rebuild")
def rebuild(app: AppOpt = None, as_json: JsonOpt = False) -> None:
    """Rebuild the search indexes from the stored chunks (after an index error).

    PostgreSQL: the full-text and vector indexes are rebuilt. SQLite: documents whose stored
    vectors are damaged are removed (ingest them again) and the in-memory indexes reload.
    """
    from keel._cli.errors import reported
    from keel._cli.ui import stderr_console

    with reported(stderr_console()):
        count = open_kb(app).store.rebuild()
    typer.echo(json.dumps({"chunks": count}) if as_json else f"rebuilt: {count} chunks indexed")
