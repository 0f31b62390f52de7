"""Specification of mtlctl: its frozen command surface, argument checks, output and exit codes."""

from __future__ import annotations

import argparse
import io
from typing import Any

import grpc
import pytest

from mtl.v1 import debug_pb2, debug_types_pb2, job_pb2
from mtl_service.cli import debug_render, main, render
from mtl_service.client import ClientError, Snapshot
from mtl_service.client.tensor_files import load_tensors

SURFACE = {
    "mtlctl": ["--target", "--tls-ca", "--tls-cert", "--tls-key"],
    "submit": ["spec", "--watch"],
    "get": ["job_id", "--json"],
    "list": ["--state", "--page-size", "--limit"],
    "cancel": ["job_id", "--reason"],
    "watch": ["job_id"],
    "break set": ["JOB", "CONDITION", "--action", "--select", "--max-hits", "--every"],
    "break list": ["JOB"],
    "break rm": ["JOB", "BP_ID"],
    "pause": ["JOB"],
    "resume": ["JOB", "--skip-step"],
    "step": ["JOB", "N", "--skip-step"],
    "snapshot": ["JOB", "SELECTOR", "--data", "--output", "--rank"],
    "weights": ["JOB", "TASK=VALUE"],
    "lr": ["JOB", "VALUE"],
    "profile": [
        "JOB",
        "--steps",
        "--output",
        "--record-shapes",
        "--profile-memory",
        "--with-stack",
    ],
    "stats": ["JOB"],
    "fork": ["JOB", "--name", "--weight", "--lr", "--strategy"],
    "problems": [],
    "plot": ["job_id", "--output"],
}


def _surface(parser: argparse.ArgumentParser, path: str) -> dict[str, list[str]]:
    """Command path -> its positionals (metavar) and options (long name), in order;
    every command is listed, also one without arguments (a group like "break" is not)."""
    found: dict[str, list[str]] = {}
    arguments = []
    is_group = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            is_group = bool(path)
            for name, subparser in action.choices.items():
                found |= _surface(subparser, f"{path} {name}".strip())
        elif not isinstance(action, argparse._HelpAction):
            arguments.append(
                action.option_strings[-1]
                if action.option_strings
                else action.metavar or action.dest
            )
    if not is_group:
        found[path or "mtlctl"] = arguments
    return found


def test_the_command_surface_is_frozen():
    assert _surface(main.build_parser(), "") == SURFACE


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["break", "set", "job-1", "loss.a > 3", "--action", "snapshot", "--select", "grad:*",
             "--select", "loss:*", "--max-hits", "2", "--every", "5"],
            {"break_command": "set", "condition": "loss.a > 3", "action": "snapshot",
             "select": ["grad:*", "loss:*"], "max_hits": 2, "every": 5},
        ),
        (["break", "set", "job-1", "step > 3"], {"action": "pause", "select": [], "max_hits": 0}),
        (["break", "list", "job-1"], {"break_command": "list"}),
        (["break", "rm", "job-1", "bp-2"], {"break_command": "rm", "breakpoint_id": "bp-2"}),
        (["pause", "job-1"], {"command": "pause"}),
        (["resume", "job-1"], {"skip_step": False}),
        (["resume", "job-1", "--skip-step"], {"skip_step": True}),
        (["step", "job-1", "3", "--skip-step"], {"num_steps": 3, "skip_step": True}),
        (["snapshot", "job-1", "grad:*", "param:trunk.*", "--data"],
         {"selectors": ["grad:*", "param:trunk.*"], "data": True, "output": None, "rank": 0}),
        (["weights", "job-1", "a=0.5", "b=2"], {"weights": {"a": 0.5, "b": 2.0}}),
        (["lr", "job-1", "1e-4"], {"learning_rate": 1e-4}),
        (["profile", "job-1", "--steps", "3", "-o", "t.json", "--with-stack"],
         {"steps": 3, "with_stack": True, "record_shapes": False, "profile_memory": False}),
        (["stats", "job-1"], {"command": "stats"}),
        (["fork", "job-1"], {"name": "", "weights": None, "lr": 0.0, "strategy": ""}),
        (["fork", "job-1", "--name", "b", "--weight", "a=1", "--weight", "b=0", "--lr", "0.1",
          "--strategy", "uw"], {"name": "b", "weights": {"a": 1.0, "b": 0.0}, "lr": 0.1,
                                "strategy": "uw"}),
    ],
)  # fmt: skip
def test_debug_commands_parse_their_arguments(argv, expected):
    args = main.build_parser().parse_args(argv)
    assert args.job_id == "job-1"
    assert {key: getattr(args, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["weights", "job-1", "a0.5"], "malformed weight 'a0.5': write TASK=VALUE"),
        (["weights", "job-1", "=0.5"], "malformed weight"),
        (["weights", "job-1", "a=1=2"], "malformed weight"),
        (["weights", "job-1", "a=heavy"], "'heavy' is not a number"),
        (["weights", "job-1", "a=-1"], "must be finite and >= 0"),
        (["weights", "job-1", "a=nan"], "must be finite and >= 0"),
        (["weights", "job-1", "a=1", "a=2"], "task 'a' is given twice"),
        (["weights", "job-1"], "required"),
        (["fork", "job-1", "--weight", "a"], "malformed weight"),
        (["snapshot", "job-1", "grad:*", "-o", "grads.npz"], "name a .safetensors or .pt file"),
        (["profile", "job-1", "--steps", "2", "-o", "no/such/dir/t.json"], "no folder"),
        (["break", "set", "job-1", "step > 1", "--action", "stop"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_before_any_rpc_with_what_to_fix(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main.main(["--target", "localhost:1", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def task_stats_response() -> debug_pb2.GetTaskStatsResponse:
    return debug_pb2.GetTaskStatsResponse(
        step=120,
        tasks=[
            debug_pb2.TaskStat(task="depth", loss=0.5, smoothed_loss=0.55, weight=1, grad_norm=2),
            debug_pb2.TaskStat(task="seg", loss=1.25, smoothed_loss=1.5, weight=0.5, grad_norm=0.1),
            debug_pb2.TaskStat(task="normal", loss=3, smoothed_loss=3.5, weight=2, grad_norm=1.5),
        ],
        grad_cosine=[1, -0.412, 0.2, -0.412, 1, 0.05, 0.2, 0.05, 1],
        gradient_source="representation",
        state=job_pb2.JOB_STATE_PAUSED,
    )


def test_stats_table_has_one_row_per_task():
    lines = debug_render.task_table(task_stats_response()).splitlines()
    assert lines[0].split() == ["TASK", "LOSS", "SMOOTHED", "WEIGHT", "GRAD", "NORM"]
    assert lines[1].split() == ["depth", "0.5", "0.55", "1", "2"]
    assert lines[2].split() == ["seg", "1.25", "1.5", "0.5", "0.1"]


def test_cosine_matrix_names_tasks_on_both_axes_and_marks_conflicts():
    lines = debug_render.cosine_matrix(task_stats_response()).splitlines()
    assert lines[0].split() == ["COSINE", "depth", "seg", "normal"]
    assert lines[1].split() == ["depth", "1.000", "-0.412!", "0.200"]
    assert lines[2].split() == ["seg", "-0.412!", "1.000", "0.050"]
    assert lines[3].split() == ["normal", "0.200", "0.050", "1.000"]
    assert "\x1b[" not in "\n".join(lines)


def test_cosine_matrix_colors_conflicts_red_only_when_asked():
    colored = debug_render.cosine_matrix(task_stats_response(), color=True)
    assert colored.count("\x1b[31m-0.412!\x1b[0m") == 2
    plain = debug_render.cosine_matrix(task_stats_response())
    assert colored.replace("\x1b[31m", "").replace("\x1b[0m", "") == plain


def test_stats_without_cosines_says_so():
    single = debug_pb2.GetTaskStatsResponse(tasks=[debug_pb2.TaskStat(task="a")], grad_cosine=[1])
    assert debug_render.cosine_matrix(single) == "no gradient cosines at this step"


def event(payload: Any) -> job_pb2.JobEvent:
    """A JobEvent carrying `payload` in the field of its type."""
    fields = job_pb2.JobEvent.DESCRIPTOR.oneofs_by_name["payload"].fields
    [kind] = [field.name for field in fields if field.message_type is payload.DESCRIPTOR]
    return job_pb2.JobEvent(job_id="job-1", sequence=7, **{kind: payload})


T = debug_types_pb2
DEBUG_EVENTS = {
    "breakpoint_hit": (
        T.BreakpointHit(breakpoint_id="bp-1", condition="loss.depth > 3", step=120,
                        action=T.BREAKPOINT_ACTION_PAUSE, values={"loss.depth": 3.21}),
        "breakpoint bp-1 hit at step 120 (pause): loss.depth > 3 [loss.depth=3.21]",
    ),
    "paused_by_nan_guard": (
        T.Paused(step=121, reason=T.PAUSE_REASON_NAN_GUARD, detail="non-finite loss",
                 task="depth", tensor="loss:depth"),
        "paused at step 121 (nan_guard): non-finite loss [task depth, tensor loss:depth]",
    ),
    "paused_by_user": (
        T.Paused(step=5, reason=T.PAUSE_REASON_USER), "paused at step 5 (user) by anonymous"
    ),
    "paused_by_a_named_operator": (
        T.Paused(step=5, reason=T.PAUSE_REASON_USER,
                 paused_by=T.Caller(role="operator", identity="ops-alice")),
        "paused at step 5 (user) by operator ops-alice",
    ),
    "resumed": (
        T.Resumed(step=121, skipped_optimizer_step=True),
        "resumed at step 121 (optimizer step skipped) by anonymous",
    ),
    "stepped": (
        T.Resumed(step=121, num_steps=3,
                  resumed_by=T.Caller(role="admin", identity="sha256:0a1b2c3d")),
        "resumed at step 121 for 3 steps by admin sha256:0a1b2c3d",
    ),
    "setting_changed_anonymously": (
        T.SettingChanged(name="loss_weight.depth", old_value=1, new_value=0.25, effective_step=122),
        "loss_weight.depth 1 -> 0.25 from step 122 by anonymous",
    ),
    "setting_changed_by_a_named_token": (
        T.SettingChanged(name="learning_rate", old_value=0.01, new_value=0.001, effective_step=7,
                         changed_by=T.Caller(role="operator", identity="alice")),
        "learning_rate 0.01 -> 0.001 from step 7 by operator alice",
    ),
    "breakpoint_set": (
        T.SettingChanged(name="breakpoint.bp-2", old_value=0, new_value=1, detail="step > 5",
                         changed_by=T.Caller(role="admin", identity="sha256:0123abcd")),
        "breakpoint bp-2 set by admin sha256:0123abcd: step > 5",
    ),
    "breakpoint_deleted": (
        T.SettingChanged(name="breakpoint.bp-2", old_value=1, new_value=0, detail="step > 5"),
        "breakpoint bp-2 deleted by anonymous: step > 5",
    ),
    "debug_error": (
        T.DebugError(feature="profile", message="busy", step=9),
        "debug error in profile at step 9: busy",
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", DEBUG_EVENTS)
def test_each_debug_event_has_a_plain_line(name):
    payload, line = DEBUG_EVENTS[name]
    assert render.event_line(event(payload), total_steps=400) == line


def test_a_snapshot_breakpoint_hit_lists_its_tensors_under_the_line():
    stats = T.TensorStats(min=-1, max=2, mean=0.5, std=1, l2_norm=3, nan_count=1)
    info = T.TensorInfo(name="grad:w", dtype="float32", shape=[16, 8], stats=stats)
    hit = T.BreakpointHit(
        breakpoint_id="bp-2", step=4, action=T.BREAKPOINT_ACTION_SNAPSHOT, tensors=[info]
    )
    lines = render.event_line(event(hit), total_steps=10).splitlines()
    assert lines[0].startswith("breakpoint bp-2 hit at step 4 (snapshot)")
    assert lines[1].split()[:3] == ["NAME", "DTYPE", "SHAPE"]
    assert " ".join(lines[2].split()) == "grad:w float32 16x8 -1 2 0.5 1 3 1 0 0.0"


def test_progress_bar_shows_paused_and_prints_debug_events_above_itself():
    stream = io.StringIO()
    bar = render.ProgressBar(stream, total_steps=400)
    bar.update(event(DEBUG_EVENTS["paused_by_user"][0]))
    assert "PAUSED" in stream.getvalue().rsplit("\r", 1)[-1]
    assert "paused at step 5 (user) by anonymous\n" in stream.getvalue()
    bar.update(event(DEBUG_EVENTS["resumed"][0]))
    assert "RUNNING" in stream.getvalue().rsplit("\r", 1)[-1]


class FakeClient:
    """The MtlClient calls mtlctl's debug commands make, answered with canned messages."""

    def __init__(self, target: str) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            reply = REPLIES[name]
            if isinstance(reply, Exception):
                raise reply
            return reply

        return call


def _snapshot() -> Snapshot:
    info = debug_types_pb2.TensorInfo(name="param:w", dtype="int64", shape=[2], num_bytes=16)
    data = bytearray((1).to_bytes(8, "little") + (2).to_bytes(8, "little"))
    return Snapshot(step=3, infos={"param:w": info}, data={"param:w": data})


REPLIES: dict[str, Any] = {
    "set_breakpoint": debug_types_pb2.Breakpoint(id="bp-3"),
    "list_breakpoints": [
        debug_types_pb2.Breakpoint(id="bp-1", condition="loss.a > 3", hit_count=2, max_hits=5)
    ],
    "delete_breakpoint": None,
    "pause": 17,
    "resume": 17,
    "step": 20,
    "snapshot": _snapshot(),
    "adjust_loss_weights": debug_pb2.AdjustLossWeightsResponse(
        old_weights={"a": 1}, new_weights={"a": 0.5}, effective_step=18
    ),
    "set_learning_rate": debug_pb2.SetLearningRateResponse(
        old_learning_rate=1e-3, new_learning_rate=5e-4, effective_step=18
    ),
    "capture_profile": (
        b'{"traceEvents": []}',
        debug_pb2.ProfileSummary(
            first_step=18,
            last_step=19,
            trace_bytes=19,
            top_ops=[debug_pb2.ProfiledOp(name="aten::mm", calls=4, self_cpu_seconds=0.0125)],
        ),
    ),
    "task_stats": task_stats_response(),
    "fork": job_pb2.Job(id="job-2"),
}


@pytest.fixture
def fake_client(monkeypatch: pytest.MonkeyPatch) -> list[FakeClient]:
    made: list[FakeClient] = []
    monkeypatch.setattr(
        main, "MtlClient", lambda target, **_: made.append(FakeClient(target)) or made[-1]
    )
    return made


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main.main(argv)
    return exited.value.code


@pytest.mark.parametrize(
    ("argv", "call", "output"),
    [
        (["break", "set", "job-1", "loss.a > 3", "--every", "2"],
         ("set_breakpoint", ("job-1", "loss.a > 3"),
          {"action": "pause", "snapshot_selectors": [], "max_hits": 0, "every_n_steps": 2}),
         "bp-3"),
        (["break", "rm", "job-1", "bp-1"], ("delete_breakpoint", ("job-1", "bp-1"), {}),
         "bp-1 removed"),
        (["pause", "job-1"], ("pause", ("job-1",), {}), "job-1 PAUSED at step 17"),
        (["resume", "job-1", "--skip-step"], ("resume", ("job-1",), {"skip_optimizer_step": True}),
         "job-1 resumed at step 17 (optimizer step skipped)"),
        (["step", "job-1", "3"], ("step", ("job-1", 3), {"skip_optimizer_step": False}),
         "job-1 PAUSED at step 20"),
        (["lr", "job-1", "5e-4"], ("set_learning_rate", ("job-1", 5e-4), {}),
         "learning rate 0.001 -> 0.0005 from step 18"),
        (["fork", "job-1", "--weight", "a=2"],
         ("fork", ("job-1",), {"name": "", "loss_weights": {"a": 2.0}, "learning_rate": 0.0,
                               "strategy": ""}),
         "job-2"),
    ],
)  # fmt: skip
def test_debug_commands_call_the_client_and_print_the_answer(
    fake_client, capsys, argv, call, output
):
    assert run(argv) == 0
    assert fake_client[0].calls == [call]
    assert capsys.readouterr().out.strip() == output


def test_break_list_prints_a_breakpoint_table(fake_client, capsys):
    assert run(["break", "list", "job-1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "ACTION", "HITS", "MAX", "EVERY", "CONDITION", "SELECT"]
    assert lines[1].split() == ["bp-1", "pause", "2", "5", "1", "loss.a", ">", "3", "-"]


def test_weights_prints_old_and_new_weights(fake_client, capsys):
    assert run(["weights", "job-1", "a=0.5"]) == 0
    assert fake_client[0].calls == [("adjust_loss_weights", ("job-1", {"a": 0.5}), {})]
    assert capsys.readouterr().out.splitlines() == [
        "TASK  OLD  NEW",
        "a       1  0.5",
        "from step 18",
    ]


def test_snapshot_with_output_takes_data_and_writes_the_file(fake_client, capsys, tmp_path):
    path = tmp_path / "w.safetensors"
    assert run(["snapshot", "job-1", "param:*", "-o", str(path)]) == 0
    assert fake_client[0].calls == [
        ("snapshot", ("job-1", ["param:*"]), {"include_data": True, "rank": 0})
    ]
    assert load_tensors(path)["param:w"].tolist() == [1, 2]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "step 3"
    assert out[2].split()[:3] == ["param:w", "int64", "2"]
    assert out[-2:] == ["16 bytes of data", f"wrote {path}"]


def test_profile_writes_the_trace_and_prints_the_top_ops(fake_client, capsys, tmp_path):
    path = tmp_path / "trace.json"
    assert run(["profile", "job-1", "--steps", "2", "-o", str(path), "--record-shapes"]) == 0
    assert fake_client[0].calls[0][2]["record_shapes"] is True
    assert path.read_bytes() == b'{"traceEvents": []}'
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "steps 18-19, 19 trace bytes"
    assert out[2].split() == ["aten::mm", "4", "12.500", "0.000", "0.000"]


def test_stats_prints_the_task_table_and_the_cosine_matrix(fake_client, capsys):
    assert run(["stats", "job-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("step 120, PAUSED, gradients on the representation\n")
    assert debug_render.task_table(task_stats_response()) in out
    assert "-0.412!" in out and "\x1b[" not in out


def test_a_failed_rpc_exits_with_its_status_code(fake_client, capsys, monkeypatch):
    monkeypatch.setitem(REPLIES, "pause", ClientError(grpc.StatusCode.NOT_FOUND, "no job-9", []))
    assert run(["pause", "job-9"]) == 3
    assert "NOT_FOUND: no job-9" in capsys.readouterr().err
