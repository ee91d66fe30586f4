"""Peak memory of one request per byte of its body, on a real server: the figures admission control is sized from.

    .venv/bin/python bench/memory_per_byte.py [--elements 4194304] [--json out.json]

For each case a fresh server (`python -m app`, one worker, the default settings but for wide enough
limits) answers one tiny request of the same kind first (lazy imports, first-call caches), then the
process's high-water mark is reset to its current RSS (`clear_refs` 5, Linux >= 4.0) and the large
request is sent; the peak above idle is VmHWM minus that RSS. The factor is the peak per *charged*
body byte: the decompressed body, which is what admission control charges. The cases are the worst
ones per format: JSON of tiny numbers (`0,`, 2 bytes per element), typical JSON floats, npy of each
dtype (float16 is computed in float64), gzip, gradients with a `dy`, KServe v2 JSON and binary, a
custom expression. Not a test: no assertion, it prints a table (and writes JSON with --json).

The worst single request is then extrapolated (peaks are linear in the elements, above a few MiB)
to the largest body each case can have within ACTIVATIONS_MAX_BODY_BYTES and ACTIVATIONS_MAX_ELEMENTS.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import io
import json
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.config import Settings
from tests.servers import server_process

EXPRESSION = "x * sigmoid(1.702 * x) + 0.5 * tanh(x)"


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]
    charged: int  # the bytes admission control charges: the decompressed body


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[int], Request]  # elements -> the request


def _values(n: int, kind: str) -> np.ndarray:
    if kind == "zeros":
        return np.zeros(n)
    return np.random.default_rng(0).standard_normal(n)


def json_activate(dtype: str, kind: str, *, gradient: bool = False, name: str = "gelu") -> Callable[[int], Request]:
    def build(n: int) -> Request:
        values = _values(n, kind).astype(dtype)
        if name == "softmax":  # over rows of 16
            values = values.reshape(-1, 16)
        # Integers: `0,` is the shortest element JSON can have (2 bytes), where 0.0 would take 4.
        x = values.astype(int).tolist() if kind == "zeros" else values.tolist()
        body: dict[str, object] = {"x": x, "dtype": dtype}
        if gradient:
            body["dy"] = x
        if name == "custom":
            body["expression"] = EXPRESSION
        data = json.dumps(body, separators=(",", ":")).encode()
        route = "gradient" if gradient else "activate"
        return Request(f"/{route}/{name}", data, {"content-type": "application/json"}, len(data))

    return build


def npy_activate(dtype: str, accept: str, *, name: str = "gelu") -> Callable[[int], Request]:
    def build(n: int) -> Request:
        buffer = io.BytesIO()
        np.save(buffer, _values(n, "normal").astype(dtype))
        data = buffer.getvalue()
        query = "?expression=" + urllib.parse.quote(json.dumps(EXPRESSION)) if name == "custom" else ""
        headers = {"content-type": "application/x-npy", "accept": accept}
        return Request(f"/activate/{name}{query}", data, headers, len(data))

    return build


def gzipped(inner: Callable[[int], Request]) -> Callable[[int], Request]:
    def build(n: int) -> Request:
        plain = inner(n)
        headers = {**plain.headers, "content-encoding": "gzip"}
        return Request(plain.path, gzip.compress(plain.body, 1), headers, len(plain.body))

    return build


def v2_json(datatype: str, kind: str) -> Callable[[int], Request]:
    def build(n: int) -> Request:
        values = _values(n, kind).astype({"FP32": "float32", "FP64": "float64"}[datatype])
        elements = values.astype(int).tolist() if kind == "zeros" else values.tolist()
        doc = {"inputs": [{"name": "x", "shape": [n], "datatype": datatype, "data": elements}]}
        data = json.dumps(doc, separators=(",", ":")).encode()
        return Request("/v2/models/gelu/infer", data, {"content-type": "application/json"}, len(data))

    return build


def v2_binary(datatype: str) -> Callable[[int], Request]:
    def build(n: int) -> Request:
        dtype = {"FP16": "float16", "FP32": "float32", "FP64": "float64"}[datatype]
        raw = _values(n, "normal").astype(dtype).tobytes()
        doc = {
            "inputs": [{"name": "x", "shape": [n], "datatype": datatype, "parameters": {"binary_data_size": len(raw)}}],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        }
        header = json.dumps(doc).encode()
        headers = {"content-type": "application/octet-stream", "inference-header-content-length": str(len(header))}
        return Request("/v2/models/gelu/infer", header + raw, headers, len(header) + len(raw))

    return build


NPY = "application/x-npy"
JSON = "application/json"
CASES = [
    Case("json 0, float32", json_activate("float32", "zeros")),
    Case("json 0, float64", json_activate("float64", "zeros")),
    Case("json floats float32", json_activate("float32", "normal")),
    Case("json floats float64", json_activate("float64", "normal")),
    Case("json 0, float64 softmax", json_activate("float64", "zeros", name="softmax")),
    Case("npy float16 -> npy", npy_activate("float16", NPY)),
    Case("npy float32 -> npy", npy_activate("float32", NPY)),
    Case("npy float64 -> npy", npy_activate("float64", NPY)),
    Case("npy float16 -> json", npy_activate("float16", JSON)),
    Case("npy float64 -> json", npy_activate("float64", JSON)),
    Case("gzip json 0, float64", gzipped(json_activate("float64", "zeros"))),
    Case("gzip npy float16 -> npy", gzipped(npy_activate("float16", NPY))),
    Case("gradient json 0, + dy float64", json_activate("float64", "zeros", gradient=True)),
    Case("gradient json floats + dy float32", json_activate("float32", "normal", gradient=True)),
    Case("v2 json 0, FP64", v2_json("FP64", "zeros")),
    Case("v2 json floats FP32", v2_json("FP32", "normal")),
    Case("v2 binary FP16", v2_binary("FP16")),
    Case("v2 binary FP32", v2_binary("FP32")),
    Case("custom json 0, float64", json_activate("float64", "zeros", name="custom")),
    Case("custom npy float16 -> npy", npy_activate("float16", NPY, name="custom")),
]


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def post(base: str, request: Request) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=300)
    try:
        conn.request("POST", request.path, request.body, {**request.headers, "content-length": str(len(request.body))})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def measure(case: Case, elements: int, log_dir: Path) -> dict[str, float]:
    request = case.build(elements)
    warm = case.build(16)
    limits = {"max_body_bytes": str(1 << 31), "max_in_flight_bytes": str(1 << 40), "log_level": "warning"}
    with server_process(log_dir, **limits) as server:
        pid = server.process.pid
        status, data = post(server.base, warm)
        if status != 200:
            raise RuntimeError(f"{case.name}: warm-up HTTP {status}: {data[:300]!r}")
        time.sleep(0.3)
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        idle = status_kib(pid, "VmRSS")
        status, data = post(server.base, request)
        if status != 200:
            raise RuntimeError(f"{case.name}: HTTP {status}: {data[:300]!r}")
        peak = status_kib(pid, "VmHWM") - idle
    return {
        "elements": elements,
        "wire_bytes": len(request.body),
        "charged_bytes": request.charged,
        "idle_bytes": idle * 1024,
        "peak_above_idle_bytes": peak * 1024,
        "factor": peak * 1024 / request.charged,
        "peak_per_element_bytes": peak * 1024 / elements,
        "charged_bytes_per_element": request.charged / elements,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=1 << 22)
    parser.add_argument("--only", help="run the cases whose name contains this")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    settings = Settings()
    results: dict[str, dict[str, float]] = {}
    print(f"{'case':36} {'body MiB':>9} {'charged MiB':>11} {'peak MiB':>9} {'factor':>7} {'worst single MiB':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            if args.only and args.only not in case.name:
                continue
            figures = measure(case, args.elements, Path(tmp))
            # The largest request of this kind within both limits, at this kind's bytes per element.
            per_element = figures["charged_bytes_per_element"]
            largest = min(settings.max_elements, settings.max_body_bytes / per_element)
            figures["worst_single_elements"] = largest
            figures["worst_single_peak_bytes"] = figures["peak_per_element_bytes"] * largest
            results[case.name] = figures
            mib = 2**20
            print(
                f"{case.name:36} {figures['wire_bytes'] / mib:9.1f} {figures['charged_bytes'] / mib:11.1f} "
                f"{figures['peak_above_idle_bytes'] / mib:9.1f} {figures['factor']:7.2f} "
                f"{figures['worst_single_peak_bytes'] / mib:16.0f}",
                flush=True,
            )
    idle = max(f["idle_bytes"] for f in results.values())
    worst = max(results.items(), key=lambda item: item[1]["factor"])
    single = max(results.items(), key=lambda item: item[1]["worst_single_peak_bytes"])
    print(f"idle RSS (after one tiny request): {idle / 2**20:.0f} MiB")
    print(f"worst factor per charged byte: {worst[1]['factor']:.2f} ({worst[0]})")
    print(f"worst single request at the limits: {single[1]['worst_single_peak_bytes'] / 2**20:.0f} MiB ({single[0]})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
