"""The breakpoint condition language: parsed with `ast`, checked against an allow-list, no eval.

`parse_condition` turns text such as `isnan(loss.depth) or (task_conflict and
step > 100)` into a `Condition` whose `evaluate(values)` walks a tree of
closures built from the checked syntax tree. `describe_language()` lists what
is allowed. Torch-free and grpc-free: the service validates with it when a
breakpoint is set, the workers evaluate with it at the step boundary.
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mtl_service.spec.condition_errors import ConditionError, MissingValueError, SourceText
from mtl_service.spec.presets import PRESETS, Param, Preset, grad_cos_name

MAX_SOURCE_CHARS = 1000
MAX_DEPTH = 50

NUMBER, BOOLEAN = "number", "boolean"
Values = Mapping[str, float]

SIMPLE_NAMES = {
    "step": "the step being computed, from 1",
    "epoch": "the epoch, from 0",
    "lr": "the learning rate",
    "param_norm": "L2 norm of all trainable parameters",
}
DOTTED_NAMES = {
    "loss.<task>": "the task's loss",
    "loss.total": "the combined (weighted) loss",
    "weight.<task>": "the task's effective loss weight",
    "grad_norm.<task>": "L2 norm of the task's gradient",
    "grad_norm.total": "L2 norm of the gradient of all parameters",
    "grad_cos.<a>.<b>": "cosine between two tasks' gradients (a != b; order does not matter)",
    "metric.<task>.<name>": "a metric of the task",
}
CONSTANTS = {"nan": math.nan, "inf": math.inf}
HINT = "allowed: value names, numbers, comparisons, and/or/not, + - * /, functions, presets"


@dataclass(frozen=True, slots=True)
class _Function:
    min_args: int
    max_args: int
    result: str
    impl: Callable[..., float | bool]
    doc: str


def _nan_or(pick: Callable[..., float]) -> Callable[..., float]:
    # Python's min/max answer depends on where a NaN sits; IEEE-style propagation does not.
    return lambda *xs: math.nan if any(map(math.isnan, xs)) else pick(xs)


FUNCTIONS = {
    "abs": _Function(1, 1, NUMBER, abs, "absolute value"),
    "min": _Function(2, 16, NUMBER, _nan_or(min), "smallest argument (NaN if any is NaN)"),
    "max": _Function(2, 16, NUMBER, _nan_or(max), "largest argument (NaN if any is NaN)"),
    "isnan": _Function(1, 1, BOOLEAN, math.isnan, "true for NaN"),
    "isinf": _Function(1, 1, BOOLEAN, math.isinf, "true for +inf or -inf"),
    "isfinite": _Function(1, 1, BOOLEAN, math.isfinite, "neither NaN nor infinite"),
}


def _divide(a: float, b: float) -> float:
    # IEEE division: x/0 is +-inf and 0/0 is NaN, where Python raises.
    if b != 0:
        return a / b
    if a == 0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _divide,
}
COMPARISONS = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}  # fmt: skip
_SYMBOLS = {
    ast.Pow: "**", ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<",
    ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Invert: "~",
    ast.UAdd: "+", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip
_REJECTED = {
    ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension",
    ast.Subscript: "a subscript", ast.NamedExpr: "an assignment expression",
    ast.JoinedStr: "an f-string", ast.IfExp: "a conditional expression",
    ast.Starred: "a starred expression",
}  # fmt: skip


_HANDLERS = {
    ast.Constant: "_constant", ast.Name: "_name", ast.Attribute: "_attribute",
    ast.UnaryOp: "_unary", ast.BinOp: "_binary", ast.BoolOp: "_boolean",
    ast.Compare: "_compare", ast.Call: "_call",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Typed:
    kind: str
    run: Callable[[dict[str, Any]], Any]


@dataclass(slots=True)
class _Compiler:
    """Checks one syntax tree against the allow-list and builds its closures."""

    source: SourceText
    task_names: tuple[str, ...]
    metric_names: Mapping[str, Sequence[str]] | None
    names: set[str] = field(default_factory=set)
    presets: dict[str, Preset] = field(default_factory=dict)

    def compile(self, node: ast.AST) -> _Typed:
        handler = getattr(self, _HANDLERS.get(type(node), ""), None)
        if handler is None:
            what = _REJECTED.get(type(node), f"{type(node).__name__} syntax")
            raise self.source.at(node, f"{what} is not allowed:", HINT)
        return handler(node)

    def expect(self, node: ast.AST, kind: str, context: str) -> Callable[[dict[str, Any]], Any]:
        typed = self.compile(node)
        if typed.kind != kind:
            raise self.source.at(node, f"{context} needs a {kind}, not a {typed.kind}:")
        return typed.run

    def truth(self, node: ast.AST) -> Callable[[dict[str, Any]], bool]:
        # and/or/not accept numbers too: a number is true when `x != 0` (so NaN is true).
        typed = self.compile(node)
        run = typed.run
        return run if typed.kind == BOOLEAN else lambda v: run(v) != 0

    def _constant(self, node: ast.Constant) -> _Typed:
        if type(node.value) not in (int, float):
            kind = "a string" if isinstance(node.value, str | bytes) else repr(node.value)
            raise self.source.at(node, f"{kind} is not allowed:", "only numbers are literals")
        try:
            value = float(node.value)
        except OverflowError:
            raise self.source.at(node, "number too large:", "write it as 1e300 or inf") from None
        return _Typed(NUMBER, lambda v: value)

    def _name(self, node: ast.Name) -> _Typed:
        if node.id in CONSTANTS:
            value = CONSTANTS[node.id]
            return _Typed(NUMBER, lambda v: value)
        if node.id in PRESETS:
            return self._preset(node, PRESETS[node.id])
        return self._value(node, [node.id])

    def _attribute(self, node: ast.Attribute) -> _Typed:
        parts, base = [], node
        while isinstance(base, ast.Attribute):
            parts.insert(0, base.attr)
            base = base.value
        if not isinstance(base, ast.Name):
            raise self.source.at(node, "attribute access is not allowed:", _names_hint())
        return self._value(node, [base.id, *parts])

    def _value(self, node: ast.AST, parts: list[str]) -> _Typed:
        name = self._resolve(parts)
        if name is None:
            raise self.source.at(node, "unknown name", self._unknown_hint(".".join(parts)))
        self.names.add(name)
        return _Typed(NUMBER, lambda v: v[name])

    def _resolve(self, parts: list[str]) -> str | None:
        tasks = self.task_names
        match parts:
            case [simple] if simple in SIMPLE_NAMES:
                return simple
            case ["loss" | "grad_norm" as root, "total"]:
                return f"{root}.total"
            case ["loss" | "grad_norm" | "weight" as root, task] if task in tasks:
                return f"{root}.{task}"
            case ["grad_cos", a, b] if a != b and a in tasks and b in tasks:
                return grad_cos_name(a, b, tasks)
            case ["metric", task, metric] if task in tasks and (
                self.metric_names is None or metric in self.metric_names.get(task, ())
            ):
                return f"metric.{task}.{metric}"
        return None

    def _unknown_hint(self, dotted: str) -> str:
        known = [*SIMPLE_NAMES, *CONSTANTS, *PRESETS, *self._dotted_examples()]
        close = difflib.get_close_matches(dotted, known, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        return f"{guess}{_names_hint()}; tasks are {', '.join(self.task_names) or '(none)'}"

    def _dotted_examples(self) -> list[str]:
        tasks = self.task_names
        names = [f"{root}.{t}" for root in ("loss", "grad_norm") for t in ("total", *tasks)]
        names += [f"weight.{t}" for t in tasks]
        names += [f"grad_cos.{a}.{b}" for a in tasks for b in tasks if a != b]
        metrics = self.metric_names or {}
        return names + [f"metric.{t}.{m}" for t in tasks for m in metrics.get(t, ())]

    def _unary(self, node: ast.UnaryOp) -> _Typed:
        if isinstance(node.op, ast.Not):
            run = self.truth(node.operand)
            return _Typed(BOOLEAN, lambda v: not run(v))
        if isinstance(node.op, ast.USub):
            run = self.expect(node.operand, NUMBER, "unary minus")
            return _Typed(NUMBER, lambda v: -run(v))
        raise self._operator(node.op, node)

    def _binary(self, node: ast.BinOp) -> _Typed:
        op = ARITHMETIC.get(type(node.op))
        if op is None:
            raise self._operator(node.op, node, after=node.left)
        left = self.expect(node.left, NUMBER, "arithmetic")
        right = self.expect(node.right, NUMBER, "arithmetic")
        return _Typed(NUMBER, lambda v: op(left(v), right(v)))

    def _boolean(self, node: ast.BoolOp) -> _Typed:
        runs = [self.truth(value) for value in node.values]
        if isinstance(node.op, ast.And):
            return _Typed(BOOLEAN, lambda v: all(run(v) for run in runs))
        return _Typed(BOOLEAN, lambda v: any(run(v) for run in runs))

    def _compare(self, node: ast.Compare) -> _Typed:
        for op, left in zip(node.ops, (node.left, *node.comparators), strict=False):
            if type(op) not in COMPARISONS:
                raise self._operator(op, node, after=left)
        ops = [COMPARISONS[type(op)] for op in node.ops]
        runs = [self.expect(x, NUMBER, "comparison") for x in (node.left, *node.comparators)]

        def run(v: dict[str, Any]) -> bool:
            values = [r(v) for r in runs]
            return all(op(a, b) for op, a, b in zip(ops, values[:-1], values[1:], strict=True))

        return _Typed(BOOLEAN, run)

    def _operator(self, op: ast.AST, node: ast.AST, after: ast.AST | None = None) -> ConditionError:
        # ast keeps no position for operators: look for the symbol after the left operand.
        symbol = _SYMBOLS.get(type(op), type(op).__name__)
        hint = "operators are and or not < <= > >= == != + - * /"
        if symbol == "**":
            hint = "powers can be astronomically large; multiply instead"
        start = self.source.span(node)[0] if after is None else self.source.span(after)[1]
        found = self.source.text.find(symbol, start)
        if found < 0:
            return self.source.at(node, f"operator {symbol!r} is not allowed in", hint)
        return self.source.error(found, found + len(symbol), "operator not allowed:", hint)

    def _call(self, node: ast.Call) -> _Typed:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in PRESETS:
            return self._preset(node, PRESETS[name])
        function = FUNCTIONS.get(name or "")
        if function is None:
            hint = f"functions are {', '.join(FUNCTIONS)}; presets are {', '.join(PRESETS)}"
            raise self.source.at(node.func, "calling this is not allowed:", hint)
        if node.keywords:
            raise self.source.at(node.keywords[0], f"{name}() takes no keyword arguments:")
        if not function.min_args <= len(node.args) <= function.max_args:
            arity = f"{function.min_args} to {function.max_args} arguments"
            if function.min_args == function.max_args == 1:
                arity = "1 argument"
            raise self.source.at(node, f"{name}() takes {arity}:")
        runs = [self.expect(arg, NUMBER, f"{name}()") for arg in node.args]
        impl = function.impl
        return _Typed(function.result, lambda v: impl(*(run(v) for run in runs)))

    def _preset(self, node: ast.Name | ast.Call, cls: type[Preset]) -> _Typed:
        args: dict[str, float] = {}
        if isinstance(node, ast.Call):
            if len(node.args) > len(cls.params):
                raise self.source.at(node, f"{cls.name} takes at most {len(cls.params)} arguments:")
            params = {p.name: p for p in cls.params}
            bound = [(p.name, arg, arg) for p, arg in zip(cls.params, node.args, strict=False)]
            bound += [(kw.arg, kw.value, kw) for kw in node.keywords]
            for name, value, where in bound:
                if name not in params or name in args:
                    hint = "parameters are " + ", ".join(p.describe() for p in cls.params)
                    raise self.source.at(where, f"bad argument of {cls.name}:", hint)
                args[name] = self._preset_arg(params[name], value)
        try:
            preset = cls(self.task_names, args)
        except ValueError as error:
            raise self.source.at(node, f"{error}:") from None
        preset = self.presets.setdefault(preset.key, preset)
        self.names.update(preset.required_names())
        key = preset.key
        return _Typed(BOOLEAN, lambda v: v[key])

    def _preset_arg(self, param: Param, node: ast.expr) -> float:
        negative = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
        literal = node.operand if isinstance(node, ast.UnaryOp) and negative else node
        if not isinstance(literal, ast.Constant) or type(literal.value) not in (int, float):
            raise self.source.at(node, "preset arguments must be numbers:", param.describe())
        try:
            return param.check(-literal.value if negative else literal.value)
        except (ValueError, OverflowError) as error:
            raise self.source.at(node, f"{error}:", param.describe()) from None


def _names_hint() -> str:
    return f"names are {', '.join([*SIMPLE_NAMES, *DOTTED_NAMES])}"


class Condition:
    """A checked condition; owns the history of the presets it uses.

    Attributes:
        source: the text it was parsed from.
        names: every value name `evaluate` reads, normalised (grad_cos pairs in
            task order), including those its presets need; the trainer
            computes exactly these.
    """

    __slots__ = ("_presets", "_run", "names", "source")

    def __init__(
        self, source: str, names: frozenset[str], run: Callable[[dict[str, Any]], Any],
        presets: Sequence[Preset],
    ) -> None:  # fmt: skip
        self.source, self.names = source, names
        self._run, self._presets = run, tuple(presets)

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def evaluate(self, values: Values) -> bool:
        """True when the condition holds; call once per evaluated step (presets keep history).

        Raises MissingValueError (a KeyError) when a name in `names` has no value.
        """
        env: dict[str, Any] = self.values_of(values)
        for preset in self._presets:
            env[preset.key] = preset.observe(env)
        return bool(self._run(env))

    def values_of(self, values: Values) -> dict[str, float]:
        """The value of every name the condition reads, for the breakpoint-hit event."""
        missing = sorted(self.names.difference(values))
        if missing:
            raise MissingValueError(missing)
        return {name: float(values[name]) for name in sorted(self.names)}

    def state_dict(self) -> dict[str, Any]:
        """The presets' history, JSON-friendly; empty for a condition without presets."""
        return {"presets": {preset.key: preset.state_dict() for preset in self._presets}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned for a condition with the same presets."""
        saved = state.get("presets", {})
        keys = {preset.key for preset in self._presets}
        if not isinstance(saved, Mapping) or set(saved) != keys:
            raise ValueError(f"state is not for this condition's presets ({', '.join(keys)})")
        for preset in self._presets:
            preset.load_state_dict(saved[preset.key])


def parse_condition(
    source: str,
    *,
    task_names: Sequence[str],
    metric_names: Mapping[str, Sequence[str]] | None = None,
) -> Condition:
    """Check `source` and build its Condition; ConditionError says where and why.

    `metric_names` maps each task to its metric names; None allows any
    identifier as a metric name of a known task.

    >>> sorted(parse_condition("loss.depth > 3 and step > 100", task_names=["depth"]).names)
    ['loss.depth', 'step']
    """
    text = SourceText(source)
    if len(source) > MAX_SOURCE_CHARS:
        raise text.error(MAX_SOURCE_CHARS, len(source), "condition too long:", "")
    tree = _parse(text)
    _check_depth(text, tree)
    compiler = _Compiler(text, tuple(task_names), metric_names)
    typed = compiler.compile(tree.body)
    if typed.kind != BOOLEAN:
        hint = "a condition must compare, e.g. loss.depth > 3"
        raise text.at(tree.body, f"a condition must be true or false, not a {typed.kind}:", hint)
    return Condition(source, frozenset(compiler.names), typed.run, list(compiler.presets.values()))


def _parse(text: SourceText) -> ast.Expression:
    if not text.text.strip():
        raise text.error(0, 0, "empty condition:", "e.g. loss.depth > 3")
    try:
        # Python's own SyntaxWarnings (e.g. "1if") are about the user's text, not
        # our code; the ConditionError is what they get instead.
        with warnings.catch_warnings(action="ignore", category=SyntaxWarning):
            return ast.parse(text.text, mode="eval")
    except SyntaxError as error:
        line = min(max((error.lineno or 1) - 1, 0), len(text.line_starts) - 1)
        start = text.line_starts[line] + (error.offset or len(text.text) + 1) - 1
        end = text.line_starts[line] + (error.end_offset or 0) - 1
        raise text.error(start, end, f"syntax error ({error.msg}):", HINT) from None
    except (ValueError, RecursionError, MemoryError):
        raise text.error(0, 1, "cannot parse:", "nesting too deep or invalid characters") from None


def _check_depth(text: SourceText, tree: ast.Expression) -> None:
    # Iterative, so a deep tree is refused before anything recursive walks it.
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise text.at(node, "nested too deeply:", f"at most {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def describe_language() -> str:
    """The language reference as Markdown, generated from the tables above."""
    rows = [f"- `{name}`: {doc}" for name, doc in {**SIMPLE_NAMES, **DOTTED_NAMES}.items()]
    functions = [f"- `{name}()`: {f.doc}" for name, f in FUNCTIONS.items()]
    presets = [
        f"- `{name}`: {cls.summary}. Parameters: " + "; ".join(p.describe() for p in cls.params)
        for name, cls in PRESETS.items()
    ]
    return "\n".join([
        "Names:", *rows, "- `nan`, `inf`: the constants",
        "",
        "Operators: `and or not`, `< <= > >= == !=` (chains like `0 < lr < 1`), `+ - * /`,"
        " unary `-`, parentheses. Comparisons and arithmetic take numbers; `and or not` take"
        " booleans or numbers (a number is true when `x != 0`, so NaN is true) and give"
        " booleans. NaN compares false except `!=`; x/0 gives inf or NaN. The whole"
        " condition must be a boolean.",
        "",
        "Functions:", *functions,
        "",
        "Presets (alone, inside a condition, or called with numeric arguments, e.g."
        " `task_dominance(20)`, `loss_not_decreasing(window=200)`). They remember earlier"
        " evaluations, even those where the rest of the condition decided alone:", *presets,
        "",
        f"Limits: {MAX_SOURCE_CHARS} characters, {MAX_DEPTH} levels of nesting.",
    ])  # fmt: skip
