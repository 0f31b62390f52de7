from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BreakpointAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BREAKPOINT_ACTION_UNSPECIFIED: _ClassVar[BreakpointAction]
    BREAKPOINT_ACTION_PAUSE: _ClassVar[BreakpointAction]
    BREAKPOINT_ACTION_SNAPSHOT: _ClassVar[BreakpointAction]
    BREAKPOINT_ACTION_LOG: _ClassVar[BreakpointAction]

class PauseReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAUSE_REASON_UNSPECIFIED: _ClassVar[PauseReason]
    PAUSE_REASON_USER: _ClassVar[PauseReason]
    PAUSE_REASON_BREAKPOINT: _ClassVar[PauseReason]
    PAUSE_REASON_NAN_GUARD: _ClassVar[PauseReason]
    PAUSE_REASON_STEP: _ClassVar[PauseReason]
BREAKPOINT_ACTION_UNSPECIFIED: BreakpointAction
BREAKPOINT_ACTION_PAUSE: BreakpointAction
BREAKPOINT_ACTION_SNAPSHOT: BreakpointAction
BREAKPOINT_ACTION_LOG: BreakpointAction
PAUSE_REASON_UNSPECIFIED: PauseReason
PAUSE_REASON_USER: PauseReason
PAUSE_REASON_BREAKPOINT: PauseReason
PAUSE_REASON_NAN_GUARD: PauseReason
PAUSE_REASON_STEP: PauseReason

class Breakpoint(_message.Message):
    __slots__ = ("id", "condition", "action", "snapshot_selectors", "max_hits", "every_n_steps", "hit_count")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_SELECTORS_FIELD_NUMBER: _ClassVar[int]
    MAX_HITS_FIELD_NUMBER: _ClassVar[int]
    EVERY_N_STEPS_FIELD_NUMBER: _ClassVar[int]
    HIT_COUNT_FIELD_NUMBER: _ClassVar[int]
    id: str
    condition: str
    action: BreakpointAction
    snapshot_selectors: _containers.RepeatedScalarFieldContainer[str]
    max_hits: int
    every_n_steps: int
    hit_count: int
    def __init__(self, id: _Optional[str] = ..., condition: _Optional[str] = ..., action: _Optional[_Union[BreakpointAction, str]] = ..., snapshot_selectors: _Optional[_Iterable[str]] = ..., max_hits: _Optional[int] = ..., every_n_steps: _Optional[int] = ..., hit_count: _Optional[int] = ...) -> None: ...

class BreakpointHit(_message.Message):
    __slots__ = ("breakpoint_id", "condition", "step", "action", "values", "tensors")
    class ValuesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    BREAKPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    breakpoint_id: str
    condition: str
    step: int
    action: BreakpointAction
    values: _containers.ScalarMap[str, float]
    tensors: _containers.RepeatedCompositeFieldContainer[TensorInfo]
    def __init__(self, breakpoint_id: _Optional[str] = ..., condition: _Optional[str] = ..., step: _Optional[int] = ..., action: _Optional[_Union[BreakpointAction, str]] = ..., values: _Optional[_Mapping[str, float]] = ..., tensors: _Optional[_Iterable[_Union[TensorInfo, _Mapping]]] = ...) -> None: ...

class Paused(_message.Message):
    __slots__ = ("step", "reason", "detail", "task", "tensor", "paused_by")
    STEP_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    PAUSED_BY_FIELD_NUMBER: _ClassVar[int]
    step: int
    reason: PauseReason
    detail: str
    task: str
    tensor: str
    paused_by: Caller
    def __init__(self, step: _Optional[int] = ..., reason: _Optional[_Union[PauseReason, str]] = ..., detail: _Optional[str] = ..., task: _Optional[str] = ..., tensor: _Optional[str] = ..., paused_by: _Optional[_Union[Caller, _Mapping]] = ...) -> None: ...

class Resumed(_message.Message):
    __slots__ = ("step", "skipped_optimizer_step", "num_steps", "resumed_by")
    STEP_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_OPTIMIZER_STEP_FIELD_NUMBER: _ClassVar[int]
    NUM_STEPS_FIELD_NUMBER: _ClassVar[int]
    RESUMED_BY_FIELD_NUMBER: _ClassVar[int]
    step: int
    skipped_optimizer_step: bool
    num_steps: int
    resumed_by: Caller
    def __init__(self, step: _Optional[int] = ..., skipped_optimizer_step: _Optional[bool] = ..., num_steps: _Optional[int] = ..., resumed_by: _Optional[_Union[Caller, _Mapping]] = ...) -> None: ...

class Caller(_message.Message):
    __slots__ = ("role", "identity")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    role: str
    identity: str
    def __init__(self, role: _Optional[str] = ..., identity: _Optional[str] = ...) -> None: ...

class SettingChanged(_message.Message):
    __slots__ = ("name", "old_value", "new_value", "effective_step", "changed_by", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OLD_VALUE_FIELD_NUMBER: _ClassVar[int]
    NEW_VALUE_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_STEP_FIELD_NUMBER: _ClassVar[int]
    CHANGED_BY_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    old_value: float
    new_value: float
    effective_step: int
    changed_by: Caller
    detail: str
    def __init__(self, name: _Optional[str] = ..., old_value: _Optional[float] = ..., new_value: _Optional[float] = ..., effective_step: _Optional[int] = ..., changed_by: _Optional[_Union[Caller, _Mapping]] = ..., detail: _Optional[str] = ...) -> None: ...

class DebugError(_message.Message):
    __slots__ = ("feature", "message", "step")
    FEATURE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    feature: str
    message: str
    step: int
    def __init__(self, feature: _Optional[str] = ..., message: _Optional[str] = ..., step: _Optional[int] = ...) -> None: ...

class TensorStats(_message.Message):
    __slots__ = ("min", "max", "mean", "std", "l2_norm", "nan_count", "inf_count", "zero_fraction")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    L2_NORM_FIELD_NUMBER: _ClassVar[int]
    NAN_COUNT_FIELD_NUMBER: _ClassVar[int]
    INF_COUNT_FIELD_NUMBER: _ClassVar[int]
    ZERO_FRACTION_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    mean: float
    std: float
    l2_norm: float
    nan_count: int
    inf_count: int
    zero_fraction: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., l2_norm: _Optional[float] = ..., nan_count: _Optional[int] = ..., inf_count: _Optional[int] = ..., zero_fraction: _Optional[float] = ...) -> None: ...

class TensorInfo(_message.Message):
    __slots__ = ("name", "dtype", "shape", "stats", "num_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    NUM_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    stats: TensorStats
    num_bytes: int
    def __init__(self, name: _Optional[str] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., stats: _Optional[_Union[TensorStats, _Mapping]] = ..., num_bytes: _Optional[int] = ...) -> None: ...

class TensorChunk(_message.Message):
    __slots__ = ("name", "offset", "data")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    name: str
    offset: int
    data: bytes
    def __init__(self, name: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...
