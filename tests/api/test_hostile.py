"""Malformed and hostile requests: each gets exactly the status of SPEC section 3, as problem+json.

Tables of requests a careless or hostile client sends: broken JSON and UTF-8, bodies that are not
objects, ragged and mistyped tensors at every depth, every catalogue parameter with every wrong
type (generated from the registry's ParamSpecs, in the body and in the query string), unknown
parameters on every name, Content-Type, Accept and Content-Encoding variants, hostile .npy files
(pickles, code in the header, absurd shapes, refused dtypes), the limits (elements, rank, bytes,
decompressed bytes, chunked bodies, a Content-Length refused before the body is sent, over a raw
socket to a real server), slow and trickling bodies cut off by the body timeout (408) while
others are served, a full worker answering 503 with `Retry-After` but still its probes, idle
keep-alive connections closed, wrong methods and unknown or odd routes. Every answer must be
`application/problem+json` with the right `status`, `type` (a page the service serves) and `loc`
where one applies, must not leak a traceback or a path, and the server must still answer `/healthz`.

Decisions where SPEC section 3 leaves room, and why:

- A string element with spaces around a non-finite word ("NaN ", " inf") is a 422. SPEC lists the
  accepted spellings ("NaN", "Infinity", "-Infinity", also "inf", "-inf", "nan", any case) and a
  padded one is not among them, nor is it written down as an extension in the README or the
  OpenAPI text; the service refuses the padded number " 1.5" too.
- A UTF-8 byte order mark before the JSON is a 400: RFC 8259 section 8.1 forbids senders to add one
  and only allows parsers to ignore it; the body is then not JSON text, and the 400 tells the client
  which byte to drop.
- Duplicated keys: the last one wins (200), as in Python's json, JavaScript's JSON.parse and
  orjson; RFC 8259 leaves it to the parser and SPEC says nothing.
- `text/json` is a 415: the registered JSON type is application/json (RFC 8259 section 11) and
  SPEC refuses every other Content-Type; `application/json; charset=utf-8` is JSON.
- Accept negotiation follows RFC 9110 section 12.5.1: a bfloat16 result for
  `Accept: application/x-npy, application/json;q=0.5` is served as JSON, since JSON is acceptable
  and npy cannot carry bfloat16; the 406 is for an Accept that admits no JSON.
- A gzip body is RFC 1952, a series of members: a multi-member body decodes to all of them, bytes
  after the last member are a corrupt stream (400), as Python's gzip module reads it.
- HEAD on a GET route is answered like GET without a body (RFC 9110 section 9.1: every
  general-purpose server must support GET and HEAD), so it is no "wrong method".
- An unknown route is a 404 even when it differs from a route by a trailing slash
  (`/activate/relu/`): SPEC section 3 has no redirect in its table.
- `loc` points at what the client sent: a parameter sent under its alias is reported under that
  alias, an .npy tensor is the body (`["body"]`, as the .npy codec reports it), not `["query", "x"]`.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import re
import select
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from app.numerics import REGISTRY
from tests.mutations import mutated
from tests.servers import running_server

NPY = "application/x-npy"
PROBLEM = "application/problem+json"

# --- helpers --------------------------------------------------------------------------------------

_INTERNALS = re.compile(r"Traceback|File \"|site-packages|/work/|\b\w+\.py\b|line \d+, in ")
_documented_kinds: set[str] = set()


@dataclass(frozen=True)
class Case:
    """One request and the problem SPEC section 3 says it gets."""

    id: str
    body: bytes | None = field(repr=False)
    status: int
    kind: str
    path: str = "/activate/relu"
    method: str = "POST"
    headers: dict[str, str] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)
    loc: list[object] | None = None
    loc_prefix: bool = False  # loc must start with `loc` (tensor parameters: the element may follow)
    detail: str = ""  # a fragment the detail must contain


def j(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(value).encode()


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def npy_file(header: str | bytes, data: bytes = b"", version: tuple[int, int] = (1, 0), pad: bool = True) -> bytes:
    """A hand-made .npy: magic, version, header length, header (padded as numpy does), data."""
    text = header.encode("latin1") if isinstance(header, str) else header
    size_format = "<H" if version == (1, 0) else "<I"
    if pad:
        text += b" " * (-(6 + 2 + struct.calcsize(size_format) + len(text) + 1) % 64) + b"\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack(size_format, len(text)) + text + data


def f4_header(shape: str = "(2,)", descr: str = "'<f4'", order: str = "False") -> str:
    return f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}"


def assert_no_internals(text: str) -> None:
    found = _INTERNALS.search(text)
    assert found is None, f"the answer leaks internals ({found.group(0)!r}): {text[:300]}"


def assert_problem(client: TestClient, response: Any, case: Case) -> dict[str, Any]:
    """Status, problem+json, type (documented), loc, no internals; then the server is still up."""
    assert response.status_code == case.status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM, response.headers.get("content-type")
    problem = orjson.loads(response.content)
    assert problem["type"] == f"/problems/{case.kind}", problem
    assert problem["status"] == case.status
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert len(response.content) < 4096, "a problem document echoes far too much of the request"
    if case.loc is not None:
        assert problem.get("errors"), problem
        got = problem["errors"][0]["loc"]
        assert (got[: len(case.loc)] if case.loc_prefix else got) == case.loc, problem["errors"]
    if case.detail:
        assert case.detail.lower() in problem["detail"].lower(), problem["detail"]
    if case.status == 405:
        assert response.headers.get("allow"), "405 without an Allow header"
    assert_no_internals(response.text)
    if problem["type"] not in _documented_kinds:
        page = client.get(problem["type"])
        assert page.status_code == 200, f"{problem['type']} is not documented by the service"
        _documented_kinds.add(problem["type"])
    assert client.get("/healthz").status_code == 200
    return problem  # type: ignore[no-any-return]


def send(client: TestClient, case: Case) -> Any:
    return client.request(
        case.method,
        case.path,
        content=case.body,
        headers=case.headers,
        params=case.params or None,
        follow_redirects=False,
    )


def required_fields(name: str) -> dict[str, object]:
    spec = REGISTRY.get(name)
    return {param.name: 0.5 for param in spec.params if param.required}


# An x every activation accepts: rank 2 (softmax), an even last axis (glu).
VALID_X = [[1.0, -2.0]]


# --- 400, 422: bodies that are not JSON, or JSON but not a request --------------------------------

DEEP = 100_000

BODY_CASES = [
    Case("whitespace only", b" \t\r\n  ", 400, "malformed-body"),
    Case("utf-8 bom", b'\xef\xbb\xbf{"x": [1]}', 400, "malformed-body"),
    Case("utf-16 with bom", '{"x": [1]}'.encode("utf-16"), 400, "malformed-body"),
    Case("utf-32", '{"x": [1]}'.encode("utf-32-le"), 400, "malformed-body"),
    Case("latin-1 byte in a string", b'{"x": [1], "dtype": "\xff"}', 400, "malformed-body"),
    Case("overlong utf-8", b'{"x": [1], "dtype": "\xc0\xaf"}', 400, "malformed-body"),
    Case("utf-8 encoded surrogate", b'{"x": [1], "dtype": "\xed\xa0\x80"}', 400, "malformed-body"),
    Case("truncated utf-8 sequence", b'{"x": [1], "dtype": "\xe2\x82"}', 400, "malformed-body"),
    Case("invalid utf-8 in a key", b'{"x": [1], "\x80": 1}', 400, "malformed-body"),
    Case("invalid utf-8 after a bare NaN", b'{"x": [NaN], "dtype": "\xff"}', 400, "malformed-body"),
    Case("escaped lone surrogate", b'{"x": [1], "dtype": "\\ud800"}', 400, "malformed-body"),
    Case("two documents", b'{"x": [1]} {"x": [2]}', 400, "malformed-body"),
    Case("nul after the document", b'{"x": [1]}\x00', 400, "malformed-body"),
    Case("trailing comma", b'{"x": [1],}', 400, "malformed-body"),
    Case("trailing comma in x", b'{"x": [1, ]}', 400, "malformed-body"),
    Case("single quotes", b"{'x': [1]}", 400, "malformed-body"),
    Case("unquoted key", b"{x: [1]}", 400, "malformed-body"),
    Case("leading zero", b'{"x": [01]}', 400, "malformed-body"),
    Case("leading dot", b'{"x": [.5]}', 400, "malformed-body"),
    Case("trailing dot", b'{"x": [1.]}', 400, "malformed-body"),
    Case("hex number", b'{"x": [0x10]}', 400, "malformed-body"),
    Case("plus sign", b'{"x": [+1]}', 400, "malformed-body"),
    Case("empty exponent", b'{"x": [1e]}', 400, "malformed-body"),
    Case("lone minus", b'{"x": [-]}', 400, "malformed-body"),
    Case("Infinity1", b'{"x": [Infinity1]}', 400, "malformed-body"),
    Case("-NaN token", b'{"x": [-NaN]}', 400, "malformed-body"),
    Case("lowercase nan token", b'{"x": [nan]}', 400, "malformed-body"),
    Case("inf token", b'{"x": [inf]}', 400, "malformed-body"),
    Case("comment", b'{"x": [1] /* c */}', 400, "malformed-body"),
    Case("unterminated string", b'{"x": [1], "dtype": "float32}', 400, "malformed-body"),
    Case("control character in a string", b'{"x": [1], "dtype": "float\x0132"}', 400, "malformed-body"),
    Case("unbalanced nesting", b'{"x": ' + b"[" * 1000 + b"}", 400, "malformed-body"),
    Case("npy body sent as json", npy(np.ones(3, np.float32)), 400, "malformed-body"),
    Case(
        "npy body with a json content-type",
        npy(np.ones(3)),
        400,
        "malformed-body",
        headers={"content-type": "application/json"},
    ),
    # JSON, but not an object with a tensor
    Case("body is a string", b'"x"', 422, "invalid-body"),
    Case("body is true", b"true", 422, "invalid-body"),
    Case("body is false", b"false", 422, "invalid-body"),
    Case("body is null", b"null", 422, "invalid-body"),
    Case("body is a bare NaN", b"NaN", 422, "invalid-body"),
    Case("body is an empty array", b"[]", 422, "invalid-body"),
    Case("body is a float", b"-0.5e3", 422, "invalid-body"),
    Case("body is a deeply nested array", b"[" * DEEP + b"]" * DEEP, 422, "invalid-body"),
    Case("empty object", b"{}", 422, "invalid-body", loc=["body", "x"]),
    Case("x in upper case", b'{"X": [1]}', 422, "invalid-body", loc=["body", "x"]),
    Case("x with a space", b'{"x ": [1]}', 422, "invalid-body", loc=["body", "x"]),
]

# --- 422: tensors ---------------------------------------------------------------------------------

TENSOR_CASES = [
    # ragged at every depth: loc is the list whose length (or kind) differs
    Case("ragged depth 1, list after number", j({"x": [1, [2]]}), 422, "invalid-tensor", loc=["body", "x", 1]),
    Case("ragged depth 1, number after list", j({"x": [[1], 2]}), 422, "invalid-tensor", loc=["body", "x", 1]),
    Case("ragged depth 1, longer", j({"x": [[1], [2, 3]]}), 422, "invalid-tensor", loc=["body", "x", 1]),
    Case("ragged depth 1, empty", j({"x": [[1, 2], []]}), 422, "invalid-tensor", loc=["body", "x", 1]),
    Case("ragged depth 2", j({"x": [[[1, 2], [3, 4]], [[5, 6], [7]]]}), 422, "invalid-tensor", loc=["body", "x", 1, 1]),
    Case(
        "ragged depth 3",
        j({"x": [[[[1], [2]]], [[[3], [4, 5]]]]}),
        422,
        "invalid-tensor",
        loc=["body", "x", 1, 0, 1],
    ),
    Case("ragged deeper on the right", j({"x": [[1, 2], [3, [4]]]}), 422, "invalid-tensor", loc=["body", "x", 1, 1]),
    # wrong element types at various depths
    Case("false at depth 2", j({"x": [[1, False]]}), 422, "invalid-tensor", loc=["body", "x", 0, 1]),
    Case("true at depth 3", j({"x": [[[True]]]}), 422, "invalid-tensor", loc=["body", "x", 0, 0, 0]),
    Case("null at depth 2", j({"x": [[1, 2], [None, 3]]}), 422, "invalid-tensor", loc=["body", "x", 1, 0]),
    # Among many 0.0 and 1.0 values (which numpy would read true and false as), with or without
    # other fields in the body.
    Case(
        "true among 300 zeros",
        j({"x": [0.0] * 150 + [True] + [0.0] * 150}),
        422,
        "invalid-tensor",
        loc=["body", "x", 150],
    ),
    Case(
        "false among ones, dtype sent",
        j({"x": [1.0] * 200 + [False], "dtype": "float64"}),
        422,
        "invalid-tensor",
        loc=["body", "x", 200],
    ),
    Case("x is null", j({"x": None}), 422, "invalid-tensor", loc=["body", "x"]),
    Case("x is an object", j({"x": {"a": 1}}), 422, "invalid-tensor", loc=["body", "x"]),
    Case("object at depth 2", j({"x": [[1, {"a": 1}]]}), 422, "invalid-tensor", loc=["body", "x", 0, 1]),
    Case("empty string", j({"x": [1, ""]}), 422, "invalid-tensor", loc=["body", "x", 1]),
    Case("NaN with a trailing space", j({"x": [1, "NaN "]}), 422, "invalid-tensor", loc=["body", "x", 1]),
    Case("inf with a leading space", j({"x": [[1, " inf"]]}), 422, "invalid-tensor", loc=["body", "x", 0, 1]),
    Case("Infinityy", j({"x": ["Infinityy"]}), 422, "invalid-tensor", loc=["body", "x", 0]),
    Case("nan with a payload", j({"x": ["nan(1)"]}), 422, "invalid-tensor", loc=["body", "x", 0]),
    Case("numeric string at depth 3", j({"x": [[[1, "2.5"]]]}), 422, "invalid-tensor", loc=["body", "x", 0, 0, 1]),
    Case("escaped digit string", b'{"x": [1, "\\u0031"]}', 422, "invalid-tensor", loc=["body", "x", 1]),
    Case("arabic-indic digit string", j({"x": ["\u0661"]}), 422, "invalid-tensor", loc=["body", "x", 0]),
    Case("hex float string", j({"x": ["0x1p3"]}), 422, "invalid-tensor", loc=["body", "x", 0]),
    Case("x is an empty string", j({"x": ""}), 422, "invalid-tensor", loc=["body", "x"]),
    Case("a megabyte string element", j({"x": ["A" * 1_000_000]}), 422, "invalid-tensor", loc=["body", "x", 0]),
    Case("x with 100k keys", j({"x": {f"k{i}": 0 for i in range(100_000)}}), 422, "invalid-tensor", loc=["body", "x"]),
    # rank
    Case(
        "rank 33 of an empty list", b'{"x": ' + b"[" * 33 + b"]" * 33 + b"}", 422, "invalid-tensor", loc=["body", "x"]
    ),
    Case("x nested 100k deep", b'{"x": ' + b"[" * DEEP + b"]" * DEEP + b"}", 422, "invalid-tensor", loc=["body", "x"]),
    # the activation refuses the tensor
    Case("softmax on an empty 1-D x", j({"x": []}), 422, "invalid-tensor", path="/activate/softmax", detail="1D"),
    Case("Softmax on a scalar", j({"x": 2.0}), 422, "invalid-tensor", path="/activate/Softmax", loc=["body", "x"]),
    Case("glu on an odd axis 0", j({"x": [[1, 2]], "axis": 0}), 422, "invalid-tensor", path="/activate/glu"),
    Case("glu on a scalar", j({"x": 1.0}), 422, "invalid-parameter", path="/activate/glu", loc=["body", "axis"]),
    # dtype
    *(
        Case(f"dtype {name}", b'{"x": [1], "dtype": ' + raw + b"}", 422, "invalid-parameter", loc=["body", "dtype"])
        for name, raw in (
            ("null", b"null"),
            ("Float32", b'"Float32"'),
            ("list", b'["float32"]'),
            ("padded", b'"float32 "'),
            ("float128", b'"float128"'),
            ("number", b"32"),
            ("int8", b'"int8"'),
            ("empty", b'""'),
        )
    ),
]

# --- 422: parameters, generated from the registry's ParamSpecs ------------------------------------

WRONG_VALUES: dict[str, bytes] = {
    "string": b'"0.5"',
    "bool": b"true",
    "null": b"null",
    "NaN": b"NaN",
    "1e400": b"1e400",
    "list": b"[1]",
    "object": b'{"v": 1}',
    "float": b"1.0",
    "int": b"1",
}
# Which of WRONG_VALUES each kind of parameter refuses (SPEC section 1: scalar parameters are finite
# numbers, an axis a JSON integer, axes also a list of them, tensors a number or an array, approximate
# a boolean). A mask refuses numbers that are not 0/1 elsewhere; null is its default.
REFUSED: dict[str, tuple[str, ...]] = {
    "number": ("string", "bool", "null", "NaN", "1e400", "list", "object"),
    "optional_number": ("string", "bool", "NaN", "1e400", "list", "object"),
    "boolean": ("string", "null", "NaN", "1e400", "list", "object", "int", "float"),
    "axis": ("string", "bool", "null", "NaN", "1e400", "list", "object", "float"),
    "axes": ("string", "bool", "null", "NaN", "1e400", "object", "float"),
    "tensor": ("string", "bool", "null", "NaN", "1e400", "object"),
    "mask": ("string", "NaN", "1e400", "object"),
}
# In the query string the same values are written in JSON syntax; a bare NaN is no JSON there either.
QUERY_TEXT: dict[str, str] = {key: value.decode() for key, value in WRONG_VALUES.items()}


def _param_body(name: str, key: str, raw: bytes) -> bytes:
    fields = {"x": VALID_X, **required_fields(name)}
    fields.pop(key, None)
    return j(fields)[:-1] + b', "' + key.encode() + b'": ' + raw + b"}"


def _param_cases() -> Iterator[Case]:
    for spec in REGISTRY:
        for param in spec.params:
            for key in (param.name, *param.aliases):
                for wrong in REFUSED[param.kind]:
                    yield Case(
                        f"{spec.name}.{key}={wrong}",
                        _param_body(spec.name, key, WRONG_VALUES[wrong]),
                        422,
                        "invalid-parameter",
                        path=f"/activate/{spec.name}",
                        loc=["body", key],
                    )
                    others = [(k, str(v)) for k, v in required_fields(spec.name).items() if k != key]
                    yield Case(
                        f"npy {spec.name}?{key}={wrong}",
                        npy(np.array(VALID_X, dtype=np.float32)),
                        422,
                        "invalid-parameter",
                        path=f"/activate/{spec.name}",
                        headers={"content-type": NPY},
                        params=[*others, (key, QUERY_TEXT[wrong])],
                        loc=["query", key],
                    )


PARAM_CASES = list(_param_cases())


def _unknown_param_cases() -> Iterator[Case]:
    for name in REGISTRY.names:
        fields = {"x": VALID_X, **required_fields(name), "bogus": 1}
        yield Case(
            f"{name} unknown param",
            j(fields),
            422,
            "invalid-parameter",
            path=f"/activate/{name}",
            loc=["body", "bogus"],
        )
        yield Case(
            f"npy {name} unknown param",
            npy(np.array(VALID_X, dtype=np.float32)),
            422,
            "invalid-parameter",
            path=f"/activate/{name}",
            headers={"content-type": NPY},
            params=[*((k, str(v)) for k, v in required_fields(name).items()), ("bogus", "1")],
            loc=["query", "bogus"],
        )


UNKNOWN_PARAM_CASES = [
    *_unknown_param_cases(),
    Case("parameter in another case", j({"x": [1], "Alpha": 0.1}), 422, "invalid-parameter", loc=["body", "Alpha"]),
    Case(
        "params nested in an object",
        j({"x": [1], "params": {"alpha": 0.1}}),
        422,
        "invalid-parameter",
        loc=["body", "params"],
    ),
    Case("empty key", j({"x": [1], "": 1}), 422, "invalid-parameter", loc=["body", ""]),
    Case("another activation's parameter", j({"x": [1], "theta": 1}), 422, "invalid-parameter", loc=["body", "theta"]),
    Case(
        "sigmoid has no alpha",
        j({"x": [1], "alpha": 0.1}),
        422,
        "invalid-parameter",
        path="/activate/sigmoid",
        loc=["body", "alpha"],
    ),
    Case(
        "100k unknown keys",
        b'{"x": [1], ' + b", ".join(b'"k%d": 0' % i for i in range(100_000)) + b"}",
        422,
        "invalid-parameter",
        loc=["body", "k0"],
    ),
    Case("a response field sent back", j({"x": [1], "y": [1]}), 422, "invalid-parameter", loc=["body", "y"]),
    Case(
        "npy x in the query",
        npy(np.ones(2)),
        422,
        "invalid-parameter",
        headers={"content-type": NPY},
        params=[("x", "1")],
        loc=["query", "x"],
    ),
]


def _axis_cases() -> Iterator[Case]:
    x = [[1.0, 2.0]]
    for spec in REGISTRY:
        for param in spec.params:
            if param.kind not in ("axis", "axes"):
                continue
            is_list = param.kind == "axes"
            table: list[tuple[str, object, list[object]]] = [
                ("1.0", 1.0, ["body", "axis"]),
                ('"1"', "1", ["body", "axis"]),
                ("true", True, ["body", "axis"]),
                ("[]", [], ["body", "axis"]),
                ("[1, 1]", [1, 1], ["body", "axis"]),
                ("[0, 1.5]", [0, 1.5], ["body", "axis", 1] if is_list else ["body", "axis"]),
                ("[0, 5]", [0, 5], ["body", "axis", 1] if is_list else ["body", "axis"]),
                ('[0, "1"]', [0, "1"], ["body", "axis", 1] if is_list else ["body", "axis"]),
                ("[[0]]", [[0]], ["body", "axis", 0] if is_list else ["body", "axis"]),
                ("2", 2, ["body", "axis"]),
                ("-3", -3, ["body", "axis"]),
                ("2**70", 2**70, ["body", "axis"]),
            ]
            for label, value, loc in table:
                yield Case(
                    f"{spec.name} axis {label}",
                    j({"x": x, "axis": value}),
                    422,
                    "invalid-parameter",
                    path=f"/activate/{spec.name}",
                    loc=loc,
                )


AXIS_CASES = list(_axis_cases())

TENSOR_PARAM_CASES = [
    Case(
        "PReLU alpha with a boolean",
        j({"x": [[1, -2]], "alpha": [True, 1]}),
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
        loc_prefix=True,
    ),
    Case(
        "PReLU alpha all booleans",
        j({"x": [[1, -2]], "alpha": [True, False]}),
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
        loc_prefix=True,
    ),
    Case(
        "PReLU alpha with a string",
        j({"x": [[1, -2]], "alpha": ["a", 1]}),
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
        loc_prefix=True,
    ),
    Case(
        "PReLU alpha with null",
        j({"x": [[1, -2]], "alpha": [None, 1]}),
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
        loc_prefix=True,
    ),
    Case(
        "PReLU alpha with NaN",
        b'{"x": [[1, -2]], "alpha": [NaN, 1]}',
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
        loc_prefix=True,
    ),
    Case(
        "PReLU alpha with 1e400",
        b'{"x": [[1, -2]], "alpha": [1e400, 1]}',
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
        loc_prefix=True,
    ),
    Case(
        "PReLU alpha ragged",
        j({"x": [[1, -2]], "alpha": [[1, 2], [3]]}),
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
        loc_prefix=True,
    ),
    Case(
        "PReLU alpha rank 40",
        b'{"x": [[1]], "alpha": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}",
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
    ),
    Case(
        "PReLU alpha longer than x",
        j({"x": [[1, -2]], "alpha": [[1, 2, 3]]}),
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
    ),
    Case(
        "PReLU alpha of higher rank",
        j({"x": [1, -2], "alpha": [[1, 2]]}),
        422,
        "invalid-parameter",
        path="/activate/PReLU",
        loc=["body", "alpha"],
    ),
    Case(
        "mask of 0.5",
        j({"x": [[1, 2]], "mask": [[0.5, 1]]}),
        422,
        "invalid-parameter",
        path="/activate/Softmax",
        loc=["body", "mask"],
        loc_prefix=True,
    ),
    Case(
        "mask with NaN",
        b'{"x": [[1, 2]], "mask": [[NaN, 1]]}',
        422,
        "invalid-parameter",
        path="/activate/Softmax",
        loc=["body", "mask"],
        loc_prefix=True,
    ),
    Case(
        "mask with a string",
        j({"x": [[1, 2]], "mask": [["1", 1]]}),
        422,
        "invalid-parameter",
        path="/activate/Softmax",
        loc=["body", "mask"],
        loc_prefix=True,
    ),
    Case(
        "mask with null",
        j({"x": [[1, 2]], "mask": [[None, 1]]}),
        422,
        "invalid-parameter",
        path="/activate/Softmax",
        loc=["body", "mask"],
        loc_prefix=True,
    ),
    Case(
        "mask ragged",
        j({"x": [[1, 2]], "mask": [[1], [1, 0]]}),
        422,
        "invalid-parameter",
        path="/activate/Softmax",
        loc=["body", "mask"],
        loc_prefix=True,
    ),
    Case(
        "mask of -1",
        j({"x": [[1, 2]], "mask": [[-1, 1]]}),
        422,
        "invalid-parameter",
        path="/activate/Softmax",
        loc=["body", "mask"],
        loc_prefix=True,
    ),
    Case(
        "mask larger than x",
        j({"x": [[1, 2]], "mask": [[1, 0], [0, 1]]}),
        422,
        "invalid-parameter",
        path="/activate/Softmax",
        loc=["body", "mask"],
    ),
    Case(
        "mask in the query not json",
        npy(np.ones((1, 2))),
        422,
        "invalid-parameter",
        path="/activate/Softmax",
        headers={"content-type": NPY},
        params=[("mask", "[[1,0]")],
        loc=["query", "mask"],
    ),
    # constraints and conflicts the existing table does not cover
    Case(
        "celu alpha -0.0",
        j({"x": [1], "alpha": -0.0}),
        422,
        "invalid-parameter",
        path="/activate/celu",
        loc=["body", "alpha"],
    ),
    Case(
        "squareplus b tiny negative",
        j({"x": [1], "b": -1e-300}),
        422,
        "invalid-parameter",
        path="/activate/squareplus",
        loc=["body", "b"],
    ),
    Case(
        "ReLU threshold negative",
        j({"x": [1], "threshold": -0.5}),
        422,
        "invalid-parameter",
        path="/activate/ReLU",
        loc=["body", "threshold"],
    ),
    Case(
        "ReLU has no alpha",
        j({"x": [1], "alpha": 0.1}),
        422,
        "invalid-parameter",
        path="/activate/ReLU",
        loc=["body", "alpha"],
    ),
    Case(
        "LeakyReLU has no negative_slope",
        j({"x": [1], "negative_slope": 0.1}),
        422,
        "invalid-parameter",
        path="/activate/LeakyReLU",
        loc=["body", "negative_slope"],
    ),
    Case("threshold without parameters", j({"x": [1]}), 422, "invalid-parameter", path="/activate/threshold"),
    Case(
        "threshold missing threshold",
        j({"x": [1], "default_value": 0}),
        422,
        "invalid-parameter",
        path="/activate/threshold",
        loc=["body", "threshold"],
    ),
    Case(
        "alias conflict in the query",
        npy(np.ones(2)),
        422,
        "invalid-parameter",
        headers={"content-type": NPY},
        params=[("alpha", "0.1"), ("negative_slope", "0.2")],
    ),
    Case(
        "repeated scalar in the query",
        npy(np.ones(2)),
        422,
        "invalid-parameter",
        headers={"content-type": NPY},
        params=[("alpha", "0.1"), ("alpha", "0.2")],
        loc=["query", "alpha"],
    ),
    Case(
        "query key without a value",
        npy(np.ones(2)),
        422,
        "invalid-parameter",
        path="/activate/relu?alpha",
        headers={"content-type": NPY},
        loc=["query", "alpha"],
    ),
    Case(
        "query dtype empty",
        npy(np.ones(2)),
        422,
        "invalid-parameter",
        headers={"content-type": NPY},
        params=[("dtype", "")],
        loc=["query", "dtype"],
    ),
    Case(
        "query dtype float128",
        npy(np.ones(2)),
        422,
        "invalid-parameter",
        headers={"content-type": NPY},
        params=[("dtype", "float128")],
        loc=["query", "dtype"],
    ),
]

# --- 400, 413, 415, 422: .npy ---------------------------------------------------------------------

NPY_HEADERS = {"content-type": NPY}


def npy_case(label: str, body: bytes, status: int, kind: str, **kw: Any) -> Case:
    headers = {**NPY_HEADERS, **kw.pop("headers", {})}
    return Case(f"npy {label}", body, status, kind, headers=headers, **kw)


NPY_CASES = [
    # dtypes that are no tensor: 422, located at the body
    *(
        npy_case(
            f"dtype {descr}",
            npy_file(f4_header("(1,)", repr(descr)), b"\0" * size),
            422,
            "invalid-tensor",
            loc=["body"],
        )
        for descr, size in (
            ("<c8", 8),
            ("<c16", 16),
            ("<U3", 12),
            ("|S3", 3),
            ("<M8[s]", 8),
            ("<m8[s]", 8),
            ("|b1", 1),
            ("|O", 8),
            ("<f16", 16),
            ("|V8", 8),
            ("|V2", 2),
            ("<V2", 2),
        )
    ),
    npy_case(
        "subarray dtype", npy_file(f4_header("(1,)", "('<f4', (2,))"), b"\0" * 8), 422, "invalid-tensor", loc=["body"]
    ),
    npy_case(
        "structured dtype",
        npy_file(f4_header("(1,)", "[('a', '<f4'), ('b', '<f4')]"), b"\0" * 8),
        422,
        "invalid-tensor",
        loc=["body"],
    ),
    npy_case("complex array", npy(np.array([1 + 2j], dtype=np.complex64)), 422, "invalid-tensor", loc=["body"]),
    npy_case("string array", npy(np.array(["1.5"])), 422, "invalid-tensor", loc=["body"]),
    npy_case(
        "datetime array", npy(np.array(["2024-01-01"], dtype="datetime64[D]")), 422, "invalid-tensor", loc=["body"]
    ),
    npy_case("rank 33", npy(np.zeros((1,) * 33, dtype=np.float32)), 422, "invalid-tensor", loc=["body"]),
    npy_case(
        "rank 64 claimed", npy_file(f4_header("(" + "1," * 64 + ")"), b"\0" * 4), 422, "invalid-tensor", loc=["body"]
    ),
    npy_case(
        "softmax on 1-D", npy(np.ones(3, np.float32)), 422, "invalid-tensor", path="/activate/softmax", loc=["body"]
    ),
    npy_case(
        "glu on an odd axis", npy(np.ones(3, np.float32)), 422, "invalid-tensor", path="/activate/glu", loc=["body"]
    ),
    # a shape claiming more elements than the limit: 413, before any allocation
    npy_case("huge shape, little data", npy_file(f4_header(f"({10**12},)"), b"\0" * 8), 413, "payload-too-large"),
    npy_case("huge 2-D shape, no data", npy_file(f4_header(f"({2**31}, {2**31})")), 413, "payload-too-large"),
    # not a readable .npy: 400
    npy_case("shape claims 4 elements, data 1", npy_file(f4_header("(4,)"), b"\0" * 4), 400, "malformed-body"),
    npy_case("negative shape", npy_file(f4_header("(-1,)"), b"\0" * 4), 400, "malformed-body"),
    npy_case("non-integer shape", npy_file(f4_header("(1.5,)"), b"\0" * 4), 400, "malformed-body"),
    npy_case("boolean shape", npy_file(f4_header("(True,)"), b"\0" * 4), 400, "malformed-body"),
    npy_case("shape as a list", npy_file(f4_header("[2]"), b"\0" * 8), 400, "malformed-body"),
    npy_case("shape as a string", npy_file(f4_header("'2'"), b"\0" * 8), 400, "malformed-body"),
    npy_case("fortran_order a string", npy_file(f4_header(order="'yes'"), b"\0" * 8), 400, "malformed-body"),
    npy_case("fortran_order 1", npy_file(f4_header(order="1"), b"\0" * 8), 400, "malformed-body"),
    npy_case("missing key", npy_file("{'descr': '<f4', 'shape': (2,), }", b"\0" * 8), 400, "malformed-body"),
    npy_case(
        "extra key",
        npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", b"\0" * 8),
        400,
        "malformed-body",
    ),
    npy_case("header a list", npy_file("['<f4', False, (2,)]", b"\0" * 8), 400, "malformed-body"),
    npy_case("header a set", npy_file("{'descr', 'fortran_order', 'shape'}", b"\0" * 8), 400, "malformed-body"),
    npy_case("header a lambda", npy_file("(lambda: 1)()", b"\0" * 8), 400, "malformed-body"),
    npy_case("header nested 5000 deep", npy_file(f4_header("(" * 5000 + ")" * 5000)), 400, "malformed-body"),
    npy_case("header not text", npy_file(b"\x00\x01\x02\x03" * 8, b"\0" * 8), 400, "malformed-body"),
    npy_case(
        "header over 64 KiB", npy_file(f4_header() + " " * 70_000, b"\0" * 8, version=(2, 0)), 400, "malformed-body"
    ),
    npy_case(
        "header length beyond the body",
        b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFFF) + b"{}",
        400,
        "malformed-body",
    ),
    npy_case(
        "v3 header not utf-8",
        npy_file(f4_header("(1,)").encode() + b"\xff\xfe", b"\0" * 4, version=(3, 0)),
        400,
        "malformed-body",
    ),
    npy_case("version 4.0", npy_file(f4_header(), b"\0" * 8, version=(4, 0)), 400, "malformed-body"),
    npy_case("version 1.1", npy_file(f4_header(), b"\0" * 8, version=(1, 1)), 400, "malformed-body"),
    npy_case("version 0.0", npy_file(f4_header(), b"\0" * 8, version=(0, 0)), 400, "malformed-body"),
    npy_case("truncated preamble", b"\x93NUMPY\x01", 400, "malformed-body"),
    npy_case("magic only", b"\x93NUMPY", 400, "malformed-body"),
    npy_case("wrong magic", b"\x93NUMPX\x01\x00" + npy(np.ones(2))[8:], 400, "malformed-body"),
    npy_case("data longer than the shape", npy(np.ones(2, np.float32)) + b"\0" * 4, 400, "malformed-body"),
    npy_case("data one byte short", npy(np.ones(2, np.float32))[:-1], 400, "malformed-body"),
    npy_case("empty body", b"", 400, "malformed-body"),
    npy_case("json body", j({"x": [1]}), 400, "malformed-body"),
    npy_case("bare pickle stream", pickle.dumps([1.0, 2.0]), 400, "malformed-body"),
    npy_case("npz archive", b"PK\x03\x04" + b"\0" * 60, 400, "malformed-body"),
    # bfloat16: npy cannot carry it
    npy_case(
        "bfloat16 asked as npy",
        npy(np.ones(2, np.float32)),
        406,
        "not-acceptable",
        headers={"content-type": NPY, "accept": NPY},
        params=[("dtype", "bfloat16")],
    ),
]

# --- 406, 415, 400: negotiation and encodings -----------------------------------------------------

OK_BODY = j({"x": [[1.0, -2.0]]})
GZ = gzip.compress(OK_BODY)

NEGOTIATION_CASES = [
    Case("content-type text/json", OK_BODY, 415, "unsupported-media-type", headers={"content-type": "text/json"}),
    Case(
        "content-type text/plain utf-8",
        OK_BODY,
        415,
        "unsupported-media-type",
        headers={"content-type": "text/plain; charset=utf-8"},
    ),
    Case(
        "content-type octet-stream",
        npy(np.ones(2)),
        415,
        "unsupported-media-type",
        headers={"content-type": "application/octet-stream"},
    ),
    Case(
        "content-type multipart",
        b'--xyz\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--xyz--\r\n',
        415,
        "unsupported-media-type",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    ),
    Case("content-type xml", b"<x>1</x>", 415, "unsupported-media-type", headers={"content-type": "application/xml"}),
    Case("content-type jsonx", OK_BODY, 415, "unsupported-media-type", headers={"content-type": "application/jsonx"}),
    Case(
        "content-type json-seq",
        OK_BODY,
        415,
        "unsupported-media-type",
        headers={"content-type": "application/json-seq"},
    ),
    Case(
        "content-type only parameters",
        OK_BODY,
        415,
        "unsupported-media-type",
        headers={"content-type": ";charset=utf-8"},
    ),
    Case("content-type npy with json body", OK_BODY, 400, "malformed-body", headers={"content-type": NPY}),
    Case(
        "content-type json with npy body",
        npy(np.ones(2, np.float32)),
        400,
        "malformed-body",
        headers={"content-type": "application/json"},
    ),
    Case("accept text/plain", OK_BODY, 406, "not-acceptable", headers={"accept": "text/plain"}),
    Case("accept image/*", OK_BODY, 406, "not-acceptable", headers={"accept": "image/*"}),
    Case("accept json with q=0", OK_BODY, 406, "not-acceptable", headers={"accept": "application/json;q=0"}),
    Case("accept */* with q=0", OK_BODY, 406, "not-acceptable", headers={"accept": "*/*;q=0"}),
    Case("accept xml and html", OK_BODY, 406, "not-acceptable", headers={"accept": "application/xml, text/html"}),
    Case(
        "accept npy only for bfloat16",
        j({"x": [1], "dtype": "bfloat16"}),
        406,
        "not-acceptable",
        headers={"accept": NPY},
    ),
    Case(
        "accept npy, json q=0 for bfloat16",
        j({"x": [1], "dtype": "bfloat16"}),
        406,
        "not-acceptable",
        headers={"accept": f"{NPY}, application/json;q=0"},
    ),
    Case(
        "gzip magic then garbage",
        b"\x1f\x8b\x08\x00garbage-garbage",
        400,
        "malformed-body",
        headers={"content-encoding": "gzip"},
    ),
    Case("gzip truncated", GZ[:-6], 400, "malformed-body", headers={"content-encoding": "gzip"}),
    Case("gzip header only", GZ[:10], 400, "malformed-body", headers={"content-encoding": "gzip"}),
    Case(
        "gzip with trailing garbage",
        GZ + b"trailing garbage",
        400,
        "malformed-body",
        headers={"content-encoding": "gzip"},
    ),
    Case(
        "gzip with a bad crc",
        GZ[:-8] + b"\0\0\0\0" + GZ[-4:],
        400,
        "malformed-body",
        headers={"content-encoding": "gzip"},
    ),
    Case("gzip of an empty body", b"", 400, "malformed-body", headers={"content-encoding": "gzip"}),
    Case("gzip of nothing", gzip.compress(b""), 400, "malformed-body", headers={"content-encoding": "gzip"}),
    Case("gzip of a non-object", gzip.compress(b"[1]"), 422, "invalid-body", headers={"content-encoding": "gzip"}),
    Case("deflate garbage", b"\x78\x9c garbage", 400, "malformed-body", headers={"content-encoding": "deflate"}),
    Case(
        "deflate with trailing garbage",
        zlib.compress(OK_BODY) + b"junk",
        400,
        "malformed-body",
        headers={"content-encoding": "deflate"},
    ),
    Case("content-encoding zstd", OK_BODY, 415, "unsupported-media-type", headers={"content-encoding": "zstd"}),
    Case("content-encoding compress", OK_BODY, 415, "unsupported-media-type", headers={"content-encoding": "compress"}),
    Case("content-encoding made up", OK_BODY, 415, "unsupported-media-type", headers={"content-encoding": "rot13"}),
]

# --- 404, 405: routes and methods -----------------------------------------------------------------

GET_ROUTES = ["/activations", "/activations/relu", "/healthz", "/readyz", "/problems/invalid-tensor"]
ROUTE_METHODS = [("/activate/relu", m) for m in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")] + [
    (route, m) for route in GET_ROUTES for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS")
]
METHOD_CASES = [
    Case(
        f"{method} {path}",
        OK_BODY if method not in ("GET", "HEAD", "OPTIONS") else None,
        405,
        "method-not-allowed",
        path=path,
        method=method,
    )
    for path, method in ROUTE_METHODS
]
ALLOWED = {"/activate/relu": "POST", **dict.fromkeys(GET_ROUTES, "GET")}

ROUTE_CASES = [
    Case("empty activation name", OK_BODY, 404, "not-found", path="/activate/"),
    Case("GET empty activation name", None, 404, "not-found", path="/activate/", method="GET"),
    Case("activate without a name", OK_BODY, 404, "not-found", path="/activate"),
    Case("extra path segment", OK_BODY, 404, "not-found", path="/activate/relu/extra"),
    Case("trailing slash", OK_BODY, 404, "not-found", path="/activate/relu/"),
    Case("double slash", OK_BODY, 404, "not-found", path="/activate//relu"),
    Case("route in upper case", OK_BODY, 404, "not-found", path="/ACTIVATE/relu"),
    Case("versioned prefix", OK_BODY, 404, "not-found", path="/v1/activate/relu"),
    Case("listing with an extra segment", None, 404, "not-found", path="/activations/relu/extra", method="GET"),
    Case("dot-dot traversal", OK_BODY, 404, "not-found", path="/activate/..%2F..%2Fetc%2Fpasswd"),
    Case("script tag", OK_BODY, 404, "not-found", path="/activate/<script>alert(1)</script>"),
    Case("nul name", OK_BODY, 404, "unknown-activation", path="/activate/%00"),
    Case("invalid utf-8 name", OK_BODY, 404, "unknown-activation", path="/activate/%ff%fe"),
    Case("right-to-left override", OK_BODY, 404, "unknown-activation", path="/activate/%E2%80%AE"),
    Case("name with a space", OK_BODY, 404, "unknown-activation", path="/activate/relu%20", detail="'relu'"),
    Case("name in upper case", OK_BODY, 404, "unknown-activation", path="/activate/RELU", detail="'relu'"),
    Case("python dunder", OK_BODY, 404, "unknown-activation", path="/activate/__class__"),
    Case("javascript prototype", OK_BODY, 404, "unknown-activation", path="/activate/__proto__"),
    Case("10k-character name", OK_BODY, 404, "unknown-activation", path="/activate/" + "a" * 10_000),
    Case("listing nul name", None, 404, "unknown-activation", path="/activations/%00", method="GET"),
    Case("unknown problem page", None, 404, "not-found", path="/problems/%00", method="GET"),
]

# --- accepted edge cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    id: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/activate/relu"
    content_type: str = "application/json"
    y: list[Any] | None = None  # expected y (JSON answers)
    dtype: str = "float32"


ACCEPTED = [
    Accepted("json with charset", OK_BODY, {"content-type": "application/json; charset=utf-8"}, y=[[1.0, 0.0]]),
    Accepted(
        "json with upper-case charset", OK_BODY, {"content-type": "application/json;charset=UTF-8"}, y=[[1.0, 0.0]]
    ),
    Accepted("json media type in upper case", OK_BODY, {"content-type": "APPLICATION/JSON"}, y=[[1.0, 0.0]]),
    Accepted("whitespace around the document", b'\t\r\n {"x": [[1, -2]]} \r\n', y=[[1.0, 0.0]]),
    Accepted("duplicated x: the last wins", b'{"x": [[5, 5]], "x": [[1, -2]]}', y=[[1.0, 0.0]]),
    Accepted("duplicated parameter: the last wins", b'{"x": [[1, -2]], "alpha": "bad", "alpha": 0.5}', y=[[1.0, -1.0]]),
    Accepted("accept */*", OK_BODY, {"accept": "*/*"}, y=[[1.0, 0.0]]),
    Accepted("accept application/*", OK_BODY, {"accept": "application/*"}, y=[[1.0, 0.0]]),
    Accepted("accept json;q=0 with npy", OK_BODY, {"accept": f"application/json;q=0, {NPY}"}, content_type=NPY),
    Accepted("accept npy;q=0 with json", OK_BODY, {"accept": f"{NPY};q=0, application/json"}, y=[[1.0, 0.0]]),
    Accepted("accept json preferred by q", OK_BODY, {"accept": f"{NPY};q=0.5, application/json;q=0.9"}, y=[[1.0, 0.0]]),
    Accepted("accept npy preferred by q", OK_BODY, {"accept": f"{NPY}, application/json;q=0.5"}, content_type=NPY),
    Accepted(
        "bfloat16 with npy preferred falls back to json",
        j({"x": [[1, -2]], "dtype": "bfloat16"}),
        {"accept": f"{NPY}, application/json;q=0.5"},
        y=[[1.0, 0.0]],
        dtype="bfloat16",
    ),
    Accepted(
        "bfloat16 with */*",
        j({"x": [[1, -2]], "dtype": "bfloat16"}),
        {"accept": "*/*"},
        y=[[1.0, 0.0]],
        dtype="bfloat16",
    ),
    Accepted("gzip in upper case", GZ, {"content-encoding": "GZIP"}, y=[[1.0, 0.0]]),
    Accepted("x-gzip", GZ, {"content-encoding": "x-gzip"}, y=[[1.0, 0.0]]),
    Accepted(
        "multi-member gzip",
        gzip.compress(b'{"x": [[1, ') + gzip.compress(b"-2]]}"),
        {"content-encoding": "gzip"},
        y=[[1.0, 0.0]],
    ),
    Accepted("zlib deflate", zlib.compress(OK_BODY), {"content-encoding": "deflate"}, y=[[1.0, 0.0]]),
    Accepted("raw deflate", zlib.compress(OK_BODY, wbits=-15), {"content-encoding": "deflate"}, y=[[1.0, 0.0]]),
    Accepted("identity encoding", OK_BODY, {"content-encoding": "identity"}, y=[[1.0, 0.0]]),
    Accepted("integer beyond float64", b'{"x": [1' + b"0" * 5000 + b", -1]}", y=["Infinity", 0.0]),
    Accepted("100k-digit fraction", b'{"x": [0.' + b"0" * 100_000 + b"1]}", y=[0.0]),
]

# --- the tests over the tables --------------------------------------------------------------------


def _ids(cases: list[Case]) -> list[str]:
    return [case.id for case in cases]


# Each table is one family of hostile requests; every request gets the problem its row names.
PROBLEM_TABLES = {
    "body_is_not_json_or_not_a_request": BODY_CASES,
    "tensor_is_refused_where_it_goes_wrong": TENSOR_CASES,
    "every_parameter_refuses_every_wrong_type": PARAM_CASES,
    "unknown_parameters_are_named": UNKNOWN_PARAM_CASES,
    "axis_must_be_json_integers_in_range": AXIS_CASES,
    "tensor_parameters_and_constraints": TENSOR_PARAM_CASES,
    "hostile_npy_files": NPY_CASES,
    "content_negotiation_and_encodings": NEGOTIATION_CASES,
    "unknown_and_odd_routes_are_404": ROUTE_CASES,
}
ALL_PROBLEM_CASES = [(family, case) for family, cases in PROBLEM_TABLES.items() for case in cases]


@pytest.mark.parametrize(("family", "case"), ALL_PROBLEM_CASES, ids=[f"{f}:{c.id}" for f, c in ALL_PROBLEM_CASES])
def test_hostile_request_gets_its_problem(client: TestClient, family: str, case: Case) -> None:
    assert_problem(client, send(client, case), case)


@pytest.mark.parametrize("case", METHOD_CASES, ids=_ids(METHOD_CASES))
def test_wrong_method_is_405_with_allow(client: TestClient, case: Case) -> None:
    response = send(client, case)
    allowed = [method.strip() for method in response.headers.get("allow", "").split(",")]
    assert ALLOWED[case.path] in allowed, response.headers.get("allow")
    if case.method == "HEAD":  # no body to read: status, type and Allow only
        assert response.status_code == 405 and response.content == b""
        assert response.headers["content-type"] == PROBLEM
        assert client.get("/healthz").status_code == 200
        return
    assert_problem(client, response, case)


@pytest.mark.parametrize("path", GET_ROUTES)
def test_head_is_get_without_a_body(client: TestClient, path: str) -> None:
    head = client.head(path)
    assert head.status_code == client.get(path).status_code == 200, head.headers.get("allow")
    assert head.content == b""


def test_the_catalogue_of_hostile_requests_is_large() -> None:
    tables = [BODY_CASES, TENSOR_CASES, UNKNOWN_PARAM_CASES, AXIS_CASES, TENSOR_PARAM_CASES, NPY_CASES]
    hand_written = sum(len(table) for table in tables) + len(NEGOTIATION_CASES) + len(ROUTE_CASES)
    assert hand_written >= 90
    assert (
        len({case.id for case in PARAM_CASES})
        == len(PARAM_CASES)
        >= 2 * sum(len(param.aliases) + 1 for spec in REGISTRY for param in spec.params)
    )


# --- requests that look hostile but are fine ------------------------------------------------------


@pytest.mark.parametrize("case", ACCEPTED, ids=[case.id for case in ACCEPTED])
def test_edge_cases_that_are_accepted(client: TestClient, case: Accepted) -> None:
    response = client.post(case.path, content=case.body, headers=case.headers)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == case.content_type
    assert response.headers["x-dtype"] == case.dtype
    if case.content_type == NPY:
        y = np.load(io.BytesIO(response.content), allow_pickle=False)
        assert y.dtype == np.float32 and y.tolist() == [[1.0, 0.0]]
    else:
        document = orjson.loads(response.content)
        assert document["y"] == case.y and document["dtype"] == case.dtype


NPY_ACCEPTED = [
    ("big-endian float32", np.array([[1.5, -2.0, 3.25]], dtype=">f4"), np.float32),
    ("big-endian float64", np.array([[1e300, -2.0, 5e-324]], dtype=">f8"), np.float64),
    ("big-endian float16", np.array([[65504, -2.0, 6e-8]], dtype=">f2"), np.float16),
    ("fortran float32", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3) - 2.5), np.float32),
    ("fortran big-endian float64", np.asfortranarray(np.arange(24, dtype=">f8").reshape(2, 3, 4) / 7), np.float64),
    ("int8", np.array([[-128, 0, 127]], dtype="|i1"), np.float32),
    ("big-endian int32", np.array([[-(2**31), 7, 2**31 - 1]], dtype=">i4"), np.float32),
    ("uint16", np.array([[0, 1, 65535]], dtype="<u2"), np.float32),
    ("int64", np.array([[-(2**62), 3, 2**62]], dtype="<i8"), np.float32),
]


@pytest.mark.parametrize(("label", "array", "native"), NPY_ACCEPTED, ids=[row[0] for row in NPY_ACCEPTED])
def test_npy_byte_orders_orders_and_integers(client: TestClient, label: str, array: np.ndarray, native: Any) -> None:
    response = client.post("/activate/linear", content=npy(array), headers={"content-type": NPY, "accept": NPY})
    assert response.status_code == 200, response.text
    y = np.load(io.BytesIO(response.content), allow_pickle=False)
    expected = array.astype(native)
    assert y.dtype == np.dtype(native) and y.dtype.byteorder in ("=", "<", "|")
    assert y.flags.c_contiguous and y.shape == array.shape
    np.testing.assert_array_equal(y, expected)
    assert response.headers["x-shape"] == ",".join(map(str, array.shape))


@pytest.mark.parametrize("version", [(2, 0), (3, 0)])
def test_npy_versions_2_and_3(client: TestClient, version: tuple[int, int]) -> None:
    data = np.array([-1.5, 2.0], dtype="<f4").tobytes()
    response = client.post("/activate/relu", content=npy_file(f4_header(), data, version), headers=NPY_HEADERS)
    assert response.status_code == 200, response.text
    assert orjson.loads(response.content)["y"] == [0.0, 2.0]


def test_rank_32_is_the_limit_not_over_it(client: TestClient) -> None:
    as_json = client.post("/activate/relu", content=b'{"x": ' + b"[" * 32 + b"-1" + b"]" * 32 + b"}")
    assert as_json.status_code == 200 and as_json.json()["shape"] == [1] * 32
    as_npy = client.post("/activate/relu", content=npy(np.ones((1,) * 32, np.float32)), headers=NPY_HEADERS)
    assert as_npy.status_code == 200 and as_npy.headers["x-shape"] == ",".join(["1"] * 32)


# --- code that must never run ---------------------------------------------------------------------


class _Exploit:
    """Unpickling this creates the file `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def test_pickles_are_never_unpickled(client: TestClient, tmp_path: Path) -> None:
    markers = [tmp_path / f"unpickled-{i}" for i in range(4)]
    stream = [
        pickle.dumps(np.array([_Exploit(marker)], dtype=object), protocol=p)
        for p, marker in zip((2, 4), markers[:2], strict=True)
    ]
    data = pickle.dumps(_Exploit(markers[2]))
    data += b"\0" * (-len(data) % 4)
    sent = [
        # an object array in a version 2.0 file
        (npy_file("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", stream[0], (2, 0)), 422),
        # an object array whose header claims float32: the bytes are read as floats, nothing more
        (npy_file(f4_header(f"({len(stream[1]) // 4},)"), stream[1][: len(stream[1]) // 4 * 4]), 200),
        (npy_file(f4_header(f"({len(data) // 4},)"), data), 200),
        # a bare pickle stream
        (pickle.dumps(_Exploit(markers[3])), 400),
    ]
    for body, status in sent:
        response = client.post("/activate/linear", content=body, headers=NPY_HEADERS)
        assert response.status_code == status, response.text
        assert_no_internals(response.text)
    assert not any(marker.exists() for marker in markers)
    assert client.get("/healthz").status_code == 200


def test_code_in_a_header_or_query_is_never_evaluated(client: TestClient, tmp_path: Path) -> None:
    marker = tmp_path / "evaluated"
    touch = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    system = f"__import__('os').system('touch {marker}')"
    headers = [
        f4_header("(1,)", descr=touch),
        f4_header("(1,)", descr=system),
        f4_header(f"({touch},)"),
        f4_header(order=touch),
        touch,
        f"{{'descr': '<f4', 'fortran_order': False, 'shape': (1,), **{touch}}}",
    ]
    for header in headers:
        response = client.post("/activate/relu", content=npy_file(header, b"\0" * 4), headers=NPY_HEADERS)
        assert response.status_code == 400, response.text
        assert_no_internals(response.text)
    for key in ("alpha", "dtype", "threshold"):
        response = client.post("/activate/relu", content=npy(np.ones(1)), headers=NPY_HEADERS, params=[(key, touch)])
        assert response.status_code == 422, response.text
    body = b'{"x": [1], "dtype": "' + touch.encode() + b'"}'
    assert client.post("/activate/relu", content=body).status_code == 422
    assert client.post(f"/activate/{touch}", content=OK_BODY).status_code == 404
    assert not marker.exists()
    assert client.get("/healthz").status_code == 200


# --- limits, in process ---------------------------------------------------------------------------


def _elements(rows: int, cols: int) -> bytes:
    return j({"x": [[0.5] * cols for _ in range(rows)]})


def test_element_limit_is_exact(make_client: Any) -> None:
    small = make_client(max_elements=6)
    assert small.post("/activate/relu", content=_elements(2, 3)).status_code == 200
    assert (
        small.post("/activate/relu", content=npy(np.ones((3, 2), np.float32)), headers=NPY_HEADERS).status_code == 200
    )
    over = [
        Case("json 2x4", _elements(2, 4), 413, "payload-too-large"),
        Case("json 7x1", _elements(7, 1), 413, "payload-too-large"),
        Case(
            "gzip json 3x3",
            gzip.compress(_elements(3, 3)),
            413,
            "payload-too-large",
            headers={"content-encoding": "gzip"},
        ),
        Case("npy 7", npy(np.ones(7, np.float32)), 413, "payload-too-large", headers=NPY_HEADERS),
        Case("npy 2x2x2", npy(np.ones((2, 2, 2))), 413, "payload-too-large", headers=NPY_HEADERS),
        Case(
            "npy 0x10**9 claimed", npy_file(f4_header(f"(7, {10**9})")), 413, "payload-too-large", headers=NPY_HEADERS
        ),
    ]
    for case in over:
        assert_problem(small, send(small, case), case)


def test_body_byte_limit_is_exact_also_after_decompression(make_client: Any) -> None:
    limit = 256
    small = make_client(max_body_bytes=limit)
    exact = b'{"x": [1, -2]' + b" " * (limit - 14) + b"}"
    assert len(exact) == limit
    assert small.post("/activate/relu", content=exact).status_code == 200
    assert (
        small.post("/activate/relu", content=gzip.compress(exact), headers={"content-encoding": "gzip"}).status_code
        == 200
    )
    one_more = exact[:-1] + b" }"
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb_body = bomb.compress(b'{"x": [' + b"0," * 5_000_000) + bomb.flush()
    assert len(bomb_body) < 20_000
    over = [
        Case("identity one byte over", one_more, 413, "payload-too-large"),
        Case(
            "gzip one byte over",
            gzip.compress(one_more),
            413,
            "payload-too-large",
            headers={"content-encoding": "gzip"},
        ),
        Case(
            "deflate one byte over",
            zlib.compress(one_more),
            413,
            "payload-too-large",
            headers={"content-encoding": "deflate"},
        ),
        Case("gzip bomb", bomb_body, 413, "payload-too-large", headers={"content-encoding": "gzip"}),
        Case("npy over the byte limit", npy(np.ones(64, np.float32)), 413, "payload-too-large", headers=NPY_HEADERS),
    ]
    for case in over:
        assert_problem(small, send(small, case), case)


# --- limits over a real socket --------------------------------------------------------------------

SOCKET_TIMEOUT = 5.0


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname and parts.port
    return parts.hostname, parts.port


def _read_response(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """Status line, headers and body (by Content-Length) of one response, within SOCKET_TIMEOUT."""
    deadline = time.monotonic() + SOCKET_TIMEOUT
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return lines[0], headers, body


def _assert_raw_problem(status_line: str, headers: dict[str, str], body: bytes, status: int) -> None:
    assert status_line.startswith(f"HTTP/1.1 {status} "), status_line
    assert headers.get("content-type") == PROBLEM, headers
    problem = orjson.loads(body)
    assert problem["status"] == status and problem["type"] == "/problems/payload-too-large"
    assert_no_internals(body.decode())


def _head(path: str, extra: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{extra}\r\n".encode()


@pytest.mark.parametrize(
    "extra",
    [
        f"Content-Length: {2**40}\r\n",
        f"Content-Length: {256 * 1024 * 1024 + 1}\r\n",
        f"Content-Length: {2**40}\r\nExpect: 100-continue\r\n",
    ],
    ids=["2**40", "limit+1", "expect-100-continue"],
)
def test_content_length_over_the_limit_is_refused_before_the_body(live_server: str, extra: str) -> None:
    """Only the headers are sent: the 413 must come without waiting for a byte of the body."""
    with socket.create_connection(_address(live_server), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(_head("/activate/relu", extra))
        status_line, headers, body = _read_response(sock)
    _assert_raw_problem(status_line, headers, body, 413)
    assert httpx.get(f"{live_server}/healthz", timeout=SOCKET_TIMEOUT).status_code == 200


SMALL_LIMIT = 4096


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `python -m app` with a 4 KiB body limit, for streams that must be cut off."""
    with running_server(tmp_path_factory.mktemp("small-server"), max_body_bytes=str(SMALL_LIMIT)) as base:
        yield base


def test_chunked_body_is_cut_off_at_the_limit(small_server: str) -> None:
    """No Content-Length: chunks are sent until the server answers, which must be a 413."""
    chunk = b"400\r\n" + b"1.0," * 256 + b"\r\n"  # 1 KiB per chunk
    with socket.create_connection(_address(small_server), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(_head("/activate/relu", "Transfer-Encoding: chunked\r\n") + b'7\r\n{"x": [\r\n')
        for _ in range(1024):  # at most 1 MiB, 256 times the limit
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([sock], [], [], 0.01)
            if readable:
                break
        status_line, headers, body = _read_response(sock)
    _assert_raw_problem(status_line, headers, body, 413)
    assert httpx.get(f"{small_server}/healthz", timeout=SOCKET_TIMEOUT).status_code == 200


def test_content_length_one_over_a_small_limit(small_server: str) -> None:
    with socket.create_connection(_address(small_server), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(_head("/activate/relu", f"Content-Length: {SMALL_LIMIT + 1}\r\n"))
        status_line, headers, body = _read_response(sock)
    _assert_raw_problem(status_line, headers, body, 413)
    at_limit = b'{"x": [1, -2]' + b" " * (SMALL_LIMIT - 14) + b"}"
    response = httpx.post(f"{small_server}/activate/relu", content=at_limit, timeout=SOCKET_TIMEOUT)
    assert response.status_code == 200 and response.json()["y"] == [1.0, 0.0]


def test_gzip_bomb_over_the_wire_is_cut_off_at_the_limit(small_server: str) -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = bomb.compress(b'{"x": [' + b"0," * 50_000_000) + bomb.flush()  # 100 MB inflated, ~100 KB sent
    response = httpx.post(
        f"{small_server}/activate/relu", content=body, headers={"content-encoding": "gzip"}, timeout=SOCKET_TIMEOUT
    )
    assert response.status_code == 413 and response.json()["type"] == "/problems/payload-too-large"
    assert httpx.get(f"{small_server}/healthz", timeout=SOCKET_TIMEOUT).status_code == 200


# --- slow clients and admission over a real socket ------------------------------------------------

BODY_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server with a short body timeout, three requests in flight at most and a 1 s keep-alive."""
    with running_server(
        tmp_path_factory.mktemp("guarded-server"),
        body_timeout_s=str(BODY_TIMEOUT_S),
        max_in_flight="3",
        keep_alive_timeout_s="1",
    ) as base:
        yield base


def _slow_client(base: str, declared: int = 100) -> socket.socket:
    """A connection that sent its headers and the first bytes of a body, then went quiet."""
    sock = socket.create_connection(_address(base), timeout=SOCKET_TIMEOUT)
    sock.sendall(_head("/activate/relu", f"Content-Length: {declared}\r\n") + b'{"x": [1,')
    return sock


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
    return False


def test_slow_bodies_are_cut_off_while_other_clients_are_served(guarded_server: str) -> None:
    """One client stalls, another trickles a byte at a time: both get a 408, the others their answers."""
    stalled = _slow_client(guarded_server)
    trickling = _slow_client(guarded_server, declared=10_000)
    started = time.monotonic()
    served = 0
    with httpx.Client(base_url=guarded_server, timeout=SOCKET_TIMEOUT) as http:
        while time.monotonic() - started < BODY_TIMEOUT_S - 0.3:
            try:
                trickling.sendall(b"1")
            except (BrokenPipeError, ConnectionResetError):
                break
            # Two of the three slots are taken by the slow clients; the third serves everyone else.
            response = http.post("/activate/relu", content=OK_BODY)
            assert response.status_code == 200 and response.json()["y"] == [[1.0, 0.0]]
            served += 1
            time.sleep(0.1)
    for sock in (stalled, trickling):
        with sock:
            status_line, headers, body = _read_response(sock)
            assert status_line.startswith("HTTP/1.1 408 "), status_line
            assert headers["connection"] == "close"
            problem = orjson.loads(body)
            assert problem["type"] == "/problems/request-timeout"
            assert_no_internals(body.decode())
            assert _closed_by_server(sock, SOCKET_TIMEOUT)
    assert time.monotonic() - started < BODY_TIMEOUT_S + SOCKET_TIMEOUT
    assert served >= 3
    # The slots are free again.
    response = httpx.post(f"{guarded_server}/activate/relu", content=OK_BODY, timeout=SOCKET_TIMEOUT)
    assert response.status_code == 200


def test_a_full_worker_answers_503_with_retry_after_and_keeps_serving_probes(guarded_server: str) -> None:
    slow = [_slow_client(guarded_server) for _ in range(3)]
    try:
        time.sleep(0.2)
        with httpx.Client(base_url=guarded_server, timeout=SOCKET_TIMEOUT) as http:
            refused = http.post("/activate/relu", content=OK_BODY)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert refused.json()["type"] == "/problems/overloaded"
            v2 = http.post(
                "/v2/models/relu/infer",
                content=j({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}),
            )
            assert v2.status_code == 503 and "error" in v2.json()
            assert http.get("/readyz").status_code == 200
            assert http.get("/v2/health/ready").status_code == 200
        # The slow clients finish their bodies in time: they are served.
        for sock in slow:
            sock.sendall(b" 2]}" + b" " * (100 - len(b'{"x": [1, 2]}')))
        for sock in slow:
            status_line, _, body = _read_response(sock)
            assert status_line.startswith("HTTP/1.1 200 "), (status_line, body)
            assert orjson.loads(body)["y"] == [1.0, 2.0]
    finally:
        for sock in slow:
            sock.close()


def test_an_idle_keep_alive_connection_is_closed(guarded_server: str) -> None:
    with socket.create_connection(_address(guarded_server), timeout=SOCKET_TIMEOUT) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        status_line, _, _ = _read_response(sock)
        assert status_line.startswith("HTTP/1.1 200 ")
        started = time.monotonic()
        assert _closed_by_server(sock, SOCKET_TIMEOUT)
        assert time.monotonic() - started >= 0.5


@pytest.mark.parametrize("datatype", [[], {}, ["FP32"], {"FP32": 1}, 32, None, True], ids=repr)
def test_a_v2_datatype_of_any_json_type_is_a_400(client: TestClient, datatype: object) -> None:
    """Found by the v2 fuzzer: an unhashable datatype was a 500."""
    body = j({"inputs": [{"name": "x", "datatype": datatype, "shape": [1], "data": [1]}]})
    response = client.post("/v2/models/relu/infer", content=body)
    assert response.status_code == 400, response.text
    assert "datatype" in response.json()["error"]


# --- random requests through the whole application ------------------------------------------------

_V2_SEED = j({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, -2, 3, 4]}], "id": "a"})
_V2_RAW = np.arange(4, dtype="<f4").tobytes()
_V2_HEAD = j({"inputs": [{"name": "x", "shape": [4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]})
_SEED_BODIES = [
    OK_BODY,
    j({"x": [[1.0, "NaN", -2.5]], "alpha": 0.1, "dtype": "bfloat16", "dy": [[1, 2, 3]]}),
    j({"x": [[1, 2], [3, 4]], "axis": [0, 1], "mask": [[True, False], [True, True]]}),
    j({"x": [0.5, -1], "expression": "where(x > 0, x * sigmoid(x), 0.1 * x)"}),
    npy(np.arange(6, dtype="<f4").reshape(2, 3)),
    _V2_SEED,
    _V2_HEAD + _V2_RAW,
]
_PATHS = [
    "/activate/relu",
    "/activate/softmax",
    "/activate/Softmax",
    "/activate/custom",
    "/activate/glu",
    "/gradient/swish",
    "/gradient/custom",
    "/v2/models/relu/infer",
    "/v2/models/PReLU/versions/1/infer",
]


@st.composite
def _random_requests(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str], str]:
    body = mutated(
        draw(st.sampled_from(_SEED_BODIES)),
        draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6)),
    )
    headers: dict[str, str] = {}
    content_type = draw(st.sampled_from([None, "application/json", NPY, "text/plain", "application/x-npy; x=1", ""]))
    if content_type is not None:
        headers["content-type"] = content_type
    encoding = draw(st.sampled_from([None, "gzip", "deflate", "br", "identity", "gzip, gzip"]))
    payload = bytes(body)
    if encoding is not None:
        headers["content-encoding"] = encoding
        if draw(st.booleans()) and encoding in ("gzip", "deflate"):
            payload = gzip.compress(payload) if encoding == "gzip" else zlib.compress(payload)
    accept = draw(st.sampled_from([None, "*/*", NPY, "application/json;q=0", "text/html", "application/*;q=0.5"]))
    if accept is not None:
        headers["accept"] = accept
    if draw(st.booleans()):
        headers["inference-header-content-length"] = draw(st.sampled_from(["0", str(len(_V2_HEAD)), "-1", "x", "9e9"]))
    query = draw(st.sampled_from(["", "alpha=0.5", "axis=0&axis=1", "dtype=float64", "mask=[[1,0]]", "alpha=nan"]))
    return draw(st.sampled_from(_PATHS)), payload, headers, query


@given(request=_random_requests())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_requests_never_get_a_500(client: TestClient, request: tuple[str, bytes, dict[str, str], str]) -> None:
    path, body, headers, query = request
    response = client.post(f"{path}?{query}" if query else path, content=body, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        if path.startswith("/v2"):
            assert response.status_code in (400, 404, 413) and response.json()["error"]
        else:
            assert response.status_code in (400, 404, 406, 413, 415, 422), response.text
            assert response.headers["content-type"] == PROBLEM and response.json()["detail"]
            assert_no_internals(response.text)
