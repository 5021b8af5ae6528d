"""The `padim-edge` command: thin typer commands, one module each in `padim_edge.commands`; heavy modules
(torch, onnx, onnxruntime) are imported inside the commands, so `--help` and the runtime stay light."""

from __future__ import annotations

import sys
import warnings

import typer

from padim_edge.commands.build import build
from padim_edge.commands.evaluate import evaluate
from padim_edge.commands.export import export
from padim_edge.commands.fit import fit
from padim_edge.commands.info import info
from padim_edge.commands.predict import predict
from padim_edge.commands.run import run
from padim_edge.commands.serve import serve
from padim_edge.commands.triton_repo import triton_repo
from padim_edge.commands.verify import verify

app = typer.Typer(add_completion=False, no_args_is_help=True, help="PaDiM anomaly detection for edge devices.")
for name, command in (
    ("fit", fit),
    ("eval", evaluate),
    ("export", export),
    ("verify", verify),
    ("info", info),
    ("predict", predict),
    ("run", run),
    ("build", build),
    ("serve", serve),
    ("triton-repo", triton_repo),
):
    app.command(name)(command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code. User errors become one `error:` line on stderr and exit code 2,
    never a traceback; so do failures of the file system (a full disk, a file that vanished), and a command
    whose optional extra is not installed (it names the extra). Python warnings (a skipped training image)
    are one `warning:` line each."""
    from padim_edge.errors import UserError

    command = typer.main.get_command(app)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            check_environment()
            code = command.main(args=argv, standalone_mode=False, prog_name="padim-edge")
        except UserError as exc:
            return _fail(str(exc))
        except typer.TyperException as exc:  # bad flag, missing option, bad value
            return _fail(exc.format_message())
        except typer.Exit as exc:
            return exc.exit_code
        except (typer.Abort, KeyboardInterrupt):
            typer.echo("aborted", err=True)
            return 130
        except SystemExit as exc:  # typer's own exit, e.g. 1 when stdout is a closed pipe (`| head`)
            return exc.code if isinstance(exc.code, int) else 1
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            return _fail(f"{where}{exc.strerror or exc}")
        except MemoryError:
            return _fail("out of memory (a smaller --batch, input size or d needs less)")
        except ModuleNotFoundError as exc:  # an optional extra not installed (the runtime-only install)
            from padim_edge.commands.extras import missing_extra

            args = sys.argv[1:] if argv is None else argv
            message = missing_extra(exc.name, next((a for a in args if not a.startswith("-")), ""))
            if message is None:
                raise
            return _fail(message)
    return code if isinstance(code, int) else 0


def check_environment() -> None:
    """Refuse a malformed PADIM_EDGE_* setting once, up front, rather than on every image or frame."""
    from padim_edge.imaging.decode import max_pixels
    from padim_edge.runtime.stream_policy import RetryPolicy

    max_pixels()
    RetryPolicy.from_env()


def _show_warning(message: Warning | str, *_args: object, **_kwargs: object) -> None:
    typer.echo(f"warning: {message}", err=True)


def _fail(message: str) -> int:
    typer.echo(f"error: {message}", err=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
