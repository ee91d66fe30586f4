"""JSON tensors: the request body, its `x` (or any tensor field), and the `y` of a response.

Wire contract (SPEC section 3):

- The body is one JSON object (RFC 8259, UTF-8). The bare tokens ``NaN``, ``Infinity`` and
  ``-Infinity`` that Python, TF Serving and Triton clients write are read too, and a number beyond
  the float64 range reads as +-Infinity. Not JSON: 400. JSON but not an object: 422.
- A tensor is a JSON number (shape ``()``) or a rectangular nested array of numbers: ``[]`` has
  shape ``(0,)``, ``[[]]`` shape ``(1, 0)`` (nested lists cannot show the axes after a zero-length
  one: a (2, 0, 3) array is written ``[[], []]``, so responses carry the shape beside the data).
  Integers of any size are numbers (``-0`` is zero).
- Non-finite elements are strings: ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, in any case, also
  spelled ``"nan"``, ``"inf"``, with at most one sign and no padding (``"+inf"`` reads, ``"NaN "``
  does not). Any other string, a boolean, null or an object is
  a 422 whose ``loc`` is the full path to the element, as is a ragged array (``loc`` is the list
  whose length differs) and a rank above the limit; more elements than the limit is a 413.
- Each element is read as the nearest float64 and rounded once from there to the requested dtype.
- Written floats are the shortest decimal that reads back (through float64) to the same value of
  the array's dtype, always with a ``.`` or an exponent: ``2.0``, ``-0.0``, ``0.1``, ``1e-7``,
  ``3.39e+38``. Non-finite values are ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (strict JSON);
  the encoder takes other tokens for protocols that want bare ones (KServe v2).

The happy path never visits elements in Python: numpy converts the nested lists, and the few
things numpy would accept silently (booleans, null, numeric strings) are ruled out by counting bytes
of the raw body. Only a request that fails those checks is walked, to explain what is wrong where.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import orjson

from app.errors import ErrorItem, InvalidBody, InvalidTensor, Loc, MalformedBody, PayloadTooLarge, ServiceError
from app.numerics.dtypes import BFLOAT16

__all__ = [
    "BARE_NONFINITE",
    "STRICT_NONFINITE",
    "check_json_element_budget",
    "decode_json_tensor",
    "encode_json_tensor",
    "parse_json_body",
    "split_numeric_field",
    "split_tensor",
]

#: The tokens written for NaN, +Infinity and -Infinity: strings, so the output is strict JSON.
STRICT_NONFINITE: Final = (b'"NaN"', b'"Infinity"', b'"-Infinity"')
#: Bare tokens as Triton writes them (KServe v2 JSON); not RFC 8259 JSON.
BARE_NONFINITE: Final = (b"NaN", b"Infinity", b"-Infinity")

_ORJSON_OPTIONS: Final = orjson.OPT_SERIALIZE_NUMPY
# numpy cannot build arrays of more dimensions, so no setting may allow more.
_NUMPY_MAX_RANK: Final = 64
# No valid field nests deeper than a rank-64 tensor inside the top-level object; the first place
# deeper than this is the field to blame when a parser gives up on nesting.
_SUSPECT_DEPTH: Final = _NUMPY_MAX_RANK + 1
# Up to this many suspect elements of a fast-path tensor are looked at one by one.
_MAX_CHECKED: Final = 64
# How many problems one 422 lists: enough to see a pattern, short enough to read.
_MAX_REPORTED: Final = 5
# Echoed user strings (keys, bad elements) are cut to this many characters.
_ECHO_CHARS: Final = 40
# Bodies are scanned in chunks of this size: about 30 MB of scratch whatever the body's size.
_SCAN_CHUNK: Final = 1 << 20

_FLOAT64: Final = np.dtype(np.float64)
_FLOAT32: Final = np.dtype(np.float32)
_FLOAT16: Final = np.dtype(np.float16)

# A string in the body that opens with what a number (or whitespace before one) opens with:
# numpy's float conversion would read "1.5", " 2", "\u0031" or Arabic-Indic digits as numbers, so a body with
# such a string takes the careful path. A closing quote never matches: in valid JSON it is followed
# by whitespace and one of , : ] }.
_NUMERIC_STRING: Final = re.compile(rb'"\s*[+-]?[0-9.\\\x80-\xff]')
_NONFINITE_WORDS: Final = frozenset({"nan", "inf", "infinity"})
_NUMBER_TYPES: Final = (float, int)
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_FIELD_KEY: Final = re.compile(rb'[{,]\s*("(?:[^"\\]|\\.)*")\s*:', re.DOTALL)
_FIRST_BYTE: Final = re.compile(rb"\s*(.)", re.DOTALL)
_ESCAPE: Final = re.compile(rb"\\.", re.DOTALL)
_INT64_MIN: Final = -(1 << 63)
_UINT64_END: Final = 1 << 64

_QUOTE, _COMMA, _LBRACE, _RBRACE = (ord(c) for c in '",{}')
_IS_WHITESPACE: Final = np.isin(np.arange(256), [ord(c) for c in " \t\r\n"])
_BLANK: Final = re.compile(rb"[ \t\r\n]*")


# --------------------------------------------------------------------------------------------
# Parsing the body


def parse_json_body(body: bytes) -> dict[str, object]:
    """The request body as a JSON object; 400 if it is not JSON, 422 if it is JSON but no object."""
    if not body or body.isspace():
        raise MalformedBody('The request body is empty; send a JSON object such as {"x": [1.0, 2.0]}.')
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        document = _parse_what_orjson_refused(body, exc)
    if not isinstance(document, dict):
        raise InvalidBody(
            f'The request body must be a JSON object such as {{"x": [1.0, 2.0]}}, not {_describe(document)}.'
        )
    return document


def _parse_what_orjson_refused(body: bytes, exc: orjson.JSONDecodeError) -> object:
    if exc.msg.startswith("depth limit exceeded"):
        raise _nesting_error(body) from None
    # Python's json reads what orjson refuses on purpose: bare NaN/Infinity and numbers beyond
    # float64 (as +-inf). Anything else it would refuse too, so only those bodies pay a second parse.
    if b"NaN" not in body and b"Infinity" not in body and "infinity" not in exc.msg:
        raise _malformed(exc.msg, exc.lineno, exc.colno) from None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise MalformedBody(f"The request body is not valid UTF-8 (byte {err.start}).") from None
    try:
        document = json.loads(text, parse_int=_parse_json_int)
        if _SURROGATE_ESCAPE.search(text):
            # json accepts an unpaired "\ud800", orjson does not; such a string could never be
            # written back into a response, so refuse it here as orjson would have.
            json.dumps(document, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise _nesting_error(body) from None
    except json.JSONDecodeError as err:
        raise _malformed(err.msg, err.lineno, err.colno) from None
    except UnicodeEncodeError:
        raise MalformedBody(
            "The request body contains an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff)."
        ) from None
    return document


def _parse_json_int(digits: str) -> int | float:
    # As orjson does: an integer outside [-2**63, 2**64) becomes the nearest float (+-inf beyond
    # float64), so both parsers give the same document and no integer trips Python's
    # 4300-digit conversion limit.
    if len(digits) <= 20:
        number = int(digits)
        if _INT64_MIN <= number < _UINT64_END:
            return number
    return float(digits)


def _malformed(message: str, line: int, column: int) -> MalformedBody:
    return MalformedBody(f"The request body is not valid JSON: {message} (line {line}, column {column}).")


def _nesting_error(body: bytes) -> ServiceError:
    first = _FIRST_BYTE.match(body)
    if first is None or first.group(1) != b"{":
        return InvalidBody(
            "The request body must be a JSON object; it is an array nested deeper than JSON parsers allow."
        )
    key = _key_of_first_deep_field(body)
    loc: Loc = ("body", key) if key is not None else ("body",)
    name = key if key is not None else "A field"
    return InvalidTensor(
        f"{name} is nested more deeply than any tensor may be (the JSON parser stops at about 1000 levels).",
        [ErrorItem(loc, "nesting exceeds the maximum rank")],
    )


# --------------------------------------------------------------------------------------------
# The element budget, before parsing


def check_json_element_budget(body: bytes, max_elements: int) -> None:
    """Refuse (413) a body with a field of more than `max_elements` values, without parsing it.

    A field is a top-level member (the whole body if that is an array); its values are the ones
    that are no list or object. Why a body whose tensors are all within the limit is never refused:
    in nested lists and objects every value but the first of each non-empty container is preceded
    by a comma, so a field holds exactly (its commas outside strings) - (its empty containers) + 1
    values, which for a rectangular tensor is its element count and for a scalar parameter is 1.
    The two cheap tiers are upper bounds of that count: a value takes a byte and a separator, so no
    field holds more than (len(body) + 1) // 2 values, nor more than the body's commas + 1. Only
    when both exceed the limit is the body scanned, and then the count is exact for every field.
    """
    if (len(body) + 1) // 2 <= max_elements:
        return
    if body.count(b",") + 1 <= max_elements:
        return
    found = _first_field_over(body, max_elements)
    if found is not None:
        values, key = found
        where = f"Field '{key}'" if key is not None else "The request body"
        raise PayloadTooLarge(
            f"{where} holds {values:,} values; the limit is {max_elements:,} elements (ACTIVATIONS_MAX_ELEMENTS)."
        )


# --------------------------------------------------------------------------------------------
# Decoding a tensor


def decode_json_tensor(
    value: object,
    *,
    dtype: np.dtype[Any],
    max_elements: int,
    max_rank: int,
    loc: Loc = ("body", "x"),
    body: bytes | None = None,
    document: object = None,
) -> npt.NDArray[Any]:
    """The tensor `value` (as `parse_json_body` gave it) as a C-contiguous array of `dtype`.

    `body` is the raw request body the value came from, and `envelope` the parsed JSON values of
    the body's other fields: with both, a clean tensor is converted by
    numpy alone. Without `body` every element's type is checked (still in C loops). Pass
    `body=None` when other fields may hold many booleans or nulls (a boolean mask).
    """
    max_rank = min(max_rank, _NUMPY_MAX_RANK)
    if not isinstance(value, list):
        wide = np.array(_scalar_value(value, loc), dtype=np.float64)
    else:
        shape = _first_path_shape(value, max_rank, loc)
        count = _checked_count(shape, max_elements, loc)
        if count <= _MAX_CHECKED:
            fast = _small_float64(value, shape)
        elif body is not None:
            fast = _fast_float64(value, shape, body, document)
        else:
            fast = None
        wide = fast if fast is not None else _careful_float64(value, shape, loc)
    return _rounded(wide, dtype)


def _checked_count(shape: tuple[int, ...], max_elements: int, loc: Loc) -> int:
    """The element count of `shape`; 413 above the limit."""
    count = math.prod(shape)
    if count > max_elements:
        raise PayloadTooLarge(
            f"{_name(loc)} has shape {list(shape)}, {count:,} elements; "
            f"the limit is {max_elements:,} (ACTIVATIONS_MAX_ELEMENTS)."
        )
    return count


def _rounded(wide: npt.NDArray[np.float64], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    # One rounding from the float64 value: numpy's float16 cast and ml_dtypes' bfloat16 cast both
    # round float64 directly (no float32 step, so no double rounding). Overflow to +-inf is the
    # documented result, not a warning.
    if dtype == _FLOAT64:
        return wide
    with np.errstate(over="ignore"):
        return wide.astype(dtype)


def _scalar_value(value: object, loc: Loc) -> float:
    problem = _leaf_problem(value)
    if problem is not None:
        raise InvalidTensor(
            f"{_name(loc)} must be a number or a rectangular nested list of numbers.", [ErrorItem(loc, problem)]
        )
    return _to_float(value)


def _to_float(value: object) -> float:
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # Python ints have no range; JSON integers beyond float64 are +-inf
            return math.copysign(math.inf, value)
    return float(value)  # type: ignore[arg-type]  # a float or a non-finite token, checked by the caller


def _first_path_shape(value: list[Any], max_rank: int, loc: Loc) -> tuple[int, ...]:
    # The shape the array has if it is rectangular: the lengths along its first entries. Bounded
    # by max_rank, so a hostile nesting is refused before numpy (which stops at 64) sees it.
    shape: list[int] = []
    node: object = value
    while isinstance(node, list):
        if len(shape) == max_rank:
            raise InvalidTensor(
                f"{_name(loc)} is nested more than {max_rank} levels deep; the maximum rank is {max_rank}.",
                [ErrorItem(loc, f"rank exceeds the maximum of {max_rank}")],
            )
        shape.append(len(node))
        if not node:
            break
        node = node[0]
    return tuple(shape)


def _fast_float64(value: list[Any], shape: tuple[int, ...], body: bytes, document: object) -> npt.NDArray[Any] | None:
    """numpy's conversion, if the raw body proves it changed nothing it should have refused."""
    try:
        wide = np.array(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):  # ragged, objects, ints beyond float64, bad strings
        return None
    if wide.shape != shape or _has_numeric_string(body):
        return None
    # numpy turns true/false into 1.0/0.0, null into NaN, and reads padded strings such as "NaN "
    # as non-finite values. Non-finite values are rare, so each one is looked at; 0.0 and 1.0 are
    # common: a few are looked at, and for many the raw body must hold no more true/false/null
    # literals than the rest of the request (every literal in x appears in the body).
    finite = np.isfinite(wide)
    if not finite.all():
        nonfinite = np.flatnonzero(~finite)
        if nonfinite.size > _MAX_CHECKED or not _elements_are_numbers(value, shape, nonfinite):
            return None
    zero_one = np.flatnonzero((wide == 0.0) | (wide == 1.0))
    if zero_one.size <= _MAX_CHECKED:
        return wide if _elements_are_numbers(value, shape, zero_one) else None
    return wide if _literal_count(body) <= _literals_outside(document, value) else None


def _small_float64(value: list[Any], shape: tuple[int, ...]) -> npt.NDArray[Any] | None:
    """A small tensor, every element's type checked in Python: cheaper than numpy's guards."""
    try:
        wide = np.array(value, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    if wide.shape != shape:
        return None
    pending: list[Any] = [value]
    while pending:
        node = pending.pop()
        for element in node:
            kind = type(element)
            if kind is list:
                pending.append(element)
            elif kind not in _NUMBER_TYPES and not (kind is str and _is_nonfinite_token(element)):
                return None
    return wide


def _elements_are_numbers(value: list[Any], shape: tuple[int, ...], flat_indices: npt.NDArray[np.intp]) -> bool:
    """Whether the elements at these flat positions are JSON numbers or non-finite tokens."""
    for flat in flat_indices.tolist():
        element: Any = value
        for index in np.unravel_index(flat, shape):
            element = element[index]
        if type(element) not in _NUMBER_TYPES and not (isinstance(element, str) and _is_nonfinite_token(element)):
            return False
    return True


def _has_numeric_string(body: bytes) -> bool:
    # The quotes of an ordinary body are its few keys and names: memchr finds them faster than a
    # regex scans for them; a body with many strings (non-finite elements) gets the regex.
    position = body.find(b'"')
    for _ in range(64):
        if position < 0:
            return False
        if _NUMERIC_STRING.match(body, position):
            return True
        position = body.find(b'"', position + 1)
    return position >= 0 and _NUMERIC_STRING.search(body, position) is not None


def _literals_outside(document: object, tensor: list[Any]) -> int:
    """How many true/false/null literals the parsed `document` holds outside `tensor`."""
    count, stack = 0, [] if document is None else [document]
    while stack:
        item = stack.pop()
        if item is tensor:
            continue
        if item is None or isinstance(item, bool):
            count += 1
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return count


def _literal_count(body: bytes) -> int:
    """How many true, false and null literals (or those words inside strings) the body holds."""
    # Numbers never contain 'u' or 's', so a scan for those two bytes finds every candidate, and
    # only the candidates' neighbours are compared: a few ms for 10 MB instead of three searches.
    raw = np.frombuffer(body, dtype=np.uint8)
    where_u = np.flatnonzero(raw == ord("u"))
    found = 0
    for word, anchor, hits in ((b"true", 2, where_u), (b"null", 1, where_u), (b"false", 3, None)):
        starts = (np.flatnonzero(raw == ord("s")) if hits is None else hits) - anchor
        starts = starts[(starts >= 0) & (starts + len(word) <= raw.size)]
        for offset, letter in enumerate(word):
            starts = starts[raw[starts + offset] == letter]
        found += int(starts.size)
    return found


def _careful_float64(value: list[Any], shape: tuple[int, ...], loc: Loc) -> npt.NDArray[Any]:
    """Check every element's type (C loops over an object array), explain the first problems."""
    cells = np.array(value, dtype=object)
    if cells.shape != shape:
        raise _ragged_error(cells, shape, loc)
    flat = cells.reshape(-1)
    types = _TYPE_OF(flat)
    numeric = _is_type(types, float) | _is_type(types, int)
    if not numeric.all():
        acceptable = numeric.copy()
        strings = np.flatnonzero(_is_type(types, str))
        acceptable[strings] = _IS_NONFINITE_TOKEN(flat[strings]).astype(bool)
        if not acceptable.all():
            bad = np.flatnonzero(~acceptable)
            errors = [
                ErrorItem((*loc, *_index_of(index, shape)), _leaf_problem(flat[index]) or "")
                for index in bad[:_MAX_REPORTED].tolist()
            ]
            raise _invalid(loc, errors, int(bad.size))
    try:
        return np.array(value, dtype=np.float64)  # float() reads the tokens checked above
    except OverflowError:  # an integer beyond float64
        return np.asarray(_TO_FLOAT(flat), dtype=np.float64).reshape(shape)


_TYPE_OF: Final = np.frompyfunc(type, 1, 1)


def _is_type(types: npt.NDArray[Any], kind: type) -> npt.NDArray[np.bool_]:
    """Where `types` (an object array of types) holds exactly `kind`: bool is not int here."""
    return np.asarray(types == kind, dtype=bool)


_TO_FLOAT: Final = np.frompyfunc(_to_float, 1, 1)


def _is_nonfinite_token(text: str) -> bool:
    # NaN, Infinity, inf in any case, with at most one sign; no padding ("NaN " is a typo, not a value).
    word = text.lower()
    return word.lstrip("+-") in _NONFINITE_WORDS and len(word) - len(word.lstrip("+-")) <= 1


_IS_NONFINITE_TOKEN: Final = np.frompyfunc(_is_nonfinite_token, 1, 1)


def _ragged_error(cells: npt.NDArray[Any], shape: tuple[int, ...], loc: Loc) -> InvalidTensor:
    # numpy keeps the longest prefix of the shape on which all lists agree, so the entries at the
    # next depth are where the array goes ragged; the first path says what was expected there.
    expected = shape[cells.ndim]
    flat = cells.reshape(-1)
    is_list = _is_type(_TYPE_OF(flat), list)
    lengths = np.full(flat.size, -1, dtype=np.intp)
    lengths[is_list] = _LENGTH_OF(flat[is_list]).astype(np.intp)
    bad = np.flatnonzero(lengths != expected)
    errors = []
    for index in bad[:_MAX_REPORTED].tolist():
        node = flat[index]
        where = _index_of(index, cells.shape)
        if isinstance(node, list):
            problem = f"expected {expected} entries like the first list at this depth, got {len(node)}"
        else:
            problem = f"expected a list of {expected} entries like the first one at this depth, got {_describe(node)}"
        errors.append(ErrorItem((*loc, *where), problem))
    return _invalid(loc, errors, int(bad.size))


_LENGTH_OF: Final = np.frompyfunc(len, 1, 1)


def _index_of(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def _invalid(loc: Loc, errors: list[ErrorItem], total: int) -> InvalidTensor:
    more = f" ({total} problems, the first {len(errors)} listed)" if total > len(errors) else ""
    return InvalidTensor(f"{_name(loc)} must be a number or a rectangular nested list of numbers{more}.", errors)


def _leaf_problem(value: object) -> str | None:
    """Why `value` is not an element of a tensor, or None if it is one."""
    if type(value) in _NUMBER_TYPES:
        return None
    if isinstance(value, str):
        if _is_nonfinite_token(value):
            return None
        return (
            f'expected a number, got the string {_echo(value)}; strings are allowed only for "NaN", '
            '"Infinity" and "-Infinity"'
        )
    if value is None:
        return 'expected a number, got null (write a missing value as "NaN")'
    return f"expected a number, got {_describe(value)}"


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {_echo(value)}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a number"


def _echo(text: str) -> str:
    # ascii() escapes what could not be written back (an unpaired surrogate) and bounds the length.
    cut = text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "..."
    return ascii(cut)


def _name(loc: Loc) -> str:
    return str(loc[-1]) if loc and isinstance(loc[-1], str) else "The tensor"


# --------------------------------------------------------------------------------------------
# A large numeric `x` straight from the raw bytes

# `"x": [` - the key must also pass `_is_top_level_key`.
_X_ARRAY: Final = re.compile(rb'"x"[ \t\r\n]*:[ \t\r\n]*\[')
_BLANK_BYTES: Final = b" \t\r\n"
_NUMBER_BYTES: Final = b"0123456789eE+-."
# Bytes of numbers and whitespace, deleted to leave the bracket/comma skeleton of the array.
_NOT_SKELETON: Final = _NUMBER_BYTES + _BLANK_BYTES
# Every number byte becomes 'n', so a number right after ']' or right before '[' shows as "]n" or "n[".
_MARK_NUMBERS: Final = bytes.maketrans(_NUMBER_BYTES, b"n" * len(_NUMBER_BYTES))
_BRACKETS_TO_SPACES: Final = bytes.maketrans(b"[]", b"  ")
# The array is parsed in pieces of about this many bytes, so only one piece's Python numbers exist at a time.
_PIECE_BYTES: Final = 1 << 20
# At most this much whitespace is looked at between the array and what follows it.
_MAX_TRAILING_BLANKS: Final = 4096


def split_numeric_field(body: bytes, *, max_rank: int) -> tuple[bytes, npt.NDArray[np.float64]] | None:
    """(The body with its top-level `x` array replaced by ``0``, that array as float64), or None.

    For large bodies: the array is checked against the skeleton of a rectangular array, parsed
    by orjson a piece at a time as a flat list of numbers (the same float64 values orjson gives
    for the whole body, but never a million Python floats at once), and written into one array.
    Anything unusual - the key not plainly at the top level, a duplicate or escaped key, ragged or
    empty rows, any non-number, numbers beyond float64, a rank above `max_rank` - gives None, and the
    caller parses the whole body as before (which also explains what is wrong).
    """
    match = _X_ARRAY.search(body)
    if match is None or not _is_top_level_key(body, match.start()):
        return None
    start = match.end() - 1  # the '['
    end = _array_end(body, start)
    if end is None:
        return None
    tail = body[end:]
    if b'"x"' in tail or b"\\" in tail:  # a duplicate key would win over this one
        return None
    del tail
    count = body.count(b",", start, end) + 1
    values = np.empty(count, dtype=np.float64)
    filled = 0
    skeleton_parts: list[bytes] = []
    position = start
    while position < end:
        cut = body.find(b",", position + _PIECE_BYTES, end)
        if cut < 0:
            cut = end
        piece = body[position:cut]
        skeleton_parts.append(piece.translate(None, _NOT_SKELETON))
        if _number_beside_bracket(piece.translate(_MARK_NUMBERS, _BLANK_BYTES)):
            return None
        try:
            numbers = orjson.loads(b"[" + piece.translate(_BRACKETS_TO_SPACES) + b"]")
        except orjson.JSONDecodeError:  # not numbers, or one beyond float64
            return None
        del piece
        if filled + len(numbers) > count:
            return None
        try:
            values[filled : filled + len(numbers)] = np.fromiter(numbers, dtype=np.float64, count=len(numbers))
        except (TypeError, ValueError, OverflowError):
            return None
        filled += len(numbers)
        del numbers
        position = cut + 1
    if filled != count:
        return None
    skeleton = b",".join(skeleton_parts)
    del skeleton_parts
    shape = _rectangular_shape(skeleton, min(max_rank, _NUMPY_MAX_RANK))
    if shape is None or math.prod(shape) != count:
        return None
    return body[:start] + b"0" + body[end:], values.reshape(shape)


def split_tensor(
    wide: npt.NDArray[np.float64], *, dtype: np.dtype[Any], max_elements: int, loc: Loc = ("body", "x")
) -> npt.NDArray[Any]:
    """A tensor from `split_numeric_field` as `dtype`, with the element limit of `decode_json_tensor`."""
    _checked_count(wide.shape, max_elements, loc)
    return _rounded(wide, dtype)


def _number_beside_bracket(marked: bytes) -> bool:
    """Whether a number (each byte marked 'n', whitespace removed) touches the outside of a bracket: "]n", "n["."""
    text = np.frombuffer(marked, dtype=np.uint8)
    closes = np.flatnonzero(text[:-1] == ord("]"))
    if (text[closes + 1] == ord("n")).any():
        return True
    opens = np.flatnonzero(text[1:] == ord("["))
    return bool((text[opens] == ord("n")).any())


def _is_top_level_key(body: bytes, key_start: int) -> bool:
    """Whether the bytes before `"x"` are plainly the opening of the object and whole members."""
    prefix = body[:key_start]
    if prefix.count(b"{") != 1 or b"[" in prefix or b"}" in prefix or b"\\" in prefix or b'"x"' in prefix:
        return False
    if prefix.count(b'"') % 2:
        return False
    stripped = prefix.strip(_BLANK_BYTES)
    return stripped.startswith(b"{") and stripped[-1:] in (b"{", b",")


def _array_end(body: bytes, start: int) -> int | None:
    """Just past the `]` that should close the array opening at `start`, or None."""
    # A number array holds no quote or brace: the first one is past its end (the next key, or the
    # end of the object). The bytes up to there are checked later (skeleton and orjson).
    stop = len(body)
    for byte in (b'"', b"}"):
        found = body.find(byte, start)
        if 0 <= found < stop:
            stop = found
    end = _before_blanks(body, start, stop)
    if end is not None and body[end - 1 : end] == b",":  # the next member follows
        end = _before_blanks(body, start, end - 1)
    if end is None or body[end - 1 : end] != b"]":
        return None
    return end


def _before_blanks(body: bytes, start: int, end: int) -> int | None:
    """`end` moved back over whitespace (not past `start`); None if there is too much of it."""
    floor = max(start, end - _MAX_TRAILING_BLANKS)
    while end > floor and body[end - 1] in _BLANK_BYTES:
        end -= 1
    return None if end == floor else end


def _rectangular_shape(skeleton: bytes, max_rank: int) -> tuple[int, ...] | None:
    """The shape whose rectangular array has exactly this bracket/comma skeleton, or None."""
    if skeleton.translate(None, b"[],"):
        return None
    rank = 0
    while rank < len(skeleton) and skeleton[rank] == ord("["):
        rank += 1
        if rank > max_rank:
            return None
    shape: list[int] = []
    inner_length = 0  # of one element of the current level in the skeleton: a number has none
    for depth in range(rank, 0, -1):
        # The first list at this depth opens at depth - 1 and is the first place closed by
        # rank - depth + 1 brackets in a row.
        closes = rank - depth + 1
        found = skeleton.find(b"]" * closes)
        if found < 0:
            return None
        length = found + closes - (depth - 1)
        size, rest = divmod(length - 1, inner_length + 1)
        if rest or size < 1:
            return None
        shape.append(size)
        inner_length = length
    if inner_length != len(skeleton):
        return None
    shape.reverse()
    expected = b""
    for size in reversed(shape):
        expected = b"[" + b",".join([expected] * size) + b"]"
    return tuple(shape) if expected == skeleton else None


# --------------------------------------------------------------------------------------------
# Encoding


def encode_json_tensor(y: npt.NDArray[Any], *, nonfinite: Sequence[bytes] = STRICT_NONFINITE) -> bytes:
    """JSON text of `y`, nested like its shape (a 0-d array is a bare number).

    `nonfinite` holds the tokens written for NaN, +Infinity and -Infinity, in that order.
    """
    if y.dtype == BFLOAT16:
        return _encode_16_bit(y, BFLOAT16, nonfinite)
    if y.dtype.kind == "f" and y.dtype.itemsize in (4, 8):
        return _encode_with_orjson(y, nonfinite)
    if y.dtype.kind == "f" and y.dtype.itemsize == 2:
        return _encode_16_bit(y, _FLOAT16, nonfinite)
    raise TypeError(f"encode_json_tensor writes float16, bfloat16, float32 and float64 arrays, not {y.dtype}")


def _encode_with_orjson(y: npt.NDArray[Any], nonfinite: Sequence[bytes]) -> bytes:
    # orjson writes the shortest round-trip form of float32 and float64; it needs native byte
    # order and C order, and refuses 0-d arrays.
    native = y if y.flags.c_contiguous and y.dtype.isnative else np.asarray(y, y.dtype.newbyteorder("="), order="C")
    text = orjson.dumps(native.reshape(1) if native.ndim == 0 else native, option=_ORJSON_OPTIONS)
    if native.ndim == 0:
        text = text[1:-1]
    finite = np.isfinite(native)
    if finite.all():
        return text
    # orjson writes every non-finite value as null and no finite one as null, so the k-th null is
    # the k-th non-finite value in C order.
    odd = native[~finite]
    tokens = [nonfinite[kind] for kind in _nonfinite_kinds(odd).tolist()]
    parts = text.split(b"null")
    pieces: list[bytes] = [b""] * (2 * len(parts) - 1)
    pieces[0::2] = parts
    pieces[1::2] = tokens
    return b"".join(pieces)


def _nonfinite_kinds(values: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """0 for NaN, 1 for +inf, 2 for -inf: the index into the `nonfinite` tokens."""
    return np.where(np.isnan(values), 0, np.where(values > 0, 1, 2))


def _encode_16_bit(y: npt.NDArray[Any], dtype: np.dtype[Any], nonfinite: Sequence[bytes]) -> bytes:
    # Each 16-bit value is swapped for the float64 nearest to its shortest decimal. orjson writes
    # that float64 as exactly those digits (no other decimal of as few digits is within a float64
    # half-ulp of it), so one table lookup lets orjson do the writing.
    bits = np.require(y, dtype=dtype, requirements="C").view(np.uint16)
    return _encode_with_orjson(_shortest_proxies(dtype.name)[bits], nonfinite)


@lru_cache(maxsize=2)
def _shortest_proxies(dtype_name: str) -> npt.NDArray[np.float64]:
    """For every bit pattern of a 16-bit dtype, float64 of its shortest decimal (or NaN/+-inf).

    Built once per dtype (a fraction of a second). For each digit count d from 1 up, the value
    rounded to d significant digits (Python formats the exact binary value correctly rounded) is
    the closest d-digit decimal; if it reads back, through float64 as the decoder reads it, to the
    same bits, it is the answer. The rounding interval of a value is symmetric except at the bottom
    of a binade, where the gap below is half the gap above: there the d-digit decimal one unit
    further from zero may fit when the nearest does not, so those values try it too.
    """
    dtype = BFLOAT16 if dtype_name == BFLOAT16.name else _FLOAT16
    mantissa_mask = (1 << (7 if dtype == BFLOAT16 else 10)) - 1
    bits = np.arange(1 << 16, dtype=np.uint16)
    values = _all_values(dtype)
    proxies = values.copy()
    todo = np.flatnonzero(np.isfinite(values))
    digits = 0
    while todo.size:
        digits += 1
        nearest = [f"{value:.{digits - 1}e}" for value in values[todo].tolist()]
        parsed, fits = _reads_back(nearest, bits[todo], dtype)
        proxies[todo[fits]] = parsed[fits]
        todo = todo[~fits]
        binade_bottom = todo[((bits[todo] & mantissa_mask) == 0) & (values[todo] != 0)]
        if binade_bottom.size:
            outer = [_one_unit_further(f"{value:.{digits - 1}e}") for value in values[binade_bottom].tolist()]
            parsed, fits = _reads_back(outer, bits[binade_bottom], dtype)
            proxies[binade_bottom[fits]] = parsed[fits]
            todo = np.setdiff1d(todo, binade_bottom[fits], assume_unique=True)
    return proxies


def _all_values(dtype: np.dtype[Any]) -> npt.NDArray[np.float64]:
    """Every 16-bit pattern of `dtype` as float64, indexed by the pattern."""
    with np.errstate(invalid="ignore"):  # NaN patterns
        return np.arange(1 << 16, dtype=np.uint16).view(dtype).astype(np.float64)


def _reads_back(
    texts: list[str], bits: npt.NDArray[np.uint16], dtype: np.dtype[Any]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """The texts as float64, and whether each rounds to the given bits of `dtype`."""
    parsed = np.array(texts, dtype=np.float64)
    with np.errstate(over="ignore"):  # a candidate past the largest finite value reads as inf
        rounded = parsed.astype(dtype)
    return parsed, np.asarray(rounded.view(np.uint16) == bits)


def _one_unit_further(scientific: str) -> str:
    """The decimal one unit in the last digit further from zero than `scientific` (d.ddde+XX)."""
    mantissa, exponent = scientific.split("e")
    sign = "-" if mantissa.startswith("-") else ""
    digits = mantissa.lstrip("-").replace(".", "")
    bigger = str(int(digits) + 1)
    return f"{sign}{bigger}e{int(exponent) - len(digits) + 1}"


# --------------------------------------------------------------------------------------------
# Byte-level structure of a body, for the budget and for nesting errors


class _Tokens(NamedTuple):
    """The structural bytes of one chunk of a body, by position in the body."""

    commas: npt.NDArray[np.intp]
    comma_depths: npt.NDArray[np.intp]  # depth of the container each comma is in
    brackets: npt.NDArray[np.intp]  # [ ] { }
    bracket_depths: npt.NDArray[np.intp]  # depth after each bracket
    empty_containers: npt.NDArray[np.intp]  # where each "[]" or "{}" (whitespace inside allowed) opens


def _tokens(body: bytes) -> Iterator[_Tokens]:
    """The body's commas, brackets and empty containers outside strings, chunk by chunk.

    Only the positions of commas, brackets and quotes are ever materialised, so a chunk of numbers
    costs a few passes over its bytes, and the scratch stays proportional to the chunk.
    """
    # Replacing each escape pair by two neutral bytes keeps offsets and leaves every '"' a real
    # quote, so a byte is inside a string when an odd number of quotes precede it.
    text = _ESCAPE.sub(b"__", body) if b"\\" in body else body
    in_string = 0
    depth = 0
    open_at_end: int | None = None  # an opening bracket that was the last bracket so far
    for start in range(0, len(text), _SCAN_CHUNK):
        raw = np.frombuffer(text, dtype=np.uint8, count=min(_SCAN_CHUNK, len(text) - start), offset=start)
        folded = raw | 0x20  # '[' and ']' become '{' and '}'
        brackets = np.flatnonzero((folded == _LBRACE) | (folded == _RBRACE))
        commas = np.flatnonzero(raw == _COMMA)
        quotes = np.flatnonzero(raw == _QUOTE)
        if quotes.size or in_string:
            brackets = brackets[(np.searchsorted(quotes, brackets) + in_string) % 2 == 0]
            commas = commas[(np.searchsorted(quotes, commas) + in_string) % 2 == 0]
            in_string = (in_string + quotes.size) % 2
        kinds = folded[brackets]  # '{' opens, '}' closes, whether list or object
        bracket_depths = depth + np.cumsum(np.where(kinds == _LBRACE, 1, -1))
        if brackets.size:
            comma_depths = np.concatenate(([depth], bracket_depths))[np.searchsorted(brackets, commas)]
        else:
            comma_depths = np.full(commas.size, depth)
        opening = (kinds[:-1] == _LBRACE) & (kinds[1:] == _RBRACE)
        first, last = brackets[:-1][opening], brackets[1:][opening]
        spaced = last - first > 1
        if spaced.any():  # "[ ]" or "[1]": empty only if nothing but whitespace lies between
            significant = np.cumsum(~_IS_WHITESPACE[raw], dtype=np.intp)
            blank = significant[last[spaced] - 1] == significant[first[spaced]]
            keep = ~spaced
            keep[spaced] = blank
            first = first[keep]
        empty_containers = first + start
        if (
            open_at_end is not None
            and kinds.size
            and kinds[0] == _RBRACE
            and _BLANK.fullmatch(text, open_at_end + 1, int(brackets[0]) + start)
        ):  # the previous chunk's last opening bracket is closed right at the start of this one
            empty_containers = np.concatenate(([open_at_end], empty_containers))
        if kinds.size:
            open_at_end = int(brackets[-1]) + start if kinds[-1] == _LBRACE else None
            depth = int(bracket_depths[-1])
        yield _Tokens(commas + start, comma_depths, brackets + start, bracket_depths, empty_containers)


def _first_field_over(body: bytes, max_elements: int) -> tuple[int, str | None] | None:
    """(values, key) of the first top-level field of more than `max_elements` values, if any.

    Key None: the body is not an object, or its key could not be read.
    """
    first = _FIRST_BYTE.match(body)
    is_object = first is not None and first.group(1) == b"{"
    separator_depth = 1 if is_object else 0  # a top-level array is one field
    field_start = first.start(1) if first is not None else 0  # the '{' or ',' before its key
    tally = 0  # commas minus empty containers of the field the previous chunk ended in
    for tokens in _tokens(body):
        separators = tokens.commas[tokens.comma_depths == separator_depth]
        inner = tokens.commas[tokens.comma_depths > separator_depth]
        fields = separators.size + 1  # fields touched by this chunk; the first continues the tally
        if separators.size:
            counts = np.bincount(np.searchsorted(separators, inner), minlength=fields).astype(np.int64)
            counts -= np.bincount(np.searchsorted(separators, tokens.empty_containers), minlength=fields)
        else:  # the chunk lies inside one field, as most of a large tensor does
            counts = np.array([inner.size - tokens.empty_containers.size], dtype=np.int64)
        counts[0] += tally
        over = np.flatnonzero(counts[:-1] + 1 > max_elements)  # complete fields only
        if over.size:
            index = int(over[0])
            start = field_start if index == 0 else int(separators[index - 1])
            return int(counts[index]) + 1, _field_key(body, start) if is_object else None
        tally = int(counts[-1])
        if separators.size:
            field_start = int(separators[-1])
    if tally + 1 > max_elements:
        return tally + 1, _field_key(body, field_start) if is_object else None
    return None


def _key_of_first_deep_field(body: bytes) -> str | None:
    """The key of the first top-level field that nests deeper than any tensor can."""
    first = _FIRST_BYTE.match(body)
    field_start = first.start(1) if first is not None else 0
    for tokens in _tokens(body):
        separators = tokens.commas[tokens.comma_depths == 1]
        deep = np.flatnonzero(tokens.bracket_depths > _SUSPECT_DEPTH)
        if deep.size:
            separators = separators[separators < tokens.brackets[deep[0]]]
        if separators.size:
            field_start = int(separators[-1])
        if deep.size:
            return _field_key(body, field_start)
    return None


def _field_key(body: bytes, position: int) -> str | None:
    match = _FIELD_KEY.match(body, position)
    if match is None:
        return None
    try:
        key = json.loads(match.group(1))
    except (ValueError, RecursionError):
        return None
    if not isinstance(key, str):
        return None
    if len(key) > _ECHO_CHARS:
        key = key[:_ECHO_CHARS] + "..."
    # A key with an unpaired surrogate could not be written into the problem document.
    return key.encode("utf-8", "backslashreplace").decode("utf-8")
