"""Specification of the breakpoint condition language (mtl_service.spec.conditions)."""

from __future__ import annotations

import ast
import builtins
import json
import math
import subprocess
import sys

import pytest

from mtl_service.spec.conditions import (
    ConditionError,
    MissingValueError,
    describe_language,
    parse_condition,
)
from mtl_service.spec.presets import PRESETS

TASKS = ("depth", "seg")


def parse(source: str, tasks: tuple[str, ...] = TASKS, **kwargs):
    return parse_condition(source, task_names=tasks, **kwargs)


def values(**overrides: float) -> dict[str, float]:
    """A full set of values for TASKS; keyword `a__b` stands for the name `a.b`."""
    full = {"step": 10, "epoch": 0, "lr": 0.1, "param_norm": 5.0}
    for root in ("loss", "grad_norm"):
        full |= {f"{root}.depth": 1.0, f"{root}.seg": 2.0, f"{root}.total": 3.0}
    full |= {"weight.depth": 1.0, "weight.seg": 1.0, "grad_cos.depth.seg": 0.5}
    full |= {"metric.depth.rmse": 0.3}
    return full | {key.replace("__", "."): value for key, value in overrides.items()}


@pytest.mark.parametrize(
    ("source", "overrides", "expected"),
    [
        ("loss.depth > 0.5", {}, True),
        ("loss.depth > 0.5 and step < 5", {}, False),
        ("loss.depth > 5 or not step < 5", {}, True),
        ("0 < lr < 1", {}, True),
        ("0 < lr < 0.05", {}, False),
        ("1 < 2 < lr", {}, False),
        ("loss.total == loss.depth + loss.seg", {}, True),
        ("-loss.depth * 2 / 4 - 1 == -1.5", {}, True),
        ("(loss.seg - loss.depth) * 3 >= 3", {}, True),
        ("abs(-loss.seg) == max(1, loss.seg, 0) != min(loss.seg, 5)", {}, False),
        ("isnan(loss.depth)", {"loss__depth": math.nan}, True),
        ("isinf(grad_norm.total)", {"grad_norm__total": -math.inf}, True),
        ("not isfinite(grad_norm.total)", {"grad_norm__total": math.inf}, True),
        ("loss.depth > 3", {"loss__depth": math.nan}, False),
        ("loss.depth <= 3", {"loss__depth": math.nan}, False),
        ("loss.depth != loss.depth", {"loss__depth": math.nan}, True),
        ("loss.depth == nan", {"loss__depth": math.nan}, False),
        ("grad_norm.total == inf", {"grad_norm__total": math.inf}, True),
        ("isnan(max(loss.depth, 1))", {"loss__depth": math.nan}, True),
        ("isnan(min(1, loss.depth))", {"loss__depth": math.nan}, True),
        ("loss.depth / 0 == inf", {}, True),
        ("-loss.depth / 0 == -inf", {}, True),
        ("isnan(0 / 0)", {}, True),
        ("loss.depth and step > 3", {"loss__depth": 0.0}, False),
        ("loss.depth and step > 3", {"loss__depth": math.nan}, True),
        ("metric.depth.rmse < 0.5", {}, True),
        ("grad_cos.seg.depth < 0", {"grad_cos__depth__seg": -0.2}, True),
        ("1e999 == inf", {}, True),
    ],
)
def test_valid_conditions_evaluate_with_ieee_semantics(source, overrides, expected):
    assert parse(source).evaluate(values(**overrides)) is expected


def test_names_are_the_normalised_values_the_trainer_must_compute():
    condition = parse("grad_cos.seg.depth < 0 and grad_cos.depth.seg > -1 or step > lr")
    assert condition.names == frozenset({"grad_cos.depth.seg", "step", "lr"})


def test_grad_cos_pairs_follow_task_order():
    condition = parse("grad_cos.depth.seg < 0", tasks=("seg", "depth"))
    assert condition.names == frozenset({"grad_cos.seg.depth"})


def test_presets_add_the_names_their_history_needs():
    condition = parse(
        "task_conflict and task_dominance or exploding_gradient", tasks=("a", "b", "c")
    )
    assert {"grad_cos.a.b", "grad_cos.a.c", "grad_cos.b.c"} <= condition.names
    assert {"grad_norm.a", "grad_norm.b", "grad_norm.c", "grad_norm.total"} <= condition.names


def test_metric_names_are_checked_when_known():
    metrics = {"depth": ["rmse"], "seg": ["iou"]}
    assert parse("metric.seg.iou > 0.5", metric_names=metrics).names == {"metric.seg.iou"}
    with pytest.raises(ConditionError, match="metric.seg.rmse"):
        parse("metric.seg.rmse > 0.5", metric_names=metrics)


def test_missing_value_is_a_key_error_naming_every_missing_name():
    condition = parse("loss.depth > 1 or step > 3")
    with pytest.raises(KeyError) as caught:
        condition.evaluate({"step": 1})
    assert isinstance(caught.value, MissingValueError)
    assert caught.value.names == ("loss.depth",)
    assert "loss.depth" in str(caught.value)


def test_values_of_reports_every_name_in_the_condition():
    condition = parse("loss.depth > 1 or grad_cos.seg.depth < 0")
    assert condition.values_of(values()) == {"grad_cos.depth.seg": 0.5, "loss.depth": 1.0}


def test_unknown_name_error_says_where_and_lists_the_tasks():
    with pytest.raises(ConditionError) as caught:
        parse("step > 3 and loss.dpeth > 3")
    error = caught.value
    assert (error.position, error.line, error.column, error.token) == (14, 1, 14, "loss.dpeth")
    assert str(error).startswith("unknown name 'loss.dpeth' at column 14;")
    assert "did you mean 'loss.depth'" in str(error) and "tasks are depth, seg" in str(error)


def test_errors_in_multi_line_sources_give_line_and_column():
    with pytest.raises(ConditionError) as caught:
        parse("(step > 3 and\n  weight.sge > 1)")
    assert (caught.value.line, caught.value.column, caught.value.position) == (2, 3, 17)
    assert "at line 2, column 3" in str(caught.value)


def test_non_boolean_condition_is_rejected_with_an_example():
    with pytest.raises(ConditionError, match=r"must compare, e\.g\. loss\.depth > 3"):
        parse("loss.depth")


REJECTED = [
    ("loss.depth >", "syntax error"),
    ("loss.depth >> 3", "'>>'"),
    ("loss.dpeth > 3", "unknown name"),
    ("loss.road > 3", "unknown name"),
    ("grad_cos.depth.depth > 0", "unknown name"),
    ("metric.road.rmse > 0", "unknown name"),
    ("loss > 3", "unknown name"),
    ("loss.__class__", "unknown name"),
    ("().__class__", "attribute access"),
    ("(1).real > 0", "attribute access"),
    ("open('x') or 1", "calling"),
    ("__import__('os').system('touch pwned')", "calling"),
    ("loss.depth.__add__(1) > 0", "calling"),
    ("abs(x=1) > 0", "keyword"),
    ("max(1) > 0", "takes 2 to 16"),
    ("isnan(1, 2)", "takes 1 argument"),
    ("isnan(*[1])", "starred"),
    ("(lambda: 1)() > 0", "calling"),
    ("lambda: 1", "lambda"),
    ("[x for x in (1, 2)]", "comprehension"),
    ("any(x > 0 for x in (1,))", "calling"),
    ("10**10**10", "'**'"),
    ("2**999999 > 1", "'**'"),
    ("'a' > 1", "string"),
    ("f'{step}' > 1", "f-string"),
    ("loss.depth[0] > 1", "subscript"),
    ("(x := 1) > 0", "assignment"),
    ("step if 1 else 2", "conditional"),
    ("step & 1", "'&'"),
    ("~step > 0", "'~'"),
    ("+step > 0", "'+'"),
    ("step % 2 == 0", "'%'"),
    ("step is 3", "'is'"),
    ("step in (1, 2)", "'in'"),
    ("True", "True"),
    ("(step > 1) + 1 > 0", "needs a number"),
    ("isnan(step > 1)", "needs a number"),
    ("task_conflict(threshold=2)", "between -1 and 1"),
    ("task_dominance(ratio=step)", "must be numbers"),
    ("loss_not_decreasing(window=1.5)", "whole number"),
    ("task_dominance(1, 2, 3)", "takes at most 2 arguments"),
    ("task_conflict(foo=1)", "bad argument"),
    ("task_conflict(0, threshold=0)", "bad argument"),
    ("step > 10" + "0" * 400, "number too large"),
    ("", "empty"),
    ("step > 1 and " * 90 + "step > 1", "too long"),
    ("-" * 60 + "step > 0", "nested too deeply"),
    ("(" * 300 + "step" + ")" * 300, "syntax error"),
    ("step\x00 > 1", "null bytes"),
]


@pytest.mark.parametrize(("source", "reason"), REJECTED)
def test_disallowed_conditions_are_rejected_with_position_and_token(source, reason):
    with pytest.raises(ConditionError) as caught:
        parse(source)
    error = caught.value
    assert reason in str(error)
    assert 1 <= error.position <= len(source) + 1
    assert error.line >= 1 and error.column >= 1
    assert "column" in str(error)
    assert error.token == source[error.position - 1 :][: len(error.token)]


def test_presets_that_compare_tasks_need_two_tasks():
    with pytest.raises(ConditionError, match="at least 2 tasks"):
        parse("task_conflict", tasks=("depth",))


def test_parsing_and_evaluating_execute_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real_compile = builtins.compile

    def ast_only_compile(source, filename, mode, flags=0, *args, **kwargs):
        assert flags & 0x400, "compile() may only build an AST"  # ast.PyCF_ONLY_AST
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must never run")

    monkeypatch.setattr(builtins, "compile", ast_only_compile)
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    for source in ("__import__('os').system('touch pwned')", "open('pwned', 'w') or 1"):
        with pytest.raises(ConditionError):
            parse(source)
    assert parse("loss.depth > 0 and task_conflict").evaluate(values()) is False
    assert list(tmp_path.iterdir()) == []


def run_steps(condition, series: list[dict[str, float]]) -> list[bool]:
    return [condition.evaluate(values(**step)) for step in series]


def test_task_conflict_fires_after_sustained_negative_cosine():
    condition = parse("task_conflict(patience=3) and step > 2")
    cosines = [-0.5, -0.5, 0.1, -0.5, -0.5, -0.5, -0.5]
    series = [{"grad_cos__depth__seg": c, "step": i + 1} for i, c in enumerate(cosines)]
    # The streak is counted from step 1, even while `step > 2` short-circuits.
    assert run_steps(condition, series) == [False, False, False, False, False, True, True]


def test_task_dominance_compares_the_largest_norm_with_every_other():
    condition = parse("task_dominance(10)", tasks=("a", "b", "c"))
    norms = [(100, 9, 1), (100, 11, 1), (0, 0, 0), (5, 0, 0), (math.inf, 1, 1)]
    series = [{"grad_norm__a": a, "grad_norm__b": b, "grad_norm__c": c} for a, b, c in norms]
    assert run_steps(condition, series) == [True, False, False, True, False]


def test_exploding_gradient_fires_on_spikes_thresholds_and_non_finite_norms():
    condition = parse(
        "exploding_gradient(factor=5, window=20) or exploding_gradient(threshold=100)"
    )
    norms = [1.0] * 10 + [4.0, 6.0, 1.0, 150.0, math.nan, 1.0]
    fired = run_steps(condition, [{"grad_norm__total": n} for n in norms])
    assert fired == [False] * 10 + [False, True, False, True, True, False]


def test_vanishing_gradient_and_loss_not_decreasing_use_their_windows():
    vanishing = parse("vanishing_gradient(threshold=0.01, patience=2)")
    norms = [0.001, 1.0, 0.001, 0.001, 0.001]
    assert run_steps(vanishing, [{"grad_norm__total": n} for n in norms]) == [
        False, False, False, True, True,
    ]  # fmt: skip
    plateau = parse("loss_not_decreasing(window=2)")
    losses = [3.0, 2.0, 2.0, math.nan, 1.0, 1.0, 1.0]
    assert run_steps(plateau, [{"loss__total": x} for x in losses]) == [
        False, False, False, True, False, False, True,
    ]  # fmt: skip


def test_preset_state_round_trips_through_json_and_resumes_identically():
    source = "task_conflict or exploding_gradient or loss_not_decreasing(window=3)"
    rng = [((i * 37) % 11 - 5) / 5 for i in range(40)]
    series = [
        {"grad_cos__depth__seg": c, "grad_norm__total": abs(c) * 10 + 1, "loss__total": 2 + c}
        for c in rng
    ]
    original = parse(source)
    run_steps(original, series[:20])
    state = json.loads(json.dumps(original.state_dict()))
    resumed = parse(source)
    resumed.load_state_dict(state)
    assert run_steps(resumed, series[20:]) == run_steps(original, series[20:])


def test_loading_state_of_other_presets_is_refused():
    state = parse("task_conflict").state_dict()
    with pytest.raises(ValueError, match="presets"):
        parse("task_conflict(patience=2)").load_state_dict(state)
    assert parse("step > 1").state_dict() == {"presets": {}}


def test_describe_language_lists_names_functions_and_presets():
    text = describe_language()
    for word in ("loss.<task>", "grad_cos.<a>.<b>", "metric.<task>.<name>", "isfinite", "max"):
        assert word in text
    assert all(name in text for name in PRESETS)


def test_condition_modules_import_without_torch_or_grpc():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['grpc'] = None\n"
        "import mtl_service.spec.conditions, mtl_service.spec.presets"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# Property tests: whatever the input, parsing ends quickly in a Condition or a
# ConditionError, and an accepted condition evaluates to a bool.

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

PROPERTY_SETTINGS = hypothesis.settings(max_examples=200, deadline=1000)
VALUE_NAMES = ["step", "lr", "loss.depth", "loss.total", "grad_cos.seg.depth", "metric.depth.x"]
OTHER_NAMES = ["nan", "inf", "task_conflict", "loss", "loss.road", "__import__", "os.system"]
NUMBERS = st.one_of(st.integers(-(10**30), 10**30), st.floats(allow_nan=False))
ODD_LITERALS = st.one_of(st.text(max_size=3), st.none(), st.booleans())


def _syntax_trees() -> st.SearchStrategy[ast.expr]:
    """Trees mostly made of allowed syntax, so that some are accepted and evaluated."""

    def name(dotted: str) -> ast.expr:
        return ast.parse(dotted, mode="eval").body

    def pick(*nodes: ast.AST) -> st.SearchStrategy[ast.AST]:
        return st.sampled_from(nodes)

    def extend(child: st.SearchStrategy[ast.expr]) -> st.SearchStrategy[ast.expr]:
        def call(functions: list[str]) -> st.SearchStrategy[ast.expr]:
            return st.builds(
                lambda f, args: ast.Call(ast.Name(f), args, []),
                st.sampled_from(functions),
                st.lists(child, min_size=1, max_size=3),
            )

        def compare(ops: st.SearchStrategy[ast.AST]) -> st.SearchStrategy[ast.expr]:
            return st.builds(
                lambda left, rest: ast.Compare(left, [op for op, _ in rest], [x for _, x in rest]),
                child,
                st.lists(st.tuples(ops, child), min_size=1, max_size=3),
            )

        valid = st.one_of(
            st.builds(ast.BinOp, child, pick(ast.Add(), ast.Sub(), ast.Mult(), ast.Div()), child),
            st.builds(ast.UnaryOp, pick(ast.Not(), ast.USub()), child),
            st.builds(
                ast.BoolOp, pick(ast.And(), ast.Or()), st.lists(child, min_size=2, max_size=3)
            ),
            compare(pick(ast.Lt(), ast.LtE(), ast.Gt(), ast.GtE(), ast.Eq(), ast.NotEq())),
            call(["abs", "min", "max", "isnan", "isinf", "isfinite", "task_dominance"]),
        )
        invalid = st.one_of(
            st.builds(ast.BinOp, child, pick(ast.Pow(), ast.Mod(), ast.BitOr()), child),
            st.builds(ast.UnaryOp, pick(ast.UAdd(), ast.Invert()), child),
            compare(pick(ast.Is(), ast.In())),
            call(["open", "eval", "__import__"]),
            st.builds(ast.Attribute, child, st.sampled_from(["__class__", "depth"])),
            st.builds(ast.Subscript, child, child),
        )
        # one_of flattens its branches, so weight by hand: one node in ten is invalid.
        return st.integers(0, 9).flatmap(lambda i: invalid if i == 0 else valid)

    valid_leaves = st.one_of(st.sampled_from(VALUE_NAMES).map(name), NUMBERS.map(ast.Constant))
    invalid_leaves = st.one_of(
        st.sampled_from(OTHER_NAMES).map(name), ODD_LITERALS.map(ast.Constant)
    )
    leaves = st.integers(0, 9).flatmap(lambda i: invalid_leaves if i == 0 else valid_leaves)
    return st.recursive(leaves, extend, max_leaves=16)


def _accepts_or_rejects_cleanly(source: str) -> None:
    try:
        condition = parse(source)
    except ConditionError as error:
        assert 1 <= error.position <= len(source) + 1
        return
    for value in (0.0, -1.0, 1e308, math.nan, math.inf):
        assert isinstance(condition.evaluate(dict.fromkeys(condition.names, value)), bool)


@PROPERTY_SETTINGS
@hypothesis.given(st.text(max_size=200))
def test_random_text_only_ever_raises_condition_error(source):
    _accepts_or_rejects_cleanly(source)


@PROPERTY_SETTINGS
@hypothesis.given(st.text(alphabet="().,+-*/<>=!~%:[]' \nabdeilnoprstx0129_", max_size=120))
def test_random_condition_like_text_only_ever_raises_condition_error(source):
    _accepts_or_rejects_cleanly(source)


@PROPERTY_SETTINGS
@hypothesis.given(_syntax_trees())
def test_random_syntax_trees_only_ever_raise_condition_error(tree):
    _accepts_or_rejects_cleanly(ast.unparse(ast.fix_missing_locations(ast.Expression(tree))))
