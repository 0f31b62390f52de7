from mtl.v1 import debug_pb2 as _debug_pb2
from mtl.v1 import debug_types_pb2 as _debug_types_pb2
from mtl.v1 import job_pb2 as _job_pb2
from mtl.v1 import spec_pb2 as _spec_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerMessage(_message.Message):
    __slots__ = ("register", "heartbeat", "job_started", "step_report", "checkpoint_saved", "job_finished", "debug_reply", "job_event", "rendezvous", "draining")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    JOB_STARTED_FIELD_NUMBER: _ClassVar[int]
    STEP_REPORT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SAVED_FIELD_NUMBER: _ClassVar[int]
    JOB_FINISHED_FIELD_NUMBER: _ClassVar[int]
    DEBUG_REPLY_FIELD_NUMBER: _ClassVar[int]
    JOB_EVENT_FIELD_NUMBER: _ClassVar[int]
    RENDEZVOUS_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    register: RegisterWorker
    heartbeat: Heartbeat
    job_started: JobStarted
    step_report: JobStepReport
    checkpoint_saved: JobCheckpointSaved
    job_finished: JobFinished
    debug_reply: DebugReply
    job_event: JobEventReport
    rendezvous: JobRendezvous
    draining: Draining
    def __init__(self, register: _Optional[_Union[RegisterWorker, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., job_started: _Optional[_Union[JobStarted, _Mapping]] = ..., step_report: _Optional[_Union[JobStepReport, _Mapping]] = ..., checkpoint_saved: _Optional[_Union[JobCheckpointSaved, _Mapping]] = ..., job_finished: _Optional[_Union[JobFinished, _Mapping]] = ..., debug_reply: _Optional[_Union[DebugReply, _Mapping]] = ..., job_event: _Optional[_Union[JobEventReport, _Mapping]] = ..., rendezvous: _Optional[_Union[JobRendezvous, _Mapping]] = ..., draining: _Optional[_Union[Draining, _Mapping]] = ...) -> None: ...

class ServiceMessage(_message.Message):
    __slots__ = ("registered", "assign_job", "stop_job", "shutdown", "debug_command", "rendezvous")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_JOB_FIELD_NUMBER: _ClassVar[int]
    STOP_JOB_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_FIELD_NUMBER: _ClassVar[int]
    DEBUG_COMMAND_FIELD_NUMBER: _ClassVar[int]
    RENDEZVOUS_FIELD_NUMBER: _ClassVar[int]
    registered: WorkerRegistered
    assign_job: AssignJob
    stop_job: StopJob
    shutdown: ShutdownWorker
    debug_command: DebugCommand
    rendezvous: JobRendezvous
    def __init__(self, registered: _Optional[_Union[WorkerRegistered, _Mapping]] = ..., assign_job: _Optional[_Union[AssignJob, _Mapping]] = ..., stop_job: _Optional[_Union[StopJob, _Mapping]] = ..., shutdown: _Optional[_Union[ShutdownWorker, _Mapping]] = ..., debug_command: _Optional[_Union[DebugCommand, _Mapping]] = ..., rendezvous: _Optional[_Union[JobRendezvous, _Mapping]] = ...) -> None: ...

class RegisterWorker(_message.Message):
    __slots__ = ("worker_id", "hostname", "device", "device_name", "running_job_id", "draining")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    hostname: str
    device: str
    device_name: str
    running_job_id: str
    draining: bool
    def __init__(self, worker_id: _Optional[str] = ..., hostname: _Optional[str] = ..., device: _Optional[str] = ..., device_name: _Optional[str] = ..., running_job_id: _Optional[str] = ..., draining: _Optional[bool] = ...) -> None: ...

class Draining(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("memory_allocated_bytes", "memory_reserved_bytes")
    MEMORY_ALLOCATED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_RESERVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    memory_allocated_bytes: int
    memory_reserved_bytes: int
    def __init__(self, memory_allocated_bytes: _Optional[int] = ..., memory_reserved_bytes: _Optional[int] = ...) -> None: ...

class JobStarted(_message.Message):
    __slots__ = ("job_id", "environment", "resumed_from_step")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    environment: _job_pb2.JobEnvironment
    resumed_from_step: int
    def __init__(self, job_id: _Optional[str] = ..., environment: _Optional[_Union[_job_pb2.JobEnvironment, _Mapping]] = ..., resumed_from_step: _Optional[int] = ...) -> None: ...

class JobStepReport(_message.Message):
    __slots__ = ("job_id", "steps")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    steps: _containers.RepeatedCompositeFieldContainer[_job_pb2.StepMetrics]
    def __init__(self, job_id: _Optional[str] = ..., steps: _Optional[_Iterable[_Union[_job_pb2.StepMetrics, _Mapping]]] = ...) -> None: ...

class JobCheckpointSaved(_message.Message):
    __slots__ = ("job_id", "checkpoint")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    checkpoint: _job_pb2.CheckpointSaved
    def __init__(self, job_id: _Optional[str] = ..., checkpoint: _Optional[_Union[_job_pb2.CheckpointSaved, _Mapping]] = ...) -> None: ...

class JobFinished(_message.Message):
    __slots__ = ("job_id", "state", "message", "final_step", "rank_lost")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FINAL_STEP_FIELD_NUMBER: _ClassVar[int]
    RANK_LOST_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: _job_pb2.JobState
    message: str
    final_step: int
    rank_lost: bool
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[_job_pb2.JobState, str]] = ..., message: _Optional[str] = ..., final_step: _Optional[int] = ..., rank_lost: _Optional[bool] = ...) -> None: ...

class WorkerRegistered(_message.Message):
    __slots__ = ("heartbeat_interval_seconds",)
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_seconds: float
    def __init__(self, heartbeat_interval_seconds: _Optional[float] = ...) -> None: ...

class AssignJob(_message.Message):
    __slots__ = ("job_id", "spec", "attempt", "resume_checkpoint_path", "breakpoints", "fork_origin", "rank")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RESUME_CHECKPOINT_PATH_FIELD_NUMBER: _ClassVar[int]
    BREAKPOINTS_FIELD_NUMBER: _ClassVar[int]
    FORK_ORIGIN_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    spec: _spec_pb2.JobSpec
    attempt: int
    resume_checkpoint_path: str
    breakpoints: _containers.RepeatedCompositeFieldContainer[_debug_types_pb2.Breakpoint]
    fork_origin: _job_pb2.ForkOrigin
    rank: int
    def __init__(self, job_id: _Optional[str] = ..., spec: _Optional[_Union[_spec_pb2.JobSpec, _Mapping]] = ..., attempt: _Optional[int] = ..., resume_checkpoint_path: _Optional[str] = ..., breakpoints: _Optional[_Iterable[_Union[_debug_types_pb2.Breakpoint, _Mapping]]] = ..., fork_origin: _Optional[_Union[_job_pb2.ForkOrigin, _Mapping]] = ..., rank: _Optional[int] = ...) -> None: ...

class JobRendezvous(_message.Message):
    __slots__ = ("job_id", "attempt", "address")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    attempt: int
    address: str
    def __init__(self, job_id: _Optional[str] = ..., attempt: _Optional[int] = ..., address: _Optional[str] = ...) -> None: ...

class StopJob(_message.Message):
    __slots__ = ("job_id", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ShutdownWorker(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class DebugCommand(_message.Message):
    __slots__ = ("correlation_id", "job_id", "pause", "resume", "step", "snapshot", "adjust_loss_weights", "set_learning_rate", "capture_profile", "task_stats", "set_breakpoint", "delete_breakpoint", "checkpoint", "caller")
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    PAUSE_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    ADJUST_LOSS_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    SET_LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    TASK_STATS_FIELD_NUMBER: _ClassVar[int]
    SET_BREAKPOINT_FIELD_NUMBER: _ClassVar[int]
    DELETE_BREAKPOINT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    correlation_id: str
    job_id: str
    pause: _debug_pb2.PauseJobRequest
    resume: _debug_pb2.ResumeJobRequest
    step: _debug_pb2.StepJobRequest
    snapshot: _debug_pb2.SnapshotTensorsRequest
    adjust_loss_weights: _debug_pb2.AdjustLossWeightsRequest
    set_learning_rate: _debug_pb2.SetLearningRateRequest
    capture_profile: _debug_pb2.CaptureProfileRequest
    task_stats: _debug_pb2.GetTaskStatsRequest
    set_breakpoint: _debug_types_pb2.Breakpoint
    delete_breakpoint: _debug_pb2.DeleteBreakpointRequest
    checkpoint: CheckpointRequest
    caller: _debug_types_pb2.Caller
    def __init__(self, correlation_id: _Optional[str] = ..., job_id: _Optional[str] = ..., pause: _Optional[_Union[_debug_pb2.PauseJobRequest, _Mapping]] = ..., resume: _Optional[_Union[_debug_pb2.ResumeJobRequest, _Mapping]] = ..., step: _Optional[_Union[_debug_pb2.StepJobRequest, _Mapping]] = ..., snapshot: _Optional[_Union[_debug_pb2.SnapshotTensorsRequest, _Mapping]] = ..., adjust_loss_weights: _Optional[_Union[_debug_pb2.AdjustLossWeightsRequest, _Mapping]] = ..., set_learning_rate: _Optional[_Union[_debug_pb2.SetLearningRateRequest, _Mapping]] = ..., capture_profile: _Optional[_Union[_debug_pb2.CaptureProfileRequest, _Mapping]] = ..., task_stats: _Optional[_Union[_debug_pb2.GetTaskStatsRequest, _Mapping]] = ..., set_breakpoint: _Optional[_Union[_debug_types_pb2.Breakpoint, _Mapping]] = ..., delete_breakpoint: _Optional[_Union[_debug_pb2.DeleteBreakpointRequest, _Mapping]] = ..., checkpoint: _Optional[_Union[CheckpointRequest, _Mapping]] = ..., caller: _Optional[_Union[_debug_types_pb2.Caller, _Mapping]] = ...) -> None: ...

class CheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DebugFailure(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class DebugReply(_message.Message):
    __slots__ = ("correlation_id", "more", "failure", "paused", "resumed", "stepped", "snapshot", "loss_weights", "learning_rate", "profile", "task_stats", "done", "checkpoint")
    CORRELATION_ID_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    STEPPED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    LOSS_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TASK_STATS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    correlation_id: str
    more: bool
    failure: DebugFailure
    paused: _debug_pb2.PauseJobResponse
    resumed: _debug_pb2.ResumeJobResponse
    stepped: _debug_pb2.StepJobResponse
    snapshot: _debug_pb2.SnapshotTensorsResponse
    loss_weights: _debug_pb2.AdjustLossWeightsResponse
    learning_rate: _debug_pb2.SetLearningRateResponse
    profile: _debug_pb2.CaptureProfileResponse
    task_stats: _debug_pb2.GetTaskStatsResponse
    done: bool
    checkpoint: _job_pb2.CheckpointSaved
    def __init__(self, correlation_id: _Optional[str] = ..., more: _Optional[bool] = ..., failure: _Optional[_Union[DebugFailure, _Mapping]] = ..., paused: _Optional[_Union[_debug_pb2.PauseJobResponse, _Mapping]] = ..., resumed: _Optional[_Union[_debug_pb2.ResumeJobResponse, _Mapping]] = ..., stepped: _Optional[_Union[_debug_pb2.StepJobResponse, _Mapping]] = ..., snapshot: _Optional[_Union[_debug_pb2.SnapshotTensorsResponse, _Mapping]] = ..., loss_weights: _Optional[_Union[_debug_pb2.AdjustLossWeightsResponse, _Mapping]] = ..., learning_rate: _Optional[_Union[_debug_pb2.SetLearningRateResponse, _Mapping]] = ..., profile: _Optional[_Union[_debug_pb2.CaptureProfileResponse, _Mapping]] = ..., task_stats: _Optional[_Union[_debug_pb2.GetTaskStatsResponse, _Mapping]] = ..., done: _Optional[bool] = ..., checkpoint: _Optional[_Union[_job_pb2.CheckpointSaved, _Mapping]] = ...) -> None: ...

class JobEventReport(_message.Message):
    __slots__ = ("job_id", "event")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    event: _job_pb2.JobEvent
    def __init__(self, job_id: _Optional[str] = ..., event: _Optional[_Union[_job_pb2.JobEvent, _Mapping]] = ...) -> None: ...
