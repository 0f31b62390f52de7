import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mtl.v1 import debug_types_pb2 as _debug_types_pb2
from mtl.v1 import spec_pb2 as _spec_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_STARTING: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_PAUSED: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_STARTING: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_PAUSED: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class Job(_message.Message):
    __slots__ = ("id", "spec", "state", "message", "step", "attempt", "worker_id", "create_time", "start_time", "end_time", "task_losses", "task_weights", "environment", "spec_sha256", "breakpoints", "num_breakpoints_set", "pause_time", "pause", "paused_seconds", "fork_origin", "rank_worker_ids")
    class TaskLossesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class TaskWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TASK_LOSSES_FIELD_NUMBER: _ClassVar[int]
    TASK_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    SPEC_SHA256_FIELD_NUMBER: _ClassVar[int]
    BREAKPOINTS_FIELD_NUMBER: _ClassVar[int]
    NUM_BREAKPOINTS_SET_FIELD_NUMBER: _ClassVar[int]
    PAUSE_TIME_FIELD_NUMBER: _ClassVar[int]
    PAUSE_FIELD_NUMBER: _ClassVar[int]
    PAUSED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FORK_ORIGIN_FIELD_NUMBER: _ClassVar[int]
    RANK_WORKER_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: _spec_pb2.JobSpec
    state: JobState
    message: str
    step: int
    attempt: int
    worker_id: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    task_losses: _containers.ScalarMap[str, float]
    task_weights: _containers.ScalarMap[str, float]
    environment: JobEnvironment
    spec_sha256: str
    breakpoints: _containers.RepeatedCompositeFieldContainer[_debug_types_pb2.Breakpoint]
    num_breakpoints_set: int
    pause_time: _timestamp_pb2.Timestamp
    pause: _debug_types_pb2.Paused
    paused_seconds: float
    fork_origin: ForkOrigin
    rank_worker_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[_spec_pb2.JobSpec, _Mapping]] = ..., state: _Optional[_Union[JobState, str]] = ..., message: _Optional[str] = ..., step: _Optional[int] = ..., attempt: _Optional[int] = ..., worker_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., task_losses: _Optional[_Mapping[str, float]] = ..., task_weights: _Optional[_Mapping[str, float]] = ..., environment: _Optional[_Union[JobEnvironment, _Mapping]] = ..., spec_sha256: _Optional[str] = ..., breakpoints: _Optional[_Iterable[_Union[_debug_types_pb2.Breakpoint, _Mapping]]] = ..., num_breakpoints_set: _Optional[int] = ..., pause_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pause: _Optional[_Union[_debug_types_pb2.Paused, _Mapping]] = ..., paused_seconds: _Optional[float] = ..., fork_origin: _Optional[_Union[ForkOrigin, _Mapping]] = ..., rank_worker_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ForkOrigin(_message.Message):
    __slots__ = ("parent_job_id", "step", "checkpoint_path")
    PARENT_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_PATH_FIELD_NUMBER: _ClassVar[int]
    parent_job_id: str
    step: int
    checkpoint_path: str
    def __init__(self, parent_job_id: _Optional[str] = ..., step: _Optional[int] = ..., checkpoint_path: _Optional[str] = ...) -> None: ...

class JobEnvironment(_message.Message):
    __slots__ = ("python_version", "torch_version", "cuda_version", "device", "hostname", "worker_id", "platform", "num_threads")
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    TORCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    CUDA_VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    NUM_THREADS_FIELD_NUMBER: _ClassVar[int]
    python_version: str
    torch_version: str
    cuda_version: str
    device: str
    hostname: str
    worker_id: str
    platform: str
    num_threads: int
    def __init__(self, python_version: _Optional[str] = ..., torch_version: _Optional[str] = ..., cuda_version: _Optional[str] = ..., device: _Optional[str] = ..., hostname: _Optional[str] = ..., worker_id: _Optional[str] = ..., platform: _Optional[str] = ..., num_threads: _Optional[int] = ...) -> None: ...

class StepMetrics(_message.Message):
    __slots__ = ("step", "task_losses", "task_weights", "total_loss", "duration_seconds", "num_samples", "learning_rate", "task_grad_norms", "grad_cosines", "validation_metrics", "debug_seconds")
    class TaskLossesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class TaskWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class TaskGradNormsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ValidationMetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STEP_FIELD_NUMBER: _ClassVar[int]
    TASK_LOSSES_FIELD_NUMBER: _ClassVar[int]
    TASK_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LOSS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    TASK_GRAD_NORMS_FIELD_NUMBER: _ClassVar[int]
    GRAD_COSINES_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_METRICS_FIELD_NUMBER: _ClassVar[int]
    DEBUG_SECONDS_FIELD_NUMBER: _ClassVar[int]
    step: int
    task_losses: _containers.ScalarMap[str, float]
    task_weights: _containers.ScalarMap[str, float]
    total_loss: float
    duration_seconds: float
    num_samples: int
    learning_rate: float
    task_grad_norms: _containers.ScalarMap[str, float]
    grad_cosines: _containers.RepeatedCompositeFieldContainer[TaskPairCosine]
    validation_metrics: _containers.ScalarMap[str, float]
    debug_seconds: float
    def __init__(self, step: _Optional[int] = ..., task_losses: _Optional[_Mapping[str, float]] = ..., task_weights: _Optional[_Mapping[str, float]] = ..., total_loss: _Optional[float] = ..., duration_seconds: _Optional[float] = ..., num_samples: _Optional[int] = ..., learning_rate: _Optional[float] = ..., task_grad_norms: _Optional[_Mapping[str, float]] = ..., grad_cosines: _Optional[_Iterable[_Union[TaskPairCosine, _Mapping]]] = ..., validation_metrics: _Optional[_Mapping[str, float]] = ..., debug_seconds: _Optional[float] = ...) -> None: ...

class TaskPairCosine(_message.Message):
    __slots__ = ("task_a", "task_b", "cosine")
    TASK_A_FIELD_NUMBER: _ClassVar[int]
    TASK_B_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    task_a: str
    task_b: str
    cosine: float
    def __init__(self, task_a: _Optional[str] = ..., task_b: _Optional[str] = ..., cosine: _Optional[float] = ...) -> None: ...

class StateChange(_message.Message):
    __slots__ = ("from_state", "to_state", "reason", "attempt")
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    from_state: JobState
    to_state: JobState
    reason: str
    attempt: int
    def __init__(self, from_state: _Optional[_Union[JobState, str]] = ..., to_state: _Optional[_Union[JobState, str]] = ..., reason: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class StepReport(_message.Message):
    __slots__ = ("steps",)
    STEPS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[StepMetrics]
    def __init__(self, steps: _Optional[_Iterable[_Union[StepMetrics, _Mapping]]] = ...) -> None: ...

class CheckpointSaved(_message.Message):
    __slots__ = ("step", "path", "size_bytes", "duration_seconds")
    STEP_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    step: int
    path: str
    size_bytes: int
    duration_seconds: float
    def __init__(self, step: _Optional[int] = ..., path: _Optional[str] = ..., size_bytes: _Optional[int] = ..., duration_seconds: _Optional[float] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job_id", "sequence", "time", "state_change", "step_report", "checkpoint_saved", "breakpoint_hit", "paused", "resumed", "setting_changed", "debug_error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_CHANGE_FIELD_NUMBER: _ClassVar[int]
    STEP_REPORT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SAVED_FIELD_NUMBER: _ClassVar[int]
    BREAKPOINT_HIT_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    SETTING_CHANGED_FIELD_NUMBER: _ClassVar[int]
    DEBUG_ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    sequence: int
    time: _timestamp_pb2.Timestamp
    state_change: StateChange
    step_report: StepReport
    checkpoint_saved: CheckpointSaved
    breakpoint_hit: _debug_types_pb2.BreakpointHit
    paused: _debug_types_pb2.Paused
    resumed: _debug_types_pb2.Resumed
    setting_changed: _debug_types_pb2.SettingChanged
    debug_error: _debug_types_pb2.DebugError
    def __init__(self, job_id: _Optional[str] = ..., sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state_change: _Optional[_Union[StateChange, _Mapping]] = ..., step_report: _Optional[_Union[StepReport, _Mapping]] = ..., checkpoint_saved: _Optional[_Union[CheckpointSaved, _Mapping]] = ..., breakpoint_hit: _Optional[_Union[_debug_types_pb2.BreakpointHit, _Mapping]] = ..., paused: _Optional[_Union[_debug_types_pb2.Paused, _Mapping]] = ..., resumed: _Optional[_Union[_debug_types_pb2.Resumed, _Mapping]] = ..., setting_changed: _Optional[_Union[_debug_types_pb2.SettingChanged, _Mapping]] = ..., debug_error: _Optional[_Union[_debug_types_pb2.DebugError, _Mapping]] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("spec", "spec_text")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    SPEC_TEXT_FIELD_NUMBER: _ClassVar[int]
    spec: _spec_pb2.JobSpec
    spec_text: str
    def __init__(self, spec: _Optional[_Union[_spec_pb2.JobSpec, _Mapping]] = ..., spec_text: _Optional[str] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "states")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    states: _containers.RepeatedScalarFieldContainer[JobState]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., states: _Optional[_Iterable[_Union[JobState, str]]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "after_sequence")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    after_sequence: int
    def __init__(self, job_id: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: JobEvent
    def __init__(self, event: _Optional[_Union[JobEvent, _Mapping]] = ...) -> None: ...

class ForkJobRequest(_message.Message):
    __slots__ = ("job_id", "name", "loss_weights", "learning_rate", "weighting")
    class LossWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOSS_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTING_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    loss_weights: _containers.ScalarMap[str, float]
    learning_rate: float
    weighting: _spec_pb2.WeightingConfig
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., loss_weights: _Optional[_Mapping[str, float]] = ..., learning_rate: _Optional[float] = ..., weighting: _Optional[_Union[_spec_pb2.WeightingConfig, _Mapping]] = ...) -> None: ...

class ForkJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...
