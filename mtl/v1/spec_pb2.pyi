from mtl.v1 import debug_types_pb2 as _debug_types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobSpec(_message.Message):
    __slots__ = ("name", "problem", "model", "tasks", "loss_weights", "weighting", "optimizer", "steps", "batch_size", "seed", "report_interval", "checkpoint_interval", "device", "breakpoints", "stats_interval", "disable_nan_guard", "eval_interval", "single_task_baselines", "max_attempts", "distributed")
    class LossWeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class SingleTaskBaselinesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    LOSS_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    WEIGHTING_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    REPORT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    BREAKPOINTS_FIELD_NUMBER: _ClassVar[int]
    STATS_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    DISABLE_NAN_GUARD_FIELD_NUMBER: _ClassVar[int]
    EVAL_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SINGLE_TASK_BASELINES_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    problem: ProblemConfig
    model: ModelConfig
    tasks: _containers.RepeatedScalarFieldContainer[str]
    loss_weights: _containers.ScalarMap[str, float]
    weighting: WeightingConfig
    optimizer: OptimizerConfig
    steps: int
    batch_size: int
    seed: int
    report_interval: int
    checkpoint_interval: int
    device: str
    breakpoints: _containers.RepeatedCompositeFieldContainer[_debug_types_pb2.Breakpoint]
    stats_interval: int
    disable_nan_guard: bool
    eval_interval: int
    single_task_baselines: _containers.ScalarMap[str, float]
    max_attempts: int
    distributed: DistributedConfig
    def __init__(self, name: _Optional[str] = ..., problem: _Optional[_Union[ProblemConfig, _Mapping]] = ..., model: _Optional[_Union[ModelConfig, _Mapping]] = ..., tasks: _Optional[_Iterable[str]] = ..., loss_weights: _Optional[_Mapping[str, float]] = ..., weighting: _Optional[_Union[WeightingConfig, _Mapping]] = ..., optimizer: _Optional[_Union[OptimizerConfig, _Mapping]] = ..., steps: _Optional[int] = ..., batch_size: _Optional[int] = ..., seed: _Optional[int] = ..., report_interval: _Optional[int] = ..., checkpoint_interval: _Optional[int] = ..., device: _Optional[str] = ..., breakpoints: _Optional[_Iterable[_Union[_debug_types_pb2.Breakpoint, _Mapping]]] = ..., stats_interval: _Optional[int] = ..., disable_nan_guard: _Optional[bool] = ..., eval_interval: _Optional[int] = ..., single_task_baselines: _Optional[_Mapping[str, float]] = ..., max_attempts: _Optional[int] = ..., distributed: _Optional[_Union[DistributedConfig, _Mapping]] = ...) -> None: ...

class DistributedConfig(_message.Message):
    __slots__ = ("world_size", "backend")
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    world_size: int
    backend: str
    def __init__(self, world_size: _Optional[int] = ..., backend: _Optional[str] = ...) -> None: ...

class ProblemConfig(_message.Message):
    __slots__ = ("name", "entrypoint", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    entrypoint: str
    params: _containers.ScalarMap[str, float]
    def __init__(self, name: _Optional[str] = ..., entrypoint: _Optional[str] = ..., params: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ModelConfig(_message.Message):
    __slots__ = ("architecture", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    architecture: str
    params: _containers.ScalarMap[str, float]
    def __init__(self, architecture: _Optional[str] = ..., params: _Optional[_Mapping[str, float]] = ...) -> None: ...

class WeightingConfig(_message.Message):
    __slots__ = ("strategy", "params", "gradient_source")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    GRADIENT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    strategy: str
    params: _containers.ScalarMap[str, float]
    gradient_source: str
    def __init__(self, strategy: _Optional[str] = ..., params: _Optional[_Mapping[str, float]] = ..., gradient_source: _Optional[str] = ...) -> None: ...

class OptimizerConfig(_message.Message):
    __slots__ = ("name", "learning_rate", "momentum", "weight_decay")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    name: str
    learning_rate: float
    momentum: float
    weight_decay: float
    def __init__(self, name: _Optional[str] = ..., learning_rate: _Optional[float] = ..., momentum: _Optional[float] = ..., weight_decay: _Optional[float] = ...) -> None: ...
