"""`padim-edge build`: a TensorRT engine from an exported ONNX model, on the GPU that will run it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer


def build(
    model: Annotated[Path, typer.Argument(help="ONNX model written by padim-edge export.")],
    out: Annotated[Optional[Path], typer.Option(help="Engine file (default: MODEL with .engine).")] = None,
    precision: Annotated[str, typer.Option(help="fp32, fp16 or int8 (head and post-processing stay fp32).")] = "fp16",
    batch: Annotated[str, typer.Option(help="Batch profile MIN,OPT,MAX (or one fixed N).")] = "1,1,8",
    workspace: Annotated[int, typer.Option(min=1, max=1 << 20, help="Builder workspace limit, MiB.")] = 1024,
    timing_cache: Annotated[Optional[Path], typer.Option(help="Timing cache to load and update.")] = None,
    calib: Annotated[Optional[Path], typer.Option(help="int8: folder of good images to calibrate on.")] = None,
    calib_cache: Annotated[
        Optional[Path], typer.Option(help="int8: calibration cache, written after calibrating, reused when present.")
    ] = None,
    dla: Annotated[Optional[int], typer.Option(min=0, help="Run on this DLA core (Jetson), GPU fallback on.")] = None,
    print_trtexec: Annotated[bool, typer.Option(help="Print the equivalent trtexec command and exit.")] = False,
    record_only: Annotated[
        bool, typer.Option(help="Only write OUT's JSON record (for an engine built with the printed trtexec line).")
    ] = False,
) -> None:
    """Build a TensorRT engine (and its JSON record) from an exported ONNX model, on this GPU."""
    from padim_edge.engine.build import (
        BuildOptions,
        build_engine,
        inspect_onnx,
        parse_batch,
        record_engine,
        trtexec_command,
    )

    options = BuildOptions(
        precision=precision,
        batch=parse_batch(batch),
        workspace_mib=workspace,
        timing_cache=timing_cache,
        calib_dir=calib,
        calib_cache=calib_cache,
        dla_core=dla,
    )
    engine = out or model.with_suffix(".engine")
    if not print_trtexec:  # what the build will write, checked before it starts (a build takes minutes)
        from padim_edge.storage.atomic import clean_stale
        from padim_edge.storage.output_checks import check_output_file

        check_output_file(engine, "--out")
        for path, flag in ((timing_cache, "--timing-cache"), (calib_cache, "--calib-cache")):
            if path is not None:
                check_output_file(path, flag)
        clean_stale(engine.parent)  # what a killed build left there
    if print_trtexec:
        for warning in options.warnings():
            typer.echo(f"warning: {warning}", err=True)
        typer.echo(shlex.join(trtexec_command(inspect_onnx(model), engine, options)))
        record = ["padim-edge", "build", str(model), "--out", str(engine), "--precision", precision, "--record-only"]
        record += ["--calib-cache", str(calib_cache)] if calib_cache else []
        record += ["--dla", str(dla)] if dla is not None else []
        typer.echo(f"# then, for padim-edge to run the engine: {shlex.join(record)}", err=True)
        return
    if record_only:
        record = record_engine(model, engine, options)
        typer.echo(f"recorded {engine} ({record.machine.describe()}) -> {engine.name}.json")
        return
    record = build_engine(model, engine, options)
    low, opt, high = (record.profile[k][0] for k in ("min", "opt", "max"))
    typer.echo(
        f"built {record.precision} engine, batch {low}..{high} (opt {opt}), {len(record.fp32_layers)} layers "
        f"pinned to fp32, {record.machine.describe()} -> {engine} (+ {engine.name}.json)"
    )
