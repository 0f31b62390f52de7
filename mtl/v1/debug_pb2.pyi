from mtl.v1 import debug_types_pb2 as _debug_types_pb2
from mtl.v1 import job_pb2 as _job_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SetBreakpointRequest(_message.Message):
    __slots__ = ("job_id", "breakpoint")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    BREAKPOINT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    breakpoint: _debug_types_pb2.Breakpoint
    def __init__(self, job_id: _Optional[str] = ..., breakpoint: _Optional[_Union[_debug_types_pb2.Breakpoint, _Mapping]] = ...) -> None: ...

class SetBreakpointResponse(_message.Message):
    __slots__ = ("breakpoint",)
    BREAKPOINT_FIELD_NUMBER: _ClassVar[int]
    breakpoint: _debug_types_pb2.Breakpoint
    def __init__(self, breakpoint: _Optional[_Union[_debug_types_pb2.Breakpoint, _Mapping]] = ...) -> None: ...

class ListBreakpointsRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListBreakpointsResponse(_message.Message):
    __slots__ = ("breakpoints",)
    BREAKPOINTS_FIELD_NUMBER: _ClassVar[int]
    breakpoints: _containers.RepeatedCompositeFieldContainer[_debug_types_pb2.Breakpoint]
    def __init__(self, breakpoints: _Optional[_Iterable[_Union[_debug_types_pb2.Breakpoint, _Mapping]]] = ...) -> None: ...

class DeleteBreakpointRequest(_message.Message):
    __slots__ = ("job_id", "breakpoint_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    BREAKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    breakpoint_id: str
    def __init__(self, job_id: _Optional[str] = ..., breakpoint_id: _Optional[str] = ...) -> None: ...

class DeleteBreakpointResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PauseJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class PauseJobResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: int
    def __init__(self, step: _Optional[int] = ...) -> None: ...

class ResumeJobRequest(_message.Message):
    __slots__ = ("job_id", "skip_optimizer_step")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SKIP_OPTIMIZER_STEP_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    skip_optimizer_step: bool
    def __init__(self, job_id: _Optional[str] = ..., skip_optimizer_step: _Optional[bool] = ...) -> None: ...

class ResumeJobResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: int
    def __init__(self, step: _Optional[int] = ...) -> None: ...

class StepJobRequest(_message.Message):
    __slots__ = ("job_id", "num_steps", "skip_optimizer_step")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_STEPS_FIELD_NUMBER: _ClassVar[int]
    SKIP_OPTIMIZER_STEP_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    num_steps: int
    skip_optimizer_step: bool
    def __init__(self, job_id: _Optional[str] = ..., num_steps: _Optional[int] = ..., skip_optimizer_step: _Optional[bool] = ...) -> None: ...

class StepJobResponse(_message.Message):
    __slots__ = ("step",)
    STEP_FIELD_NUMBER: _ClassVar[int]
    step: int
    def __init__(self, step: _Optional[int] = ...) -> None: ...

class SnapshotTensorsRequest(_message.Message):
    __slots__ = ("job_id", "selectors", "include_data", "max_bytes", "rank")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SELECTORS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DATA_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    selectors: _containers.RepeatedScalarFieldContainer[str]
    include_data: bool
    max_bytes: int
    rank: int
    def __init__(self, job_id: _Optional[str] = ..., selectors: _Optional[_Iterable[str]] = ..., include_data: _Optional[bool] = ..., max_bytes: _Optional[int] = ..., rank: _Optional[int] = ...) -> None: ...

class SnapshotTensorsResponse(_message.Message):
    __slots__ = ("step", "tensor", "chunk")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    step: int
    tensor: _debug_types_pb2.TensorInfo
    chunk: _debug_types_pb2.TensorChunk
    def __init__(self, step: _Optional[int] = ..., tensor: _Optional[_Union[_debug_types_pb2.TensorInfo, _Mapping]] = ..., chunk: _Optional[_Union[_debug_types_pb2.TensorChunk, _Mapping]] = ...) -> None: ...

class AdjustLossWeightsRequest(_message.Message):
    __slots__ = ("job_id", "weights")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    weights: _containers.ScalarMap[str, float]
    def __init__(self, job_id: _Optional[str] = ..., weights: _Optional[_Mapping[str, float]] = ...) -> None: ...

class AdjustLossWeightsResponse(_message.Message):
    __slots__ = ("old_weights", "new_weights", "effective_step")
    class OldWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class NewWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    OLD_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    NEW_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_STEP_FIELD_NUMBER: _ClassVar[int]
    old_weights: _containers.ScalarMap[str, float]
    new_weights: _containers.ScalarMap[str, float]
    effective_step: int
    def __init__(self, old_weights: _Optional[_Mapping[str, float]] = ..., new_weights: _Optional[_Mapping[str, float]] = ..., effective_step: _Optional[int] = ...) -> None: ...

class SetLearningRateRequest(_message.Message):
    __slots__ = ("job_id", "learning_rate")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    learning_rate: float
    def __init__(self, job_id: _Optional[str] = ..., learning_rate: _Optional[float] = ...) -> None: ...

class SetLearningRateResponse(_message.Message):
    __slots__ = ("old_learning_rate", "new_learning_rate", "effective_step")
    OLD_LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    NEW_LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_STEP_FIELD_NUMBER: _ClassVar[int]
    old_learning_rate: float
    new_learning_rate: float
    effective_step: int
    def __init__(self, old_learning_rate: _Optional[float] = ..., new_learning_rate: _Optional[float] = ..., effective_step: _Optional[int] = ...) -> None: ...

class CaptureProfileRequest(_message.Message):
    __slots__ = ("job_id", "num_steps", "record_shapes", "profile_memory", "with_stack")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_STEPS_FIELD_NUMBER: _ClassVar[int]
    RECORD_SHAPES_FIELD_NUMBER: _ClassVar[int]
    PROFILE_MEMORY_FIELD_NUMBER: _ClassVar[int]
    WITH_STACK_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    num_steps: int
    record_shapes: bool
    profile_memory: bool
    with_stack: bool
    def __init__(self, job_id: _Optional[str] = ..., num_steps: _Optional[int] = ..., record_shapes: _Optional[bool] = ..., profile_memory: _Optional[bool] = ..., with_stack: _Optional[bool] = ...) -> None: ...

class CaptureProfileResponse(_message.Message):
    __slots__ = ("trace_chunk", "summary")
    TRACE_CHUNK_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    trace_chunk: bytes
    summary: ProfileSummary
    def __init__(self, trace_chunk: _Optional[bytes] = ..., summary: _Optional[_Union[ProfileSummary, _Mapping]] = ...) -> None: ...

class ProfileSummary(_message.Message):
    __slots__ = ("first_step", "last_step", "top_ops", "trace_bytes")
    FIRST_STEP_FIELD_NUMBER: _ClassVar[int]
    LAST_STEP_FIELD_NUMBER: _ClassVar[int]
    TOP_OPS_FIELD_NUMBER: _ClassVar[int]
    TRACE_BYTES_FIELD_NUMBER: _ClassVar[int]
    first_step: int
    last_step: int
    top_ops: _containers.RepeatedCompositeFieldContainer[ProfiledOp]
    trace_bytes: int
    def __init__(self, first_step: _Optional[int] = ..., last_step: _Optional[int] = ..., top_ops: _Optional[_Iterable[_Union[ProfiledOp, _Mapping]]] = ..., trace_bytes: _Optional[int] = ...) -> None: ...

class ProfiledOp(_message.Message):
    __slots__ = ("name", "calls", "self_cpu_seconds", "cpu_seconds", "self_device_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    SELF_CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SELF_DEVICE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    calls: int
    self_cpu_seconds: float
    cpu_seconds: float
    self_device_seconds: float
    def __init__(self, name: _Optional[str] = ..., calls: _Optional[int] = ..., self_cpu_seconds: _Optional[float] = ..., cpu_seconds: _Optional[float] = ..., self_device_seconds: _Optional[float] = ...) -> None: ...

class GetTaskStatsRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class TaskStat(_message.Message):
    __slots__ = ("task", "loss", "smoothed_loss", "weight", "grad_norm")
    TASK_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    SMOOTHED_LOSS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    GRAD_NORM_FIELD_NUMBER: _ClassVar[int]
    task: str
    loss: float
    smoothed_loss: float
    weight: float
    grad_norm: float
    def __init__(self, task: _Optional[str] = ..., loss: _Optional[float] = ..., smoothed_loss: _Optional[float] = ..., weight: _Optional[float] = ..., grad_norm: _Optional[float] = ...) -> None: ...

class GetTaskStatsResponse(_message.Message):
    __slots__ = ("step", "tasks", "grad_cosine", "gradient_source", "state")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    GRAD_COSINE_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    step: int
    tasks: _containers.RepeatedCompositeFieldContainer[TaskStat]
    grad_cosine: _containers.RepeatedScalarFieldContainer[float]
    gradient_source: str
    state: _job_pb2.JobState
    def __init__(self, step: _Optional[int] = ..., tasks: _Optional[_Iterable[_Union[TaskStat, _Mapping]]] = ..., grad_cosine: _Optional[_Iterable[float]] = ..., gradient_source: _Optional[str] = ..., state: _Optional[_Union[_job_pb2.JobState, str]] = ...) -> None: ...
