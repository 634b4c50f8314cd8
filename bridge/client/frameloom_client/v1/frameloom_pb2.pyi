from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
    __slots__ = ("model", "controlnets", "loras", "embeddings", "prompt", "negative_prompt", "steps", "strength", "guidance", "seed", "width", "height", "scheduler", "deflicker_steps", "cross_frame", "reference_images", "dtype", "compile", "batch_size", "window", "window_overlap", "allow_pickle")
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
    def __init__(self, model: _Optional[str] = ..., controlnets: _Optional[_Iterable[_Union[ControlNetSpec, _Mapping]]] = ..., loras: _Optional[_Iterable[_Union[LoraSpec, _Mapping]]] = ..., embeddings: _Optional[_Iterable[str]] = ..., prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., steps: _Optional[int] = ..., strength: _Optional[float] = ..., guidance: _Optional[float] = ..., seed: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., scheduler: _Optional[str] = ..., deflicker_steps: _Optional[_Iterable[int]] = ..., cross_frame: _Optional[_Union[CrossFrameSpec, _Mapping]] = ..., reference_images: _Optional[_Iterable[_Union[KeyframeImage, _Mapping]]] = ..., dtype: _Optional[str] = ..., compile: _Optional[bool] = ..., batch_size: _Optional[int] = ..., window: _Optional[int] = ..., window_overlap: _Optional[int] = ..., allow_pickle: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("mode", "window", "guide_weight", "patch_size", "iterations", "seed", "compensate", "batch_size")
    MODE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    GUIDE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    PATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    COMPENSATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    mode: str
    window: int
    guide_weight: float
    patch_size: int
    iterations: int
    seed: int
    compensate: bool
    batch_size: int
    def __init__(self, mode: _Optional[str] = ..., window: _Optional[int] = ..., guide_weight: _Optional[float] = ..., patch_size: _Optional[int] = ..., iterations: _Optional[int] = ..., seed: _Optional[int] = ..., compensate: _Optional[bool] = ..., batch_size: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("codec", "crf", "no_audio", "bit_depth")
    CODEC_FIELD_NUMBER: _ClassVar[int]
    CRF_FIELD_NUMBER: _ClassVar[int]
    NO_AUDIO_FIELD_NUMBER: _ClassVar[int]
    BIT_DEPTH_FIELD_NUMBER: _ClassVar[int]
    codec: str
    crf: int
    no_audio: bool
    bit_depth: int
    def __init__(self, codec: _Optional[str] = ..., crf: _Optional[int] = ..., no_audio: _Optional[bool] = ..., bit_depth: _Optional[int] = ...) -> None: ...
