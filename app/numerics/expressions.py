"""Custom activations: a small expression language in x, parsed into a whitelisted tree, never executed.

The language (SPEC section 1): the variable `x`; numbers; `+ - * / **`; unary minus and plus;
comparisons `< <= > >= == !=` as the condition of `where(cond, a, b)`; the functions `exp log
log1p expm1 sqrt abs sin cos erf minimum(a, b) maximum(a, b) clip(a, lo, hi)`; and every
elementwise catalogue entry by name or alias, with its parameters as keywords whose values are
number literals (or true/false): `relu(x, alpha=0.1)`.

`parse_expression` checks the text before Python's parser sees it (at most MAX_LENGTH printable
ASCII characters, brackets nested at most MAX_DEPTH deep: `ast.parse` itself recurses), parses it
with `ast.parse(mode="eval")`, and converts the syntax tree into this module's own node types,
refusing every other construct (attribute access, subscripts, names other than x and the
functions, strings, lambdas...) with an `InvalidExpression` that names the token and its 1-based
column. Nothing is compiled or evaluated by Python: number literals are read from their text at
the working precision, and no constant is ever folded with Python arithmetic (so `9**9**9` is a
numpy power that overflows to inf, not a Python integer that eats the memory).

`Expression.evaluate` computes the tree vectorised in the wide dtype of `elementwise`, on chunks
of a large tensor (`evaluate_expression`), so that a request's memory is bounded by a working set
and not by the number of terms times the tensor's size;
`Expression.gradient` is reverse-mode differentiation of the tree, with TensorFlow's gradient
conventions: the catalogue functions use `gradients.GRADIENTS`, `where` sends the gradient to the
selected branch only, `minimum`/`maximum`/`clip` pass it on ties, `abs'(0) = 0`, and
d(a ** b)/db is 0 where a <= 0.
"""

from __future__ import annotations

import ast
import functools
import io
import itertools
import tokenize
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.special

from app.errors import ErrorItem, InvalidExpression, InvalidParameter
from app.numerics import elementwise
from app.numerics.dtypes import DTYPES, wide_dtype
from app.numerics.gradients import GRADIENTS, broadcast_upstream
from app.numerics.registry import REGISTRY, ActivationSpec

Array = np.ndarray

CUSTOM = "custom"  # the catalogue name of custom activations
CUSTOM_SUMMARY = "A custom activation: an expression in x (the seed's 'any callable can be an activation')."
CUSTOM_KERAS_REFERENCE = "tf.keras.activations.get(callable): any callable is an activation"

MAX_LENGTH = 2000
MAX_DEPTH = 64
MAX_NODES = 256  # the gradient keeps one wide tensor per term: bounded memory
# Large tensors are computed a chunk at a time, so that all the terms' wide arrays together hold
# about this many elements (64 MiB in np.longdouble), and no chunk is smaller than the minimum.
WORKING_SET_ELEMENTS = 1 << 22
MIN_CHUNK_ELEMENTS = 1 << 12

MATH_FUNCTIONS = ("exp", "log", "log1p", "expm1", "sqrt", "abs", "sin", "cos", "erf", "minimum", "maximum", "clip")
COMPARISONS: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
BINARY: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
ARITY = {"minimum": 2, "maximum": 2, "clip": 3}


def _catalogue_functions() -> dict[str, ActivationSpec]:
    """The elementwise catalogue entries by every name a request may use."""
    out: dict[str, ActivationSpec] = {}
    for spec in REGISTRY:
        if spec.elementwise:
            out.update({name: spec for name in (spec.name, *spec.aliases)})
    return out


CATALOGUE_FUNCTIONS = _catalogue_functions()
# tanh is both a math function and a catalogue entry: the catalogue entry it is.
FUNCTIONS = sorted({*MATH_FUNCTIONS, *CATALOGUE_FUNCTIONS, "where"})

GRAMMAR = (
    "expression := x | number | expression op expression | -expression | +expression | (expression) | call; "
    "op := + - * / ** (Python precedence, ** binds right); "
    "call := where(condition, expression, expression) | f(expression) for f in exp log log1p expm1 sqrt abs "
    "sin cos erf | minimum(expression, expression) | maximum(expression, expression) | "
    "clip(expression, low, high) | <elementwise activation>(expression, parameter=number, ...); "
    "condition := expression < <= > >= == != expression. "
    f"At most {MAX_LENGTH} characters, brackets nested {MAX_DEPTH} deep, {MAX_NODES} terms."
)


# --------------------------------------------------------------------------------------------------
# The tree.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Node:
    column: int

    def children(self) -> tuple[Node, ...]:
        return ()


@dataclass(frozen=True, eq=False)
class Variable(Node):
    pass


@dataclass(frozen=True, eq=False)
class Number(Node):
    text: str  # the literal as decimal text, read at the working precision


@dataclass(frozen=True, eq=False)
class Unary(Node):
    op: str  # "-" or "+"
    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(frozen=True, eq=False)
class Binary(Node):
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, eq=False)
class Comparison(Node):
    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(frozen=True, eq=False)
class Where(Node):
    condition: Comparison
    if_true: Node
    if_false: Node

    def children(self) -> tuple[Node, ...]:
        return (self.condition, self.if_true, self.if_false)


@dataclass(frozen=True, eq=False)
class MathCall(Node):
    name: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


@dataclass(frozen=True, eq=False)
class ActivationCall(Node):
    spec: ActivationSpec
    params: dict[str, object]  # bound by the registry, as the kernel takes them
    arg: Node

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children():
        yield from _walk(child)


# --------------------------------------------------------------------------------------------------
# Parsing.
# --------------------------------------------------------------------------------------------------


def _refuse(message: str, column: int) -> InvalidExpression:
    return InvalidExpression(f"{message} (column {column})", column)


def _prescan(source: str) -> None:
    """Length, characters and bracket depth, checked before `ast.parse`, which recurses on nesting."""
    if not source.strip():
        raise _refuse("the expression is empty", 1)
    if len(source) > MAX_LENGTH:
        raise _refuse(f"the expression is {len(source)} characters long, more than {MAX_LENGTH}", MAX_LENGTH + 1)
    depth = 0
    for i, char in enumerate(source):
        column = i + 1
        if not (char.isascii() and (char.isprintable() or char in " \t")):
            raise _refuse(f"character {char!r} is not allowed", column)
        if char in "[]{};:'\"\\@#$`?!&|^~":
            if char == "!" and source[i + 1 : i + 2] == "=":
                continue
            raise _refuse(f"{char!r} is not allowed", column)
        if char == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise _refuse(f"brackets nested more than {MAX_DEPTH} deep", column)
        elif char == ")":
            depth -= 1


def _check_tokens(source: str) -> None:
    """A number running into a name (`1if`, `0x1for`) is refused here.

    Python's tokenizer reads it with a SyntaxWarning ("invalid decimal literal"), which would put
    user input in the server's log, or fail differently where warnings are errors.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return  # ast.parse reports it with its column
    for token, following in itertools.pairwise(tokens):
        if token.type == tokenize.NUMBER and following.type == tokenize.NAME and following.start == token.end:
            raise _refuse(f"{token.string + following.string!r}: a number runs into a name", token.start[1] + 1)


def parse_expression(source: str) -> Expression:
    """The whitelisted tree of `source`, or InvalidExpression naming the offending token and column."""
    if not isinstance(source, str):
        raise InvalidExpression("'expression' must be a string", 1)
    _prescan(source)
    _check_tokens(source)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        stripped = source.rstrip()
        if stripped[-1] in "+-*/<>=,(":  # Python points at the start when the input ends too early
            start = len(stripped) - 1
            while start > 0 and stripped[start - 1] in "*<>=!" and stripped[start] in "*=":
                start -= 1
            raise _refuse(f"the expression ends with {stripped[start:]!r}", start + 1) from None
        raise _refuse(f"syntax error: {exc.msg}", exc.offset or 1) from None
    except (ValueError, RecursionError, MemoryError):
        raise _refuse("the expression cannot be read", 1) from None
    counter = [0]
    root = _convert(tree.body, source, 1, counter)
    if isinstance(root, Comparison):
        raise _refuse("a comparison gives true or false: use it as the condition of where(...)", root.column)
    return Expression(source=source, root=root)


def _token(node: ast.AST, source: str) -> str:
    text = ast.get_source_segment(source, node) or type(node).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _convert(node: ast.expr, source: str, depth: int, counter: list[int]) -> Node:
    column = node.col_offset + 1
    if depth > MAX_DEPTH:
        raise _refuse(f"the expression is nested more than {MAX_DEPTH} deep", column)
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise _refuse(f"the expression has more than {MAX_NODES} terms", column)
    sub = depth + 1
    if isinstance(node, ast.Name):
        if node.id == "x":
            return Variable(column)
        hint = " (it is a function: call it)" if node.id in FUNCTIONS else ""
        raise _refuse(f"name {node.id!r} is not allowed: the only variable is x{hint}", column)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(f"{_token(node, source)!r} is not allowed: constants are numbers", column)
        text = str(value) if isinstance(value, int) else (ast.get_source_segment(source, node) or repr(value))
        return Number(column, text.replace("_", ""))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _number_operand(node.operand, source, sub, counter)
        return Unary(column, "-" if isinstance(node.op, ast.USub) else "+", operand)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left = _number_operand(node.left, source, sub, counter)
        right = _number_operand(node.right, source, sub, counter)
        return Binary(column, BINARY[type(node.op)], left, right)
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1 or type(node.ops[0]) not in COMPARISONS:
            raise _refuse(f"{_token(node, source)!r} is not allowed: compare two expressions once", column)
        left = _number_operand(node.left, source, sub, counter)
        right = _number_operand(node.comparators[0], source, sub, counter)
        return Comparison(column, COMPARISONS[type(node.ops[0])], left, right)
    if isinstance(node, ast.Call):
        return _convert_call(node, source, sub, counter)
    token = node.attr if isinstance(node, ast.Attribute) else _token(node, source)
    raise _refuse(f"{token!r} is not allowed ({_what(node)})", _column_of(node))


def _what(node: ast.expr) -> str:
    kinds = {
        ast.Attribute: "no attribute access",
        ast.Subscript: "no subscripts",
        ast.Lambda: "no lambdas",
        ast.BoolOp: "no and/or: nest where(...)",
        ast.IfExp: "no conditional expressions: use where(cond, a, b)",
    }
    return kinds.get(type(node), "the language has x, numbers, + - * / **, comparisons in where, and calls")


def _column_of(node: ast.expr) -> int:
    """Where the offending token starts: the attribute name of `a.b`, else the node."""
    if isinstance(node, ast.Attribute) and node.end_col_offset is not None:
        return node.end_col_offset - len(node.attr) + 1
    return node.col_offset + 1


def _number_operand(node: ast.expr, source: str, depth: int, counter: list[int]) -> Node:
    converted = _convert(node, source, depth, counter)
    if isinstance(converted, Comparison):
        raise _refuse("a comparison gives true or false: use it as the condition of where(...)", converted.column)
    return converted


def _convert_call(node: ast.Call, source: str, depth: int, counter: list[int]) -> Node:
    column = node.col_offset + 1
    if not isinstance(node.func, ast.Name):
        token = _token(node.func, source)
        raise _refuse(f"{token!r} is not allowed: call a function by its name", _column_of(node.func))
    name = node.func.id
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _refuse("'*' arguments are not allowed", column)
    if name == "where":
        if node.keywords or len(node.args) != 3:
            raise _refuse("where takes three arguments: where(condition, if_true, if_false)", column)
        condition = _convert(node.args[0], source, depth, counter)
        if not isinstance(condition, Comparison):
            raise _refuse("the condition of where must be a comparison such as x > 0", condition.column)
        if_true = _number_operand(node.args[1], source, depth, counter)
        if_false = _number_operand(node.args[2], source, depth, counter)
        return Where(column, condition, if_true, if_false)
    if name in CATALOGUE_FUNCTIONS:
        spec = CATALOGUE_FUNCTIONS[name]
        if len(node.args) != 1:
            raise _refuse(f"{name} takes one argument and its parameters as keywords, e.g. {name}(x)", column)
        raw: dict[str, object] = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise _refuse("'**' arguments are not allowed", keyword.col_offset + 1)
            raw[keyword.arg] = _literal(keyword.value, source, keyword.arg)
        try:
            bound = spec.bind(raw)
        except InvalidParameter as exc:
            where = next((k for k in node.keywords if k.arg == exc.errors[0].loc[0]), None) if exc.errors else None
            raise _refuse(exc.detail, where.col_offset + 1 if where else column) from None
        arg = _number_operand(node.args[0], source, depth, counter)
        return ActivationCall(column, spec, dict(bound.values), arg)
    if name in MATH_FUNCTIONS:
        arity = ARITY.get(name, 1)
        if node.keywords or len(node.args) != arity:
            raise _refuse(f"{name} takes {arity} argument{'s' if arity > 1 else ''} and no keywords", column)
        return MathCall(column, name, tuple(_number_operand(arg, source, depth, counter) for arg in node.args))
    raise _refuse(f"function {name!r} is not allowed: the functions are {', '.join(FUNCTIONS)}", column)


def _literal(node: ast.expr, source: str, key: str) -> object:
    """A keyword value: a number literal, optionally negated, or true/false."""
    if isinstance(node, ast.Name) and node.id in ("true", "false", "True", "False"):
        return node.id in ("true", "True")
    sign = 1
    inner = node
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        inner = node.operand
    if isinstance(inner, ast.Constant) and isinstance(inner.value, (int, float)) and not isinstance(inner.value, bool):
        # Parameters are float64 (SPEC section 2): an integer's digits read as a float (inf beyond the range).
        return sign * float(str(inner.value))
    raise _refuse(f"the value of {key!r} must be a number literal, got {_token(node, source)!r}", node.col_offset + 1)


# --------------------------------------------------------------------------------------------------
# Evaluation and differentiation.
# --------------------------------------------------------------------------------------------------


def _erf(a: Array) -> Array:
    """erf at the wide precision: 1 - erfc(|a|) with the longdouble erfc away from 0, scipy's near 0."""
    if a.dtype != np.longdouble:
        return np.asarray(scipy.special.erf(a))
    near = np.asarray(scipy.special.erf(a.astype(np.float64))).astype(a.dtype)
    far = np.sign(a) * (1 - elementwise._erfc(np.abs(a)))
    return np.where(np.abs(a) < 0.5, near, far)


_FORWARD: dict[str, Callable[..., Array]] = {
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "erf": _erf,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "clip": lambda a, lo, hi: np.minimum(np.maximum(a, lo), hi),
}


def _math_adjoints(name: str, args: list[Array], result: Array, adj: Array) -> list[Array]:
    """The adjoint of each argument of a math function, with TensorFlow's conventions."""
    a = args[0]
    zero = np.zeros_like(adj)
    if name == "exp":
        return [adj * result]
    if name == "log":
        return [adj / a]
    if name == "log1p":
        return [adj / (1 + a)]
    if name == "expm1":
        return [adj * np.exp(a)]
    if name == "sqrt":
        return [adj / (2 * result)]
    if name == "abs":
        return [adj * np.sign(a)]
    if name == "sin":
        return [adj * np.cos(a)]
    if name == "cos":
        return [-adj * np.sin(a)]
    if name == "erf":
        return [adj * (a.dtype.type(elementwise._TWO_OVER_SQRT_PI) * np.exp(-a * a))]
    if name == "minimum":  # ties go to the first argument, as TensorFlow's Minimum
        first = a <= args[1]
        return [np.where(first, adj, zero), np.where(first, zero, adj)]
    if name == "maximum":
        first = a >= args[1]
        return [np.where(first, adj, zero), np.where(first, zero, adj)]
    # clip = minimum(maximum(a, lo), hi): a keeps the gradient on [lo, hi], bounds included.
    lo, hi = args[1], args[2]
    raised = np.maximum(a, lo)
    to_raised = raised <= hi
    to_a = a >= lo
    return [
        np.where(to_raised & to_a, adj, zero),
        np.where(to_raised & ~to_a, adj, zero),
        np.where(to_raised, zero, adj),
    ]


def _compare(op: str, left: Array, right: Array) -> Array:
    compare: Callable[[Array, Array], Array] = {
        "<": np.less,
        "<=": np.less_equal,
        ">": np.greater,
        ">=": np.greater_equal,
        "==": np.equal,
        "!=": np.not_equal,
    }[op]
    return np.asarray(compare(left, right))


@dataclass(frozen=True)
class Expression:
    """A parsed custom activation."""

    source: str
    root: Node

    def evaluate(self, x: Array) -> Array:
        """The expression at x (in a wide dtype), computed in that dtype."""
        with np.errstate(all="ignore"):
            return np.array(np.broadcast_to(self._forward(x, {})[id(self.root)], x.shape))

    def gradient(self, x: Array, dy: Array) -> Array:
        """dy times the derivative of the expression at x, by reverse-mode differentiation of the tree."""
        with np.errstate(all="ignore"):
            values = self._forward(x, {})
            # Started from the first adjoint, not from zeros: 0 + -0.0 would lose the sign of a zero dx.
            dx: Array | None = None
            for node, adj in self._backward(self.root, np.broadcast_to(dy, x.shape), values):
                if isinstance(node, Variable):
                    dx = np.array(adj) if dx is None else dx + adj
            return np.zeros_like(x) if dx is None else dx

    @functools.cached_property
    def _order(self) -> tuple[Node, ...]:
        """Every node, children before their parents."""
        return tuple(reversed(list(_walk(self.root))))

    @functools.cached_property
    def _on_path(self) -> frozenset[int]:
        """The ids of the nodes with x below them (the only ones the gradient flows through)."""
        found: set[int] = set()
        for node in self._order:
            if isinstance(node, Variable) or any(id(child) in found for child in node.children()):
                found.add(id(node))
        return frozenset(found)

    @functools.cached_property
    def chunk_elements(self) -> int:
        """How many elements to compute at a time: every node keeps a wide array of that many.

        Computing a large x in chunks bounds the memory of a request by the working set rather
        than by (number of terms) x (size of x), so a long expression on a large tensor cannot
        exhaust the worker; every operation is elementwise, so the result is the same bits.
        """
        return max(MIN_CHUNK_ELEMENTS, WORKING_SET_ELEMENTS // len(self._order))

    def _forward(self, x: Array, values: dict[int, Array]) -> dict[int, Array]:
        for node in self._order:
            values[id(node)] = self._value(node, x, values)
        return values

    @staticmethod
    def _value(node: Node, x: Array, values: dict[int, Array]) -> Array:
        kids = [values[id(child)] for child in node.children()]
        if isinstance(node, Variable):
            return x
        if isinstance(node, Number):
            return np.asarray(x.dtype.type(node.text))
        if isinstance(node, Unary):
            return -kids[0] if node.op == "-" else kids[0]
        if isinstance(node, Binary):
            left, right = kids
            if node.op == "+":
                return np.asarray(left + right)
            if node.op == "-":
                return np.asarray(left - right)
            if node.op == "*":
                return np.asarray(left * right)
            if node.op == "/":
                return np.asarray(left / right)
            return np.asarray(np.power(left, right))
        if isinstance(node, Comparison):
            return _compare(node.op, kids[0], kids[1])
        if isinstance(node, Where):
            return np.where(kids[0], kids[1], kids[2])
        if isinstance(node, MathCall):
            return np.asarray(_FORWARD[node.name](*kids))
        assert isinstance(node, ActivationCall)
        arg = np.broadcast_to(kids[0], x.shape)
        y = np.asarray(node.spec.kernel(arg, **node.params))
        return np.where(np.isnan(arg), arg, y)

    def _backward(self, node: Node, adj: Array, values: dict[int, Array]) -> Iterator[tuple[Node, Array]]:
        """(node, adjoint) for every node on a path to x; subtrees without x are skipped."""
        yield node, adj
        kids = node.children()
        args = [values[id(child)] for child in kids]
        adjoints: list[Array]
        if isinstance(node, (Variable, Number, Comparison)):
            return
        if isinstance(node, Unary):
            adjoints = [-adj if node.op == "-" else adj]
        elif isinstance(node, Binary):
            adjoints = _binary_adjoints(node.op, args[0], args[1], values[id(node)], adj)
        elif isinstance(node, Where):
            zero = np.zeros_like(adj)
            adjoints = [zero, np.where(args[0], adj, zero), np.where(args[0], zero, adj)]
        elif isinstance(node, MathCall):
            adjoints = _math_adjoints(node.name, args, values[id(node)], adj)
        else:
            assert isinstance(node, ActivationCall)
            arg = np.broadcast_to(args[0], adj.shape)
            dx = GRADIENTS[node.spec.name](arg, adj, **node.params)
            adjoints = [np.where(np.isnan(arg), arg, dx)]
        for child, child_adj in zip(kids, adjoints, strict=True):
            if id(child) in self._on_path:
                yield from self._backward(child, np.broadcast_to(child_adj, adj.shape), values)


def _binary_adjoints(op: str, a: Array, b: Array, result: Array, adj: Array) -> list[Array]:
    if op == "+":
        return [adj, adj]
    if op == "-":
        return [adj, -adj]
    if op == "*":
        return [adj * b, adj * a]
    if op == "/":
        return [adj / b, -adj * a / (b * b)]
    # d(a^b)/da = b a^(b - 1); d(a^b)/db = a^b log(a), 0 where a <= 0 (TensorFlow's Pow gradient).
    log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
    return [adj * (b * np.power(a, b - 1)), adj * (result * log_a)]


@dataclass(frozen=True)
class ExpressionResult:
    """What `evaluate_expression` and `evaluate_expression_gradient` return: y or dx in the dtype."""

    expression: Expression
    values: np.ndarray


def custom_expression(params: Mapping[str, object]) -> str:
    """The `expression` of a custom activation's parameters, the only one it takes (else 422)."""
    for key in params:
        if key != "expression":
            msg = f"'{CUSTOM}' has no parameter '{key[:40]}' (its parameters: expression)"
            raise InvalidParameter(msg, [ErrorItem((key,), msg)])
    expression = params.get("expression")
    if expression is None:
        msg = f"'{CUSTOM}' requires the parameter 'expression', e.g. \"x * sigmoid(1.702 * x)\""
        raise InvalidParameter(msg, [ErrorItem(("expression",), msg)])
    if not isinstance(expression, str):
        raise InvalidExpression("'expression' must be a string", 1)
    return expression


def evaluate_expression(source: str, x: np.ndarray, dtype: str = "float32") -> ExpressionResult:
    """The custom activation `source` at x (rounded to `dtype`), computed wide, rounded once."""
    expression = parse_expression(source)
    out_dtype = DTYPES[dtype]
    with np.errstate(all="ignore"):
        typed = np.asarray(x).astype(out_dtype, copy=False)
        flat, out = typed.reshape(-1), np.empty(typed.size, dtype=out_dtype)
        wide, step = wide_dtype(out_dtype), expression.chunk_elements
        for start in range(0, flat.size, step):
            out[start : start + step] = expression.evaluate(flat[start : start + step].astype(wide)).astype(out_dtype)
        return ExpressionResult(expression, out.reshape(typed.shape))


def evaluate_expression_gradient(
    source: str, x: np.ndarray, dy: np.ndarray | None = None, dtype: str = "float32"
) -> ExpressionResult:
    """dx = dy * d(expression)/dx at x (both rounded to `dtype`); dy defaults to ones, broadcasts to x."""
    expression = parse_expression(source)
    out_dtype = DTYPES[dtype]
    with np.errstate(all="ignore"):
        typed = np.asarray(x).astype(out_dtype, copy=False)
        g = np.ascontiguousarray(broadcast_upstream(dy, typed.shape, out_dtype)).reshape(-1)
        flat, out = typed.reshape(-1), np.empty(typed.size, dtype=out_dtype)
        wide, step = wide_dtype(out_dtype), expression.chunk_elements
        for start in range(0, flat.size, step):
            piece = slice(start, start + step)
            out[piece] = expression.gradient(flat[piece].astype(wide), g[piece].astype(wide)).astype(out_dtype)
        return ExpressionResult(expression, out.reshape(typed.shape))
