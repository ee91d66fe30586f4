"""Property-based fuzzing of the .npy codec (SPEC section 7: hypothesis on the codecs).

Any array numpy writes in a dtype the service takes (float16/32/64, integers, either byte order,
C or Fortran order, versions 1 to 3) reads back with numpy's values; random headers (descr,
shape, order, padding) and corrupted files end in an array or a client error (400, 413, 422),
never in another exception (pickle streams and object arrays among the seeds).
"""

from __future__ import annotations

import io
import pickle

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.api.routes.activate import decode_npy_request
from app.codecs.npy_tensor import decode_npy, encode_npy
from app.core.config import Settings
from app.errors import ServiceError
from tests.mutations import mutated

LIMITS = {"max_elements": 4096, "max_rank": 8}
SETTINGS = Settings(max_elements=4096, max_rank=8)
CLIENT_STATUSES = (400, 413, 422)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

dtypes = st.sampled_from(["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]).flatmap(
    lambda code: st.sampled_from([f"<{code}", f">{code}"] if code[1] != "1" else [f"|{code}"])
)


def saved(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array, allow_pickle=False)
    else:
        np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


@given(
    array=dtypes.flatmap(lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=5, max_side=4))),
    fortran=st.booleans(),
    version=st.sampled_from([None, (1, 0), (2, 0), (3, 0)]),
)
@FUZZ
def test_any_file_numpy_writes_reads_back_with_its_values(
    array: np.ndarray, fortran: bool, version: tuple[int, int] | None
) -> None:
    if fortran:
        array = np.asfortranarray(array)
    decoded = decode_npy(saved(array, version), **LIMITS)
    expected = array.astype(np.float32) if array.dtype.kind in "iu" else array.astype(array.dtype.newbyteorder("="))
    assert decoded.shape == array.shape and decoded.dtype == expected.dtype
    assert decoded.flags.c_contiguous
    assert np.array_equal(decoded, expected, equal_nan=True)
    # And the service's own files read back bit for bit.
    if expected.dtype.kind == "f":
        again = decode_npy(encode_npy(decoded), **LIMITS)
        assert again.tobytes() == decoded.tobytes()


descr_values = st.sampled_from(
    ["<f4", ">f8", "<f2", "|b1", "|O", "<c8", "<U3", "|V4", "<M8[s]", "f4", "float32", "<i16", "<f16", "", "<f4 "]
)
shape_values = st.one_of(
    st.lists(st.integers(-3, 6), max_size=5).map(tuple),
    st.lists(st.integers(0, 2**64), max_size=3).map(tuple),
    st.sampled_from(["(2,)", "None", "[2]", "(2.0,)", "()"]),
)


@given(
    descr=descr_values,
    shape=shape_values,
    order=st.sampled_from(["False", "True", "0", "None", "'no'"]),
    extra=st.sampled_from(["", "'extra': 1, ", "'descr': '<f8', "]),
    data=st.binary(max_size=96),
    padding=st.integers(0, 80),
)
@FUZZ
def test_random_headers_give_an_array_or_a_client_error(
    descr: str, shape: object, order: str, extra: str, data: bytes, padding: int
) -> None:
    header = f"{{'descr': {descr!r}, 'fortran_order': {order}, {extra}'shape': {shape}, }}".encode("latin1")
    header += b" " * padding + b"\n"
    body = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data
    try:
        array = decode_npy_request(body, [], SETTINGS).x
    except ServiceError as error:
        assert error.status in CLIENT_STATUSES
        return
    assert array.dtype.kind == "f" and array.size <= SETTINGS.max_elements


def _object_file(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


edit_lists = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8)
SEEDS = [
    saved(np.arange(6, dtype="<f4").reshape(2, 3)),
    saved(np.asfortranarray(np.ones((3, 2), dtype=">f8"))),
    saved(np.arange(4, dtype="<i2"), (2, 0)),
    saved(np.zeros((2, 0, 3), dtype="<f2"), (3, 0)),
    pickle.dumps(np.array([1, "a"], dtype=object)),
    _object_file(np.array([1.5, None], dtype=object)),
]


@given(seed=st.sampled_from(SEEDS), edits=edit_lists, cut=st.integers(0, 200))
@FUZZ
def test_corrupted_files_give_an_array_or_a_client_error(
    seed: bytes, edits: list[tuple[int, int, int]], cut: int
) -> None:
    body = mutated(seed, edits)
    try:
        array = decode_npy_request(bytes(body[: max(cut, len(body) - cut)]), [], SETTINGS).x
    except ServiceError as error:
        assert error.status in CLIENT_STATUSES
        return
    assert array.dtype.kind == "f"
