"""The tool gateway's cost per call, and MCP stdio round trips.

    python benchmarks/tool_gateway.py [--calls 3000] [--warmup 300] [--rounds 3] [--mcp 300]
                                      [--sparse 0] [--gap 0.05]

Gateway overhead: one tool call through `ToolGateway.wrap_tool_call` into the core's
innermost step (`invoke_tool`), against the same core step alone ("bare"). The tool is a
trivial `async def`, so what is timed is the gateway: validate (size + schema), authorize
(a three-rule `PolicySet` with an argument predicate), the ledger (claim before, finish
after, for a tool with side effects) and the audit entry (PII-scrubbed, hash-chained),
on a SQLite file in a temporary folder (WAL, synchronous=NORMAL, as the app database).
Overhead = scenario p50 - bare p50 (and the same at p95).

MCP: `add(a, b)` on an `mcp`-SDK server over stdio, called with the SDK's own `Client`
directly, and as a Keel tool through `MCPToolset` and the gateway. Scenarios take turns
in `--rounds` rounds; samples are pooled.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import (
    Summary,
    Timings,
    first_paragraph,
    machine_line,
    print_table,
    summarize_timings,
    time_async,
)
from keel import RunContext, tool
from keel._run.tool_calls import invoke_tool
from keel.messages import ToolCallPart, ToolResultPart
from keel.middleware import ToolCall
from keel.policy import PolicySet, deny, require_approval
from keel.tools.base import Tool
from keel.tools.gateway import Audit, Execute, GatewayStore, ToolGateway

ROOT = Path(__file__).resolve().parents[1]


@tool
async def refund(order_id: str, amount: int) -> str:
    """Refund an order (side effects: ledger + audit)."""
    return f"refunded {amount} on {order_id}"


@tool(read_only=True)
async def lookup_order(order_id: str) -> str:
    """Look up an order (read-only: audit only)."""
    return f"{order_id}: shipped"


POLICY = PolicySet(
    [
        deny(tools=["refund"], when=lambda r: r.arguments["amount"] > 500, reason="over 500"),
        require_approval(tools=["refund"], when=lambda r: r.arguments["amount"] > 100),
        deny(tools=["admin_*"], except_roles=["admin"], reason="admins only"),
    ]
)
TOOLS: dict[str, Tool] = {"refund": refund, "lookup_order": lookup_order}


async def _nothing(call: ToolCall) -> None:
    return None


async def core(call: ToolCall) -> ToolResultPart:
    return await invoke_tool(call, TOOLS, 20_000, _nothing)


def _call(i: int, name: str, arguments: dict[str, object]) -> ToolCall:
    ctx = RunContext(run_id="bench", agent_name="desk", step=1, tool_call_id=f"c{i}")
    return ToolCall(context=ctx, call=ToolCallPart(name, arguments, f"c{i}"), tool=TOOLS[name])


Scenario = Callable[[int], Awaitable[object]]


def gateway_scenarios(folder: Path) -> tuple[dict[str, Scenario], GatewayStore]:
    store = GatewayStore(folder / "gw.db")
    plain = ToolGateway(POLICY, store=store, execute=Execute(breakers=False))
    unscrubbed = ToolGateway(
        POLICY, store=store, execute=Execute(breakers=False), audit=Audit(redact=None)
    )
    args = {"order_id": "A1", "amount": 40}
    big = {"order_id": "A1", "amount": 900}
    scenarios: dict[str, Scenario] = {
        "bare core step (no gateway)": lambda i: core(_call(i, "refund", args)),
        "gateway, read-only tool": lambda i: plain.wrap_tool_call(
            _call(i, "lookup_order", {"order_id": "A1"}), core
        ),
        "gateway, side-effect tool": lambda i: plain.wrap_tool_call(_call(i, "refund", args), core),
        "  same, audit without PII scrub": lambda i: unscrubbed.wrap_tool_call(
            _call(i, "refund", args), core
        ),
        "gateway, denied by policy": lambda i: plain.wrap_tool_call(_call(i, "refund", big), core),
    }
    return scenarios, store


THREAD_CPU: dict[str, list[int]] = {}
"""Per scenario: CPU time of the calling thread in each timed call (ns) — the work on
the request path itself, which waiting for a core (load) does not inflate."""


def _thread_cpu(name: str, scenario: Scenario) -> Scenario:
    samples = THREAD_CPU.setdefault(name, [])
    clock = time.thread_time_ns

    async def sampled(i: int) -> object:
        start = clock()
        result = await scenario(i)
        samples.append(clock() - start)
        return result

    return sampled


CPU_TOTAL: dict[str, list[int]] = {}
"""Per scenario: process CPU (all threads) over each timed batch *including* writing
everything it queued, and the batch's call count — the cost a write-behind moves off the
request path is still counted here."""


async def run_rounds(
    scenarios: dict[str, Scenario],
    calls: int,
    warmup: int,
    rounds: int,
    flush: Callable[[], None] = lambda: None,
) -> dict[str, Timings]:
    pooled = {name: Timings() for name in scenarios}
    names = list(scenarios)
    offset = 0
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            flush()
            start = time.process_time_ns()
            sampled = _thread_cpu(name, scenarios[name])
            timings = await time_async(
                lambda i, s=sampled, o=offset: s(o + i),
                runs=calls // rounds,
                warmup=warmup,
            )
            flush()
            total = CPU_TOTAL.setdefault(name, [0, 0])
            total[0] += time.process_time_ns() - start
            total[1] += calls // rounds + warmup
            offset += calls + warmup
            pooled[name].extend(timings)
    return pooled


def _thread_cpu_p50(label: str) -> float:
    return statistics.median(THREAD_CPU[label]) / 1000


def _cpu_per_call(label: str) -> float:
    total_ns, calls = CPU_TOTAL[label]
    return total_ns / calls / 1000


def print_gateway(summaries: list[Summary]) -> None:
    bare = summaries[0]
    rows = [
        [
            s.label,
            str(s.runs),
            f"{s.p50_us:.1f}",
            f"{s.p95_us:.1f}",
            "-" if s is bare else f"{s.p50_us - bare.p50_us:.1f}",
            "-" if s is bare else f"{s.p95_us - bare.p95_us:.1f}",
            f"{_thread_cpu_p50(s.label):.1f}",
            "-" if s is bare else f"{_thread_cpu_p50(s.label) - _thread_cpu_p50(bare.label):.1f}",
            f"{_cpu_per_call(s.label):.1f}",
        ]
        for s in summaries
    ]
    headers = [
        "per call, µs",
        "calls",
        "p50",
        "p95",
        "overhead p50",
        "overhead p95",
        "thread cpu p50",
        "overhead cpu p50",
        "cpu/call, all threads",
    ]
    print_table(headers, rows)


async def mcp_round_trips(calls: int, rounds: int) -> list[Summary]:
    from mcp import Client, StdioServerParameters

    from keel.mcp import MCPToolset

    args = ["-m", "tests.mcp_interop.sdk_server"]
    params = StdioServerParameters(command=sys.executable, args=args, cwd=str(ROOT))
    toolset = MCPToolset(params)
    with tempfile.TemporaryDirectory() as folder:
        gateway = ToolGateway(database=Path(folder) / "gw.db", execute=Execute(breakers=False))
        async with Client(params) as client:
            ctx = RunContext(run_id="bench", agent_name="desk")
            add = {t.name: t for t in await toolset.list_tools(ctx)}["add"]

            async def direct(i: int) -> object:
                return await client.call_tool("add", {"a": i, "b": 1})

            async def through_keel(i: int) -> object:
                c = RunContext(run_id="bench", agent_name="desk", step=1, tool_call_id=f"m{i}")
                call = ToolCall(
                    context=c, call=ToolCallPart("add", {"a": i, "b": 1}, f"m{i}"), tool=add
                )
                return await gateway.wrap_tool_call(
                    call, lambda k: invoke_tool(k, {"add": add}, 20_000, _nothing)
                )

            scenarios: dict[str, Scenario] = {
                "mcp SDK Client.call_tool": direct,
                "keel MCPToolset + gateway": through_keel,
            }
            pooled = await run_rounds(scenarios, calls, 20, rounds)
        await toolset.close()
    return [summarize_timings(name, t) for name, t in pooled.items()]


def print_mcp(summaries: list[Summary]) -> None:
    direct = summaries[0]
    rows = [
        [
            s.label,
            str(s.runs),
            f"{s.p50_us:.0f}",
            f"{s.p95_us:.0f}",
            f"{s.p50_us / direct.p50_us:.2f}x",
        ]
        for s in summaries
    ]
    print_table(["stdio round trip, µs", "calls", "p50", "p95", "p50 vs SDK"], rows)


async def sparse_calls(scenarios: dict[str, Scenario], calls: int, gap: float) -> None:
    """Each scenario's calls `gap` seconds apart, taking turns: what a call costs in an
    agent, where model calls (and other work) come between tool calls and leave the CPU
    caches cold — the tight loop above measures warm ones."""
    names = [n for n in scenarios if not n.startswith(" ")]
    wall: dict[str, list[int]] = {n: [] for n in names}
    cpu: dict[str, list[int]] = {n: [] for n in names}
    for i in range(calls):
        for name in names:
            await asyncio.sleep(gap)
            c, w = time.thread_time_ns(), time.perf_counter_ns()
            await scenarios[name](10_000_000 + i)
            wall[name].append(time.perf_counter_ns() - w)
            cpu[name].append(time.thread_time_ns() - c)
    bare = names[0]
    rows = [
        [
            name,
            str(calls),
            f"{statistics.median(wall[name]) / 1000:.1f}",
            "-" if name == bare else f"{(_med(wall, name) - _med(wall, bare)) / 1000:.1f}",
            f"{statistics.median(cpu[name]) / 1000:.1f}",
        ]
        for name in names
    ]
    print(f"calls {gap * 1000:.0f} ms apart, µs")
    print_table(["per call", "calls", "p50", "overhead p50", "thread cpu p50"], rows)


def _med(samples: dict[str, list[int]], name: str) -> float:
    return statistics.median(samples[name])


async def main() -> None:
    parser = argparse.ArgumentParser(description=first_paragraph(__doc__))
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mcp", type=int, default=300, help="MCP calls per scenario (0: skip)")
    parser.add_argument("--sparse", type=int, default=0, help="calls a scenario, spaced out")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between sparse calls")
    options = parser.parse_args()
    print(machine_line())
    print()
    with tempfile.TemporaryDirectory() as folder:
        scenarios, store = gateway_scenarios(Path(folder))
        pooled = await run_rounds(
            scenarios, options.calls, options.warmup, options.rounds, store.flush
        )
        print_gateway([summarize_timings(name, t) for name, t in pooled.items()])
        if options.sparse:
            print()
            await sparse_calls(scenarios, options.sparse, options.gap)
    if options.mcp:
        print()
        print_mcp(await mcp_round_trips(options.mcp, options.rounds))


if __name__ == "__main__":
    asyncio.run(main())
