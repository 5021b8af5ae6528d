"""Build a TensorRT engine from an exported padim-edge ONNX model, on the GPU that will run it.

TensorRT 10 Python API: the ONNX parser (every error printed with its node), one optimisation profile
over the batch axis, a workspace limit, an optional timing cache, and the precision: fp32; fp16 with the
Mahalanobis head and post-processing pinned to fp32 (squared distances overflow fp16); or int8 from
calibration on good images, head still fp32. DLA cores (Jetson Orin) with GPU fallback on request.
The engine is written atomically with its JSON record beside it (`contract.engine_record`).

Needs `onnx` (reads the model and checks its digest), `tensorrt` and a CUDA binding; never torch, so it runs
on a Jetson. `trtexec_command` gives the same build as a trtexec command line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import onnx

from padim_edge import __version__
from padim_edge.accel.cuda_binding import CudaBinding, open_binding
from padim_edge.accel.tensorrt import import_tensorrt, this_machine
from padim_edge.contract.engine_record import EngineRecord
from padim_edge.contract.names import FACTOR, HEAD, POST
from padim_edge.engine.record_file import write_record
from padim_edge.errors import UserError
from padim_edge.imaging.geometry import Geometry
from padim_edge.model_file.onnx_io import load_graph
from padim_edge.model_file.read import read_model
from padim_edge.storage.atomic import atomic_write, sha256_file

PRECISIONS = ("fp32", "fp16", "int8")
Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def parse_batch(text: str) -> tuple[int, int, int]:
    """`--batch`: "MIN,OPT,MAX" (e.g. "1,4,8"), or one number N for a fixed batch."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) == 1:
        values = values * 3
    if len(values) != 3 or not 1 <= values[0] <= values[1] <= values[2]:
        raise UserError(f"--batch {text}: expected MIN,OPT,MAX with 1 <= MIN <= OPT <= MAX, e.g. 1,4,8")
    return values[0], values[1], values[2]


@dataclass(frozen=True)
class BuildOptions:
    """Everything `padim-edge build` can set; conflicting settings are a UserError at construction."""

    precision: str = "fp16"
    batch: tuple[int, int, int] = (1, 1, 8)
    workspace_mib: int = 1024
    timing_cache: Path | None = None
    calib_dir: Path | None = None
    calib_cache: Path | None = None
    dla_core: int | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UserError(f"--precision {self.precision}: expected one of {', '.join(PRECISIONS)}")
        low, opt, high = self.batch
        if not 1 <= low <= opt <= high:
            raise UserError(f"--batch {low},{opt},{high}: need 1 <= MIN <= OPT <= MAX")
        if self.workspace_mib < 1:
            raise UserError(f"--workspace {self.workspace_mib}: must be at least 1 MiB")
        if self.precision != "int8" and (self.calib_dir or self.calib_cache):
            raise UserError("--calib and --calib-cache apply to --precision int8 only")
        has_cache = self.calib_cache is not None and self.calib_cache.is_file()
        if self.precision == "int8" and not self.calib_dir and not has_cache:
            raise UserError("--precision int8 needs --calib DIR (good images) or an existing --calib-cache FILE")
        if self.dla_core is not None and self.dla_core < 0:
            raise UserError(f"--dla {self.dla_core}: DLA cores are numbered from 0")
        if self.dla_core is not None and self.precision == "fp32":
            raise UserError("--dla needs --precision fp16 or int8: the DLA has no fp32")

    def warnings(self) -> list[str]:
        """Settings that are allowed but probably not what the user wants."""
        found = []
        if self.dla_core is not None and self.batch[0] != self.batch[2]:
            found.append("--dla with a batch range: the DLA takes fixed shapes, so TensorRT may run it all on the GPU")
        if self.calib_dir and self.calib_cache and self.calib_cache.is_file():
            found.append(f"--calib-cache {self.calib_cache} exists: TensorRT uses it and skips the images")
        return found

    def shapes(self, input_hw: tuple[int, int]) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) input shapes of the profile."""
        return tuple((n, *input_hw, 3) for n in self.batch)


@dataclass(frozen=True)
class OnnxFacts:
    """What the build needs from the ONNX file: I/O, metadata, checksum and the layers kept in fp32."""

    path: Path
    input_name: str
    input_hw: tuple[int, int]
    geometry: Geometry
    metadata: dict
    sha256: str
    head_matmul: str
    fp32_layers: list[str] = field(default_factory=list)


def inspect_onnx(path: Path) -> OnnxFacts:
    """Read a padim-edge ONNX model (its external data inside its folder, its graph digest checked) and check
    it is one."""
    info = read_model(path).info
    model = load_graph(path)  # the structure alone: shape inference cannot take a graph past 2 GB with its tensors
    inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise UserError(f"{path}: expected one input (frames), found {inputs}")
    return OnnxFacts(
        path=path,
        input_name=inputs[0],
        input_hw=info.input_hw,
        geometry=Geometry.of(info.config),
        metadata=info.document(),
        sha256=sha256_file(path),
        head_matmul=head_matmul(model, str(path)).name,
        fp32_layers=fp32_layer_names(model, str(path)),
    )


def head_matmul(model: onnx.ModelProto, source: str = "model") -> onnx.NodeProto:
    """The Mahalanobis head's MatMul, found by structure, not by name alone.

    It is the `/head/` MatMul whose second input is `head.factor_t`, either an initializer (float32
    statistics) or the output of a `/head/` Cast of one (float16 statistics). A renamed or foreign graph
    fails here, loudly, rather than building an engine whose head silently runs in fp16.
    """
    initializers = {t.name for t in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    for node in model.graph.node:
        if node.op_type != "MatMul" or not node.name.startswith(HEAD) or node.input[1] != FACTOR:
            continue
        cast = producer.get(FACTOR)
        if FACTOR in initializers or (
            cast is not None and cast.op_type == "Cast" and cast.name.startswith(HEAD) and cast.input[0] in initializers
        ):
            return node
    raise UserError(
        f"{source}: no Mahalanobis head found (a {HEAD} MatMul consuming the {FACTOR} statistics); "
        "export the model with `padim-edge export`"
    )


def fp32_layer_names(model: onnx.ModelProto, source: str = "model") -> list[str]:
    """ONNX names of everything to keep in fp32: the head and post-processing nodes that compute floats,
    then the float32 initializers they read (TensorRT makes constant layers of them, which an fp16 build
    would otherwise be free to store in fp16; float16 statistics are cast up exactly by their Cast node).

    Shape arithmetic (Shape, Gather on shapes, Concat of int64 ...) is left out: it computes no floats, and
    trtexec sets the precision of a listed layer without checking its type. TensorRT names its layers after
    these ONNX nodes, which is what trtexec's `--layerPrecisions` matches.
    """
    head_matmul(model, source)
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.graph.value_info, *inferred.graph.output]}
    initializer_types = {t.name: t.data_type for t in model.graph.initializer}
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}
    nodes = [
        node
        for node in model.graph.node
        if node.name.startswith((HEAD, POST)) and any(types.get(out) in floats for out in node.output)
    ]
    produced = {out for node in nodes for out in node.output}
    missing = [out.name for out in model.graph.output if out.name not in produced]
    if missing:
        raise UserError(f"{source}: outputs {missing} are not computed by {POST} nodes; export with padim-edge export")
    weights = [name for node in nodes for name in node.input if initializer_types.get(name) == onnx.TensorProto.FLOAT]
    return [node.name for node in nodes] + list(dict.fromkeys(weights))


def trtexec_command(facts: OnnxFacts, engine: Path, options: BuildOptions) -> list[str]:
    """The trtexec (TensorRT 10) command line that builds the same engine as `build_engine`."""
    h, w = facts.input_hw
    low, opt, high = (f"{facts.input_name}:{n}x{h}x{w}x3" for n in options.batch)
    command = [
        "trtexec",
        f"--onnx={facts.path}",
        f"--saveEngine={engine}",
        f"--minShapes={low}",
        f"--optShapes={opt}",
        f"--maxShapes={high}",
        f"--memPoolSize=workspace:{options.workspace_mib}M",
        "--noTF32",
    ]
    if options.precision != "fp32":
        pins = ",".join(f"{name}:fp32" for name in facts.fp32_layers)
        command += ["--fp16", "--precisionConstraints=obey", f"--layerPrecisions={pins}", f"--layerOutputTypes={pins}"]
    if options.precision == "int8":
        if options.calib_cache is None or not options.calib_cache.is_file():
            raise UserError(
                "trtexec cannot calibrate from images: run `padim-edge build --precision int8 --calib DIR "
                "--calib-cache FILE` once, then print the command with that --calib-cache"
            )
        command += ["--int8", f"--calib={options.calib_cache}"]
    if options.timing_cache:
        command.append(f"--timingCacheFile={options.timing_cache}")
    if options.dla_core is not None:
        command += [f"--useDLACore={options.dla_core}", "--allowGPUFallback"]
    return [*command, "--skipInference"]


def _parse(trt: ModuleType, network: Any, logger: Any, path: Path, log: Log) -> Any:
    """Parse the ONNX file into `network`; print every parser error with its node.

    Returns the parser, which the caller keeps until the build is done: it owns the weights' memory.
    """
    parser = trt.OnnxParser(network, logger)
    if parser.parse_from_file(str(path)):  # from the file, so external data beside it is found
        return parser
    errors = []
    for i in range(parser.num_errors):
        error = parser.get_error(i)
        node = error.node_name() or f"#{error.node()}"
        errors.append(f"node {node} ({error.node_operator() or '?'}): {error.desc()}")
    for line in errors:
        log(f"TensorRT ONNX parser: {line}")
    first = errors[0] if errors else "no details"
    raise UserError(f"{path}: TensorRT's ONNX parser rejected it ({len(errors)} error(s); first: {first})")


def _onnx_nodes(layer: Any) -> set[str]:
    """The ONNX nodes a TensorRT layer comes from: its metadata ("[ONNX Layer: name]", TensorRT >= 10),
    which also covers the helper layers the parser adds for one node; else its name."""
    names = re.findall(r"\[ONNX Layer: ([^\]]+)\]", getattr(layer, "metadata", "") or "")
    return set(names) or {layer.name}


def pin_fp32(trt: ModuleType, network: Any, names: list[str], head: str) -> list[str]:
    """Set precision and output types to fp32 on the float layers that come from `names`.

    Returns the pinned TensorRT layer names; raises when the head's MatMul is not among them.
    """
    wanted, floats = set(names), {trt.float32, trt.float16}
    pinned, covered = [], set()
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        nodes = _onnx_nodes(layer) & wanted
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if not nodes or not all(out.dtype in floats for out in outputs):
            continue  # shape arithmetic keeps its integer types
        if layer.num_inputs and layer.get_input(0) is not None and layer.get_input(0).is_shape_tensor:
            continue
        layer.precision = trt.float32
        for j in range(layer.num_outputs):
            layer.set_output_type(j, trt.float32)
        pinned.append(layer.name)
        covered |= nodes
    if head not in covered:
        raise UserError(f"TensorRT's network has no float layer for {head}: cannot keep the head in fp32")
    return pinned


def _set_timing_cache(config: Any, path: Path | None, log: Log) -> None:
    if path is None:
        return
    cache = config.create_timing_cache(path.read_bytes() if path.is_file() else b"")
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        log(f"warning: timing cache {path} was made on another GPU or TensorRT; starting a new one")
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)


def _configure(
    trt: ModuleType, builder: Any, network: Any, facts: OnnxFacts, options: BuildOptions, cuda: CudaBinding, log: Log
) -> tuple[Any, list[str], Any]:
    """The builder config for `options`, the layers pinned to fp32, and the int8 calibrator (or None).

    The caller keeps the calibrator alive until the build is done: TensorRT calls back into it.
    """
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib << 20)
    # TF32 (on by default, Ampere+) rounds fp32 matmuls to a 10-bit mantissa: fp32 must mean fp32, for the
    # pinned head as much as for an fp32 engine. The head is memory-bound: TF32 would not speed it up.
    config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    profile.set_shape(facts.input_name, *options.shapes(facts.input_hw))
    config.add_optimization_profile(profile)
    pinned: list[str] = []
    calibrator = None
    if options.precision != "fp32":
        config.set_flag(trt.BuilderFlag.FP16)  # int8 too: layers without int8 kernels then fall back to fp16
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        pinned = pin_fp32(trt, network, facts.fp32_layers, facts.head_matmul)
    if options.precision == "int8":
        from padim_edge.engine.calibrator import ImageBatcher, entropy_calibrator

        cached = options.calib_cache is not None and options.calib_cache.is_file()
        batcher = None
        if options.calib_dir and not cached:
            batcher = ImageBatcher(options.calib_dir, facts.geometry, options.batch[1])
            log(f"calibrating on {len(batcher) * batcher.batch_size} images from {options.calib_dir}")
        config.set_flag(trt.BuilderFlag.INT8)
        calibrator = entropy_calibrator(trt, batcher, options.calib_cache, cuda)
        config.int8_calibrator = calibrator
        # Calibration runs one fixed shape, the opt batch (as Polygraphy does): a profile of just that shape.
        calibration = builder.create_optimization_profile()
        fixed = options.shapes(facts.input_hw)[1]
        calibration.set_shape(facts.input_name, fixed, fixed, fixed)
        config.set_calibration_profile(calibration)
    if options.dla_core is not None:
        if options.dla_core >= builder.num_DLA_cores:
            raise UserError(f"--dla {options.dla_core}: this device has {builder.num_DLA_cores} DLA core(s)")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = options.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)  # the head (fp32) and unsupported layers go to the GPU
    _set_timing_cache(config, options.timing_cache, log)
    return config, pinned, calibrator


def _record(
    trt: ModuleType,
    cuda: CudaBinding,
    facts: OnnxFacts,
    engine: Path,
    options: BuildOptions,
    built_with: str,
    profile: list[list[int]],
    pinned: list[str],
) -> EngineRecord:
    return EngineRecord(
        machine=this_machine(trt, cuda),
        precision=options.precision,
        input_name=facts.input_name,
        profile=dict(zip(("min", "opt", "max"), profile, strict=True)),
        onnx_path=str(facts.path),
        onnx_sha256=facts.sha256,
        onnx_metadata=facts.metadata,
        engine_bytes=engine.stat().st_size,
        engine_sha256=sha256_file(engine),
        fp32_layers=pinned,
        dla_core=options.dla_core,
        built_with=built_with,
        versions={"padim-edge": __version__, "tensorrt": trt.__version__},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def build_engine(onnx_path: Path, engine: Path, options: BuildOptions, log: Log = _stderr) -> EngineRecord:
    """Build `onnx_path` into `engine` (atomically) and write its record beside it."""
    facts = inspect_onnx(onnx_path)
    for warning in options.warnings():
        log(f"warning: {warning}")
    trt = import_tensorrt()
    cuda = open_binding()
    try:
        with cuda.current():
            logger = trt.Logger(trt.Logger.WARNING)
            builder = trt.Builder(logger)
            network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
            _parser = _parse(trt, network, logger, onnx_path, log)
            config, pinned, _calibrator = _configure(trt, builder, network, facts, options, cuda, log)
            serialized = builder.build_serialized_network(network, config)
            if serialized is None:
                raise UserError(f"{onnx_path}: TensorRT could not build the engine (see its messages above)")
            atomic_write(engine, memoryview(serialized))
            if options.timing_cache:
                atomic_write(options.timing_cache, memoryview(config.get_timing_cache().serialize()))
            profile = [list(shape) for shape in options.shapes(facts.input_hw)]
            record = _record(trt, cuda, facts, engine, options, "padim-edge build", profile, pinned)
    finally:
        cuda.close()
    write_record(engine, record)
    return record


def record_engine(onnx_path: Path, engine: Path, options: BuildOptions) -> EngineRecord:
    """Write the record for an engine built elsewhere (trtexec) from `onnx_path` with `options`.

    The profile is read from the engine itself; precision and DLA core are taken from `options`.
    """
    facts = inspect_onnx(onnx_path)
    if not engine.is_file():
        raise UserError(f"{engine}: no such engine file")
    trt = import_tensorrt()
    cuda = open_binding()
    try:
        with cuda.current():
            runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            loaded = runtime.deserialize_cuda_engine(engine.read_bytes())
            if loaded is None:
                raise UserError(f"{engine}: TensorRT could not deserialise it (built with another TensorRT or GPU?)")
            profile = [list(shape) for shape in loaded.get_tensor_profile_shape(facts.input_name, 0)]
            pinned = facts.fp32_layers if options.precision != "fp32" else []  # what the printed command pins
            record = _record(trt, cuda, facts, engine, options, "trtexec", profile, pinned)
    finally:
        cuda.close()
    write_record(engine, record)
    return record
