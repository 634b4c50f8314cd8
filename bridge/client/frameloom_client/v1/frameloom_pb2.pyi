from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FrameEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_ENCODING_UNSPECIFIED: _ClassVar[FrameEncoding]
    FRAME_ENCODING_RAW: _ClassVar[FrameEncoding]
    FRAME_ENCODING_PNG: _ClassVar[FrameEncoding]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
FRAME_ENCODING_UNSPECIFIED: FrameEncoding
FRAME_ENCODING_RAW: FrameEncoding
FRAME_ENCODING_PNG: FrameEncoding
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class JobSpec(_message.Message):
    __slots__ = ("name", "input", "output", "frames", "style", "temporal", "keyframes", "output_options", "priority")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_FIELD_NUMBER: _ClassVar[int]
    KEYFRAMES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    input: str
    output: str
    frames: FrameRange
    style: StyleSpec
    temporal: TemporalSpec
    keyframes: _containers.RepeatedCompositeFieldContainer[Keyframe]
    output_options: OutputSpec
    priority: int
    def __init__(self, name: _Optional[str] = ..., input: _Optional[str] = ..., output: _Optional[str] = ..., frames: _Optional[_Union[FrameRange, _Mapping]] = ..., style: _Optional[_Union[StyleSpec, _Mapping]] = ..., temporal: _Optional[_Union[TemporalSpec, _Mapping]] = ..., keyframes: _Optional[_Iterable[_Union[Keyframe, _Mapping]]] = ..., output_options: _Optional[_Union[OutputSpec, _Mapping]] = ..., priority: _Optional[int] = ...) -> None: ...

class FrameRange(_message.Message):
    __slots__ = ("start", "end", "step")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    step: int
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ..., step: _Optional[int] = ...) -> None: ...

class StyleSpec(_message.Message):
    __slots__ = ("kind", "params", "diffusion", "keyframe_images")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    DIFFUSION_FIELD_NUMBER: _ClassVar[int]
    KEYFRAME_IMAGES_FIELD_NUMBER: _ClassVar[int]
    kind: str
    params: _containers.ScalarMap[str, float]
    diffusion: DiffusionSpec
    keyframe_images: _containers.RepeatedCompositeFieldContainer[KeyframeImage]
    def __init__(self, kind: _Optional[str] = ..., params: _Optional[_Mapping[str, float]] = ..., diffusion: _Optional[_Union[DiffusionSpec, _Mapping]] = ..., keyframe_images: _Optional[_Iterable[_Union[KeyframeImage, _Mapping]]] = ...) -> None: ...

class KeyframeImage(_message.Message):
    __slots__ = ("frame", "path", "png")
    FRAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    frame: int
    path: str
    png: bytes
    def __init__(self, frame: _Optional[int] = ..., path: _Optional[str] = ..., png: _Optional[bytes] = ...) -> None: ...

class DiffusionSpec(_message.Message):
    __slots__ = ("model", "controlnets", "loras", "embeddings", "prompt", "negative_prompt", "steps", "strength", "guidance", "seed", "width", "height", "scheduler", "deflicker_steps", "cross_frame", "reference_images", "dtype", "compile", "batch_size", "window", "window_overlap", "allow_pickle", "tokenizer")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTROLNETS_FIELD_NUMBER: _ClassVar[int]
    LORAS_FIELD_NUMBER: _ClassVar[int]
    EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    DEFLICKER_STEPS_FIELD_NUMBER: _ClassVar[int]
    CROSS_FRAME_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_IMAGES_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    COMPILE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WINDOW_OVERLAP_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PICKLE_FIELD_NUMBER: _ClassVar[int]
    TOKENIZER_FIELD_NUMBER: _ClassVar[int]
    model: str
    controlnets: _containers.RepeatedCompositeFieldContainer[ControlNetSpec]
    loras: _containers.RepeatedCompositeFieldContainer[LoraSpec]
    embeddings: _containers.RepeatedScalarFieldContainer[str]
    prompt: str
    negative_prompt: str
    steps: int
    strength: float
    guidance: float
    seed: int
    width: int
    height: int
    scheduler: str
    deflicker_steps: _containers.RepeatedScalarFieldContainer[int]
    cross_frame: CrossFrameSpec
    reference_images: _containers.RepeatedCompositeFieldContainer[KeyframeImage]
    dtype: str
    compile: bool
    batch_size: int
    window: int
    window_overlap: int
    allow_pickle: bool
    tokenizer: str
    def __init__(self, model: _Optional[str] = ..., controlnets: _Optional[_Iterable[_Union[ControlNetSpec, _Mapping]]] = ..., loras: _Optional[_Iterable[_Union[LoraSpec, _Mapping]]] = ..., embeddings: _Optional[_Iterable[str]] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., steps: _Optional[int] = ..., strength: _Optional[float] = ..., guidance: _Optional[float] = ..., seed: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., scheduler: _Optional[str] = ..., deflicker_steps: _Optional[_Iterable[int]] = ..., cross_frame: _Optional[_Union[CrossFrameSpec, _Mapping]] = ..., reference_images: _Optional[_Iterable[_Union[KeyframeImage, _Mapping]]] = ..., dtype: _Optional[str] = ..., compile: _Optional[bool] = ..., batch_size: _Optional[int] = ..., window: _Optional[int] = ..., window_overlap: _Optional[int] = ..., allow_pickle: _Optional[bool] = ..., tokenizer: _Optional[str] = ...) -> None: ...

class ControlNetSpec(_message.Message):
    __slots__ = ("kind", "model", "scale", "annotator", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    ANNOTATOR_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    model: str
    scale: float
    annotator: str
    params: _containers.ScalarMap[str, float]
    def __init__(self, kind: _Optional[str] = ..., model: _Optional[str] = ..., scale: _Optional[float] = ..., annotator: _Optional[str] = ..., params: _Optional[_Mapping[str, float]] = ...) -> None: ...

class LoraSpec(_message.Message):
    __slots__ = ("path", "weight")
    PATH_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    path: str
    weight: float
    def __init__(self, path: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class CrossFrameSpec(_message.Message):
    __slots__ = ("enabled", "first_frame", "previous_frames")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FRAMES_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    first_frame: bool
    previous_frames: int
    def __init__(self, enabled: _Optional[bool] = ..., first_frame: _Optional[bool] = ..., previous_frames: _Optional[int] = ...) -> None: ...

class TemporalSpec(_message.Message):
    __slots__ = ("mode", "window", "guide_weight", "patch_size", "iterations", "seed", "compensate", "batch_size", "guide")
    MODE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    GUIDE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    PATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    COMPENSATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    GUIDE_FIELD_NUMBER: _ClassVar[int]
    mode: str
    window: int
    guide_weight: float
    patch_size: int
    iterations: int
    seed: int
    compensate: bool
    batch_size: int
    guide: str
    def __init__(self, mode: _Optional[str] = ..., window: _Optional[int] = ..., guide_weight: _Optional[float] = ..., patch_size: _Optional[int] = ..., iterations: _Optional[int] = ..., seed: _Optional[int] = ..., compensate: _Optional[bool] = ..., batch_size: _Optional[int] = ..., guide: _Optional[str] = ...) -> None: ...

class Keyframe(_message.Message):
    __slots__ = ("frame", "prompt", "negative_prompt", "strength", "guidance", "seed", "controlnet_scales", "params")
    class ControlnetScalesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    FRAME_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CONTROLNET_SCALES_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    frame: int
    prompt: str
    negative_prompt: str
    strength: float
    guidance: float
    seed: int
    controlnet_scales: _containers.ScalarMap[str, float]
    params: _containers.ScalarMap[str, float]
    def __init__(self, frame: _Optional[int] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., strength: _Optional[float] = ..., guidance: _Optional[float] = ..., seed: _Optional[int] = ..., controlnet_scales: _Optional[_Mapping[str, float]] = ..., params: _Optional[_Mapping[str, float]] = ...) -> None: ...

class OutputSpec(_message.Message):
    __slots__ = ("codec", "crf", "no_audio", "bit_depth", "report")
    CODEC_FIELD_NUMBER: _ClassVar[int]
    CRF_FIELD_NUMBER: _ClassVar[int]
    NO_AUDIO_FIELD_NUMBER: _ClassVar[int]
    BIT_DEPTH_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    codec: str
    crf: int
    no_audio: bool
    bit_depth: int
    report: bool
    def __init__(self, codec: _Optional[str] = ..., crf: _Optional[int] = ..., no_audio: _Optional[bool] = ..., bit_depth: _Optional[int] = ..., report: _Optional[bool] = ...) -> None: ...

class FrameHeader(_message.Message):
    __slots__ = ("width", "height", "channels", "bit_depth", "encoding", "size", "time")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    BIT_DEPTH_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    channels: int
    bit_depth: int
    encoding: FrameEncoding
    size: int
    time: float
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., channels: _Optional[int] = ..., bit_depth: _Optional[int] = ..., encoding: _Optional[_Union[FrameEncoding, str]] = ..., size: _Optional[int] = ..., time: _Optional[float] = ...) -> None: ...

class FrameChunk(_message.Message):
    __slots__ = ("index", "header", "offset", "data")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    index: int
    header: FrameHeader
    offset: int
    data: bytes
    def __init__(self, index: _Optional[int] = ..., header: _Optional[_Union[FrameHeader, _Mapping]] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class StreamStart(_message.Message):
    __slots__ = ("spec", "frame_count", "first_index", "fps_num", "fps_den", "result_encoding", "result_bit_depth", "clip_hash")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    FRAME_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_INDEX_FIELD_NUMBER: _ClassVar[int]
    FPS_NUM_FIELD_NUMBER: _ClassVar[int]
    FPS_DEN_FIELD_NUMBER: _ClassVar[int]
    RESULT_ENCODING_FIELD_NUMBER: _ClassVar[int]
    RESULT_BIT_DEPTH_FIELD_NUMBER: _ClassVar[int]
    CLIP_HASH_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    frame_count: int
    first_index: int
    fps_num: int
    fps_den: int
    result_encoding: FrameEncoding
    result_bit_depth: int
    clip_hash: str
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., frame_count: _Optional[int] = ..., first_index: _Optional[int] = ..., fps_num: _Optional[int] = ..., fps_den: _Optional[int] = ..., result_encoding: _Optional[_Union[FrameEncoding, str]] = ..., result_bit_depth: _Optional[int] = ..., clip_hash: _Optional[str] = ...) -> None: ...

class StylizeRequest(_message.Message):
    __slots__ = ("start", "chunk")
    START_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    start: StreamStart
    chunk: FrameChunk
    def __init__(self, start: _Optional[_Union[StreamStart, _Mapping]] = ..., chunk: _Optional[_Union[FrameChunk, _Mapping]] = ...) -> None: ...

class JobAccepted(_message.Message):
    __slots__ = ("job_id", "cached", "clip_id", "max_in_flight")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    CLIP_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    cached: bool
    clip_id: str
    max_in_flight: int
    def __init__(self, job_id: _Optional[str] = ..., cached: _Optional[bool] = ..., clip_id: _Optional[str] = ..., max_in_flight: _Optional[int] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("state", "queue_position", "done", "total", "stage")
    STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    state: JobState
    queue_position: int
    done: int
    total: int
    stage: str
    def __init__(self, state: _Optional[_Union[JobState, str]] = ..., queue_position: _Optional[int] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., stage: _Optional[str] = ...) -> None: ...

class StylizeResponse(_message.Message):
    __slots__ = ("accepted", "progress", "chunk", "finished")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    accepted: JobAccepted
    progress: Progress
    chunk: FrameChunk
    finished: Job
    def __init__(self, accepted: _Optional[_Union[JobAccepted, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., chunk: _Optional[_Union[FrameChunk, _Mapping]] = ..., finished: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "name", "state", "priority", "queue_position", "done", "total", "stage", "error", "error_code", "created", "started", "ended", "device", "streamed", "spec", "report", "report_error")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    STREAMED_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    REPORT_ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    state: JobState
    priority: int
    queue_position: int
    done: int
    total: int
    stage: str
    error: str
    error_code: str
    created: float
    started: float
    ended: float
    device: str
    streamed: bool
    spec: JobSpec
    report: str
    report_error: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., priority: _Optional[int] = ..., queue_position: _Optional[int] = ..., done: _Optional[int] = ..., total: _Optional[int] = ..., stage: _Optional[str] = ..., error: _Optional[str] = ..., error_code: _Optional[str] = ..., created: _Optional[float] = ..., started: _Optional[float] = ..., ended: _Optional[float] = ..., device: _Optional[str] = ..., streamed: _Optional[bool] = ..., spec: _Optional[_Union[JobSpec, _Mapping]] = ..., report: _Optional[str] = ..., report_error: _Optional[str] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("spec", "request_id")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    request_id: str
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "limit")
    STATES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[JobState]
    limit: int
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class FetchFramesRequest(_message.Message):
    __slots__ = ("job_id", "encoding", "bit_depth")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    BIT_DEPTH_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    encoding: FrameEncoding
    bit_depth: int
    def __init__(self, job_id: _Optional[str] = ..., encoding: _Optional[_Union[FrameEncoding, str]] = ..., bit_depth: _Optional[int] = ...) -> None: ...

class GetCapabilitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Device(_message.Message):
    __slots__ = ("name", "description", "memory_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    memory_bytes: int
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., memory_bytes: _Optional[int] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "kind", "size_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    size_bytes: int
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_width", "max_height", "max_frames", "max_message_bytes", "max_in_flight", "max_queued_jobs", "max_stream_memory_bytes")
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_JOBS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAM_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    max_width: int
    max_height: int
    max_frames: int
    max_message_bytes: int
    max_in_flight: int
    max_queued_jobs: int
    max_stream_memory_bytes: int
    def __init__(self, max_width: _Optional[int] = ..., max_height: _Optional[int] = ..., max_frames: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_in_flight: _Optional[int] = ..., max_queued_jobs: _Optional[int] = ..., max_stream_memory_bytes: _Optional[int] = ...) -> None: ...

class StyleParam(_message.Message):
    __slots__ = ("name", "default_value", "min", "max", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_VALUE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    default_value: float
    min: float
    max: float
    description: str
    def __init__(self, name: _Optional[str] = ..., default_value: _Optional[float] = ..., min: _Optional[float] = ..., max: _Optional[float] = ..., description: _Optional[str] = ...) -> None: ...

class StyleInfo(_message.Message):
    __slots__ = ("kind", "params")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    params: _containers.RepeatedCompositeFieldContainer[StyleParam]
    def __init__(self, kind: _Optional[str] = ..., params: _Optional[_Iterable[_Union[StyleParam, _Mapping]]] = ...) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("engine_version", "protocol", "devices", "styles", "temporal_modes", "models", "limits", "auth_required", "media_roots", "style_info")
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    STYLES_FIELD_NUMBER: _ClassVar[int]
    TEMPORAL_MODES_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    AUTH_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ROOTS_FIELD_NUMBER: _ClassVar[int]
    STYLE_INFO_FIELD_NUMBER: _ClassVar[int]
    engine_version: str
    protocol: str
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    styles: _containers.RepeatedScalarFieldContainer[str]
    temporal_modes: _containers.RepeatedScalarFieldContainer[str]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    limits: Limits
    auth_required: bool
    media_roots: _containers.RepeatedScalarFieldContainer[str]
    style_info: _containers.RepeatedCompositeFieldContainer[StyleInfo]
    def __init__(self, engine_version: _Optional[str] = ..., protocol: _Optional[str] = ..., devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ..., styles: _Optional[_Iterable[str]] = ..., temporal_modes: _Optional[_Iterable[str]] = ..., models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., auth_required: _Optional[bool] = ..., media_roots: _Optional[_Iterable[str]] = ..., style_info: _Optional[_Iterable[_Union[StyleInfo, _Mapping]]] = ...) -> None: ...
