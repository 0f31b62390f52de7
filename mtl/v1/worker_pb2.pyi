from mtl.v1 import job_pb2 as _job_pb2
from mtl.v1 import spec_pb2 as _spec_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerMessage(_message.Message):
    __slots__ = ("register", "heartbeat", "job_started", "step_report", "checkpoint_saved", "job_finished")
    REGISTER_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    JOB_STARTED_FIELD_NUMBER: _ClassVar[int]
    STEP_REPORT_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_SAVED_FIELD_NUMBER: _ClassVar[int]
    JOB_FINISHED_FIELD_NUMBER: _ClassVar[int]
    register: RegisterWorker
    heartbeat: Heartbeat
    job_started: JobStarted
    step_report: JobStepReport
    checkpoint_saved: JobCheckpointSaved
    job_finished: JobFinished
    def __init__(self, register: _Optional[_Union[RegisterWorker, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., job_started: _Optional[_Union[JobStarted, _Mapping]] = ..., step_report: _Optional[_Union[JobStepReport, _Mapping]] = ..., checkpoint_saved: _Optional[_Union[JobCheckpointSaved, _Mapping]] = ..., job_finished: _Optional[_Union[JobFinished, _Mapping]] = ...) -> None: ...

class ServiceMessage(_message.Message):
    __slots__ = ("registered", "assign_job", "stop_job", "shutdown")
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_JOB_FIELD_NUMBER: _ClassVar[int]
    STOP_JOB_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_FIELD_NUMBER: _ClassVar[int]
    registered: WorkerRegistered
    assign_job: AssignJob
    stop_job: StopJob
    shutdown: ShutdownWorker
    def __init__(self, registered: _Optional[_Union[WorkerRegistered, _Mapping]] = ..., assign_job: _Optional[_Union[AssignJob, _Mapping]] = ..., stop_job: _Optional[_Union[StopJob, _Mapping]] = ..., shutdown: _Optional[_Union[ShutdownWorker, _Mapping]] = ...) -> None: ...

class RegisterWorker(_message.Message):
    __slots__ = ("worker_id", "hostname", "device", "device_name", "running_job_id")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    hostname: str
    device: str
    device_name: str
    running_job_id: str
    def __init__(self, worker_id: _Optional[str] = ..., hostname: _Optional[str] = ..., device: _Optional[str] = ..., device_name: _Optional[str] = ..., running_job_id: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

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
    __slots__ = ("job_id", "state", "message", "final_step")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FINAL_STEP_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    state: _job_pb2.JobState
    message: str
    final_step: int
    def __init__(self, job_id: _Optional[str] = ..., state: _Optional[_Union[_job_pb2.JobState, str]] = ..., message: _Optional[str] = ..., final_step: _Optional[int] = ...) -> None: ...

class WorkerRegistered(_message.Message):
    __slots__ = ("heartbeat_interval_seconds",)
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_seconds: float
    def __init__(self, heartbeat_interval_seconds: _Optional[float] = ...) -> None: ...

class AssignJob(_message.Message):
    __slots__ = ("job_id", "spec", "attempt", "resume_checkpoint_path")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RESUME_CHECKPOINT_PATH_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    spec: _spec_pb2.JobSpec
    attempt: int
    resume_checkpoint_path: str
    def __init__(self, job_id: _Optional[str] = ..., spec: _Optional[_Union[_spec_pb2.JobSpec, _Mapping]] = ..., attempt: _Optional[int] = ..., resume_checkpoint_path: _Optional[str] = ...) -> None: ...

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
