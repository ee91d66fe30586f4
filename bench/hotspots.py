"""Where the service spends its time on one benchmark workload: py-spy on the server, hotspots printed.

    .venv/bin/python bench/hotspots.py small_json            # wrk load, 16 connections
    .venv/bin/python bench/hotspots.py npy_4096 --seconds 20
    .venv/bin/python bench/hotspots.py json_1000 --target floor

Starts the server as bench/run.py does (one worker pinned to core 0, load from core 1), samples it
with py-spy (installed with --setup into --tools, a venv outside the project) while the load runs,
then prints the functions with the most samples on top of the stack (self) and anywhere in it
(inclusive), as file:function and % of the busy samples (py-spy leaves out idle threads, so an event
loop waiting in epoll does not count). The collapsed stacks are kept (--raw) for flamegraph tools.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import run as bench

WORKLOADS = ("json_1000", "small_json", "small_npy", "npy_4096", "npy_1000")


def collapsed_stacks(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def frame_name(frame: str) -> str:
    """`relu (app/numerics/elementwise.py)` -> `app/numerics/elementwise.py:relu`."""
    function, _, where = frame.rpartition(" (")
    return f"{where.rstrip(')')}:{function}" if function else frame


# Threads parked in these are waiting, not working, though py-spy may not call them idle.
WAITING = {
    "threading.py:Condition.wait",
    "threading.py:Event.wait",
    "queue.py:Queue.get",
    "selectors.py:EpollSelector.select",
}


NATIVE_WAITING = ("epoll_wait", "epoll_pwait", "poll", "select")


def is_waiting(frames: list[str]) -> bool:
    """Parked: the top frame, or with --native the innermost Python frame, is a wait."""
    python_frames = [frame_name(f) for f in frames if ".py)" in f]
    leaf = frames[-1].split(" (", 1)[0]
    return leaf in NATIVE_WAITING or bool(python_frames and python_frames[-1] in WAITING)


def hotspots(stacks: list[tuple[list[str], int]], top: int) -> str:
    waiting = sum(count for frames, count in stacks if is_waiting(frames))
    stacks = [(frames, count) for frames, count in stacks if not is_waiting(frames)]
    total = sum(count for _, count in stacks) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        names = [frame_name(f) for f in frames]
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    lines = [f"{total} busy samples ({waiting} more in threads parked on a lock, a queue or epoll, left out)", ""]
    lines += ["self %  function (top of stack)"]
    lines += [f"{100 * n / total:6.1f}  {name}" for name, n in own.most_common(top)]
    lines += ["", "incl %  function (anywhere on the stack)"]
    lines += [f"{100 * n / total:6.1f}  {name}" for name, n in inclusive.most_common(2 * top)]
    return "\n".join(lines)


def drive(workload: str, server: bench.Server, target: str, seconds: float, connections: int, workdir: Path) -> str:
    native = target != "floor"
    json_path = "/activate/relu" if native else "/relu/json"
    npy_path = "/activate/relu" if native else "/relu/npy"
    if workload in ("small_json", "small_npy"):
        x = bench.tensor((1, 8))
        call = (
            bench.native_json(server.port, json_path, x)
            if workload == "small_json"
            else bench.native_npy(server.port, npy_path, x)
        )
        result = bench.run_wrk(call, bench.Load("wrk", connections, seconds, 0, 1), seconds, workdir)
        return f"{result['requests_per_s']:.0f} req/s, p99 {result['p99_ms']:.1f} ms"
    shape = (4096, 4096) if workload == "npy_4096" else (1000, 1000)
    x = bench.tensor(shape)
    call = (
        bench.native_json(server.port, json_path, x)
        if workload == "json_1000"
        else bench.native_npy(server.port, npy_path, x)
    )
    times = bench.time_calls({target: call}, count=10_000, warmup=0, budget_s=seconds)[target]
    return f"{len(times)} round trips, median {1000 * sorted(times)[len(times) // 2]:.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--target", choices=("service", "floor"), default="service")
    parser.add_argument("--seconds", type=float, default=15.0, help="load duration (default %(default)s)")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second (default %(default)s)")
    parser.add_argument("--connections", type=int, default=16, help="for the small workloads (default %(default)s)")
    parser.add_argument("--native", action="store_true", help="also sample C frames (numpy, orjson internals)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--tools", type=Path, default=Path("/tmp/bench-venvs/tools"), help="venv holding py-spy")
    parser.add_argument("--setup", action="store_true", help="pip install py-spy into --tools if missing")
    parser.add_argument("--raw", type=Path, help="where to keep the collapsed stacks (default: a temp file)")
    args = parser.parse_args(argv)

    py_spy = args.tools / "bin" / "py-spy"
    if not py_spy.exists():
        if not args.setup:
            parser.error(f"{py_spy} not found: run with --setup")
        subprocess.run([sys.executable, "-m", "venv", str(args.tools)], check=True, timeout=300)
        subprocess.run([str(args.tools / "bin" / "pip"), "install", "-q", "py-spy"], check=True, timeout=600)
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {bench.LOAD_CORE})
    logs = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    raw = args.raw or logs / f"{args.target}-{args.workload}.collapsed"
    settings = bench.Settings(
        out=logs, venvs=logs, logs=logs, peers=[], json_count=0, npy_count=0, peer_json_count=0,
        load=bench.Load("wrk", args.connections, args.seconds, 0, 1), quick=False,
    )  # fmt: skip
    server = bench.make_service(settings) if args.target == "service" else bench.make_floor(settings)
    with bench.running(server):
        drive(args.workload, server, args.target, 2.0, args.connections, logs)  # warm-up, not sampled
        command = [
            str(py_spy), "record", "--pid", str(server.pid), "--rate", str(args.rate), "--duration",
            str(int(args.seconds + 1)), "--format", "raw", "--nolineno", "-o", str(raw),
        ]  # fmt: skip
        if args.native:
            command.append("--native")
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        summary = drive(args.workload, server, args.target, args.seconds, args.connections, logs)
        _, err = spy.communicate(timeout=args.seconds + 60)
    print(f"{args.target} on {args.workload} under py-spy, {args.rate} Hz: {summary} (sampling pauses the server)")
    print(" ".join(line for line in err.splitlines() if "Samples" in line).replace("py-spy> ", ""))
    print(hotspots(collapsed_stacks(raw), args.top))
    print(f"\ncollapsed stacks: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
