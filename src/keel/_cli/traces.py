"""`keel traces`: search the app's trace store; `keel traces show ID` renders one run's
span tree with timings, tokens and cost. Filters are checked by `TraceQuery.parse`, so a
bad one fails with its name (exit 2) before the database is read."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, cast

import typer
from rich.tree import Tree

from keel._cli.errors import USAGE_ERROR, CliError, reported
from keel._cli.target import load_app_from_cwd
from keel._cli.ui import print_note, stderr_console, stdout_console

__all__ = ["traces_app"]

traces_app = typer.Typer(
    help="Search recorded runs and show their span trees.",
    no_args_is_help=False,
    rich_markup_mode=None,
)

AppOpt = Annotated[
    str | None, typer.Option("--app", metavar="PATH", help="The app, as module:attribute.")
]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print it as JSON.")]


def _opt(flag: str, help: str) -> Any:
    return typer.Option(flag, metavar="V", help=help)


@traces_app.callback(invoke_without_command=True)
def traces(  # noqa: PLR0917 (one option per filter)
    ctx: typer.Context,
    user: Annotated[str | None, _opt("--user", "Only runs of this user id.")] = None,
    tenant: Annotated[str | None, _opt("--tenant", "Only runs of this tenant.")] = None,
    session: Annotated[str | None, _opt("--session", "Only runs of this session.")] = None,
    agent: Annotated[str | None, _opt("--agent", "Only runs of this agent.")] = None,
    tool: Annotated[str | None, _opt("--tool", "Only runs that called this tool.")] = None,
    status: Annotated[
        str | None, _opt("--status", "completed, suspended, needs_attention or failed.")
    ] = None,
    error_type: Annotated[str | None, _opt("--error-type", "e.g. MaxStepsExceeded.")] = None,
    since: Annotated[str | None, _opt("--since", "An ISO time (UTC) or an age: 30m, 2h.")] = None,
    until: Annotated[str | None, _opt("--until", "An ISO time (UTC) or an age.")] = None,
    min_cost: Annotated[str | None, _opt("--min-cost", "USD.")] = None,
    max_cost: Annotated[str | None, _opt("--max-cost", "USD.")] = None,
    min_latency: Annotated[str | None, _opt("--min-latency", "e.g. 500ms, 2s.")] = None,
    max_latency: Annotated[str | None, _opt("--max-latency", "e.g. 500ms, 2s.")] = None,
    limit: Annotated[str, _opt("--limit", "Show at most this many.")] = "20",
    app: AppOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List recorded runs, most recent first, filtered."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = (app, as_json)
        return
    filters = dict(locals())
    for name in ("ctx", "app", "as_json"):
        filters.pop(name)
    filters["min_latency_ms"] = filters.pop("min_latency")
    filters["max_latency_ms"] = filters.pop("max_latency")
    _list(filters, app, as_json)


@traces_app.command("show")
def show(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(metavar="ID", help="A run id or trace id.")],
    app: AppOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one run's span tree with timings, tokens and cost."""
    group = cast("tuple[str | None, bool]", ctx.obj) if ctx.obj else (None, False)
    group_app, group_json = group
    err = stderr_console()
    with reported(err):
        from keel.observability.store import TraceNotFoundError

        store = load_app_from_cwd(app or group_app).trace_store
        try:
            segments = store.get(key)
        except TraceNotFoundError as exc:
            raise CliError(str(exc), code=USAGE_ERROR) from exc
    if as_json or group_json:
        typer.echo(json.dumps([_trace_json(t) for t in segments], indent=2, default=str))
        return
    for segment in segments:
        stdout_console().print(_tree(segment))


def _list(filters: dict[str, Any], app_path: str | None, as_json: bool) -> None:
    err = stderr_console()
    with reported(err):
        from keel.observability.query import TraceFilterError, TraceQuery

        try:
            query = TraceQuery.parse(filters)
        except TraceFilterError as exc:
            raise CliError(str(exc), code=USAGE_ERROR) from exc
        app = load_app_from_cwd(app_path)
        found = app.trace_store.search(query)
    if as_json:
        typer.echo(json.dumps([_summary_json(s) for s in found], indent=2))
    elif not found:
        print_note(err, f"no recorded runs match in {app.database_path}")
    else:
        for s in found:
            typer.echo("\t".join(_row(s)))


def _row(s: Any) -> list[str]:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s.started_ns / 1e9))
    tokens = f"{s.input_tokens}+{s.output_tokens} tok"
    return [
        s.run_id,
        when,
        s.agent_name,
        s.status,
        f"{s.latency_ms:.1f} ms",
        tokens,
        f"${s.cost_usd:.6f}",
        s.error_type or "",
    ]


def _summary_json(s: Any) -> dict[str, Any]:
    return {
        "run_id": s.run_id,
        "trace_id": f"{s.trace_id:032x}",
        "agent": s.agent_name,
        "tenant": s.tenant_id,
        "user": s.user_id,
        "session": s.session_id,
        "status": s.status,
        "error_type": s.error_type,
        "started_at": s.started_ns / 1e9,
        "latency_ms": round(s.latency_ms, 3),
        "steps": s.steps,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cost_usd": s.cost_usd,
        "tools": s.tools,
    }


def _trace_json(t: Any) -> dict[str, Any]:
    spans = [
        {
            "name": s.name,
            "kind": s.kind,
            "span_id": f"{s.span_id:016x}",
            "parent_id": None if s.parent_id is None else f"{s.parent_id:016x}",
            "duration_ms": round(s.duration_ms, 3),
            "attributes": s.attributes,
            "error": s.error,
            "events": [{"name": e.name, "attributes": e.attributes} for e in s.events],
            "links": [{"trace_id": f"{t:032x}", "span_id": f"{i:016x}"} for t, i in s.links],
        }
        for s in t.spans
    ]
    return {**_summary_json(t.summary), "resumed": t.summary.resumed, "spans": spans}


def _tree(t: Any) -> Tree:
    s = t.summary
    head = (
        f"{'resumed ' if s.resumed else ''}run {s.run_id} · {s.agent_name} · {s.status} · "
        f"{s.latency_ms:.1f} ms · {s.input_tokens}+{s.output_tokens} tokens · "
        f"${s.cost_usd:.6f} · trace {s.trace_id:032x}"
    )
    root = Tree(head)
    nodes: dict[int, Tree] = {}
    for span in t.spans:
        parent = nodes.get(span.parent_id or -1, root)
        node = nodes[span.span_id] = parent.add(_span_label(span))
        for trace_id, span_id in span.links:
            node.add(f"follows span {span_id:016x} of trace {trace_id:032x}")
        for event in span.events:
            if event.name == "keel.guardrail.tripped":
                a = event.attributes
                node.add(
                    f"guardrail {a.get('keel.guardrail.name')} "
                    f"{a.get('keel.guardrail.action')} at {a.get('keel.guardrail.stage')}"
                )
    return root


def _span_label(span: Any) -> str:
    a = span.attributes
    label = f"{span.name}  {span.duration_ms:.2f} ms"
    if "gen_ai.usage.input_tokens" in a:
        label += f"  {a['gen_ai.usage.input_tokens']}+{a['gen_ai.usage.output_tokens']} tok"
    if span.error is not None:
        label += f"  ERROR {a.get('error.type', '')}"
    return label
