"""Offline-first weights for the metric backbones (FID/KID Inception, LPIPS trunks).

No function here ever downloads. Weight files are looked up, by their standard file names, in an explicit
``weights_dir`` and then in torch's hub cache (``$TORCH_HOME/hub/checkpoints``, i.e. ``torch.hub.get_dir()``), which is
where torch-fidelity, torchmetrics, torchvision and ``lpips`` would have cached them on a connected machine. When a file
is missing, :class:`MissingWeightsError` says in one line which file, where it looked, and where the library downloads
it from, so it can be copied over by hand. :data:`WEIGHTS` also records each file's size and full sha256 where a public
source pins them; ``pftryon weights fetch`` (:mod:`bench.metrics.fetch`) downloads and checks them against it.

The builders load every backbone from the resolved file:

- :func:`build_inception`: torch-fidelity's ``inception-v3-compat`` (the TF-ported FID Inception) through torchmetrics'
  ``NoTrainInceptionV3`` with ``antialias=False`` (the TF1-style resize, equal to torch-fidelity's).
- :func:`build_lpips`: LPIPS v0.1 for ``backend="lpips"`` (the ``lpips`` package) or ``backend="torchmetrics"``
  (torchmetrics' ``_NoTrainLpips``). Both are built with ``pretrained=True, pnet_rand=True``: the linear heads come from
  the package's shipped files, the trunk is built randomly without a download, then the torchvision ImageNet weights are
  loaded from the resolved file into it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import pickle
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from bench.errors import MissingWeightsError, UnofficialWeightsError, WeightsError

__all__ = [
    "LPIPS_BACKENDS",
    "LPIPS_NETS",
    "METHOD_PAGES",
    "WEIGHTS",
    "MissingWeightsError",
    "UnofficialWeightsError",
    "WeightsError",
    "WeightsFile",
    "build_imagenet_inception",
    "build_inception",
    "build_lpips",
    "check_official",
    "file_sha256",
    "reading_weights",
    "resolve_weights",
    "search_dirs",
    "weights_info",
]

_logger = logging.getLogger(__name__)

LPIPS_NETS = ("alex", "vgg", "squeeze")
LPIPS_BACKENDS = ("lpips", "torchmetrics")


@dataclass(frozen=True)
class WeightsFile:
    """A weights file a metric needs.

    Attributes:
        name: Short name used by :func:`resolve_weights` (the key in :data:`WEIGHTS`).
        filename: The standard file name in the hub cache.
        library: Which library downloads it on a connected machine.
        url: Where that library downloads it from.
        size: Its size in bytes, ``None`` where no public source gives it.
        sha256: Its full sha256 (hex), ``None`` where no public source pins it ("sha256 not pinned").
    """

    name: str
    filename: str
    library: str
    url: str
    size: int | None = None
    sha256: str | None = None

    @property
    def expected_sha256_prefix(self) -> str:
        """The hash prefix embedded in the file name that evaluation checks: torchvision names its files
        ``<arch>-<first hex digits of the sha256>.pth`` (what ``torch.hub``'s ``check_hash`` verifies). torch-fidelity
        and pytorch-fid never check the suffix of their Inception files, and clean-fid's file has none: those files are
        not checked at evaluation ("") but against :attr:`sha256` by ``pftryon weights verify`` and ``fetch``."""
        match = re.search(r"-([a-f0-9]{8,})\.", self.filename)
        return match.group(1) if match and self.library.startswith("torchvision") else ""


# URLs as written in the installed libraries (torch_fidelity.feature_extractor_inceptionv3.URL_INCEPTION_V3,
# torchvision.models.{AlexNet,VGG16,SqueezeNet1_1}_Weights.IMAGENET1K_V1.url,
# torchvision.models.video.R3D_18_Weights.KINETICS400_V1.url, cleanfid.downloads_helper.inception_url and
# cleanfid.inception_pytorch.FID_WEIGHTS_URL); tests check they still agree.
# Sizes and full sha256: read in public GitHub files found by full-text code search (the index names no repository):
# [catalogue] a backbone-weights catalogue listing file, bytes and sha256 of 46 downloaded files (torchvision,
# DINOv2); [pins] download / preparation scripts that pin the URL with its sha256, several agreeing. A torchvision
# digest also starts with its file name's 8 hex digits. ``None``: no public full digest found (not invented).
WEIGHTS: dict[str, WeightsFile] = {
    # [pins] several torch-fidelity metric-asset scripts; a pytorch-fid Inception wrapper pins pt_inception's URL with
    # the same digest (the two releases are the same file), 95,628,359 bytes in public asset checks.
    "inception": WeightsFile(
        "inception",
        "weights-inception-2015-12-05-6726825d.pth",
        "torch-fidelity",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        95_628_359,
        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    ),
    # [catalogue] 244,408,911 B; [pins] the same digest in several LPIPS backbone checks.
    "alex": WeightsFile(
        "alex",
        "alexnet-owt-7be5be79.pth",
        "torchvision",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        244_408_911,
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
    ),
    # [catalogue] 553,433,881 B; [pins] LPIPS-VGG preparation scripts (one also pins 553,433,881 bytes).
    "vgg": WeightsFile(
        "vgg",
        "vgg16-397923af.pth",
        "torchvision",
        "https://download.pytorch.org/models/vgg16-397923af.pth",
        553_433_881,
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    ),
    # [catalogue] 4,958,839 B; [pins] a SqueezeNet loader pinning the same digest.
    "squeeze": WeightsFile(
        "squeeze",
        "squeezenet1_1-b8a52dc0.pth",
        "torchvision",
        "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
        4_958_839,
        "b8a52dc049b60e4b6ab68ad0df457362afab8b6304b2febdc1650a5dab4d7e7b",
    ),
    # clean-fid's TorchScript Inception (modes clean, legacy_tensorflow); clean-fid itself keeps it in /tmp on Linux.
    # sha256 not pinned: no public digest found.
    "cleanfid_inception": WeightsFile(
        "cleanfid_inception",
        "inception-2015-12-05.pt",
        "clean-fid",
        "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    ),
    # pytorch-fid's Inception, which clean-fid's legacy_pytorch mode loads through torch.hub's cache.
    # [pins] an Inception wrapper pinning this URL with this digest; 95,628,359 bytes in public asset checks.
    "pt_inception": WeightsFile(
        "pt_inception",
        "pt_inception-2015-12-05-6726825d.pth",
        "clean-fid (legacy_pytorch) and pytorch-fid",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        95_628_359,
        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    ),
    # torchvision's ImageNet Inception v3, whose class probabilities HR-VITON's Inception Score uses.
    # Full sha256 not pinned (none found): checked by its name's prefix 0cc3c7bd.
    "inception_imagenet": WeightsFile(
        "inception_imagenet",
        "inception_v3_google-0cc3c7bd.pth",
        "torchvision",
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
    ),
    # Kinetics-400 R3D-18 for the video FID alternative (bench.metrics.video). Full sha256 not pinned (none found):
    # checked by its name's prefix b3b3357e.
    "r3d_18": WeightsFile(
        "r3d_18",
        "r3d_18-b3b3357e.pth",
        "torchvision (video FID, bench.metrics.video)",
        "https://download.pytorch.org/models/r3d_18-b3b3357e.pth",
    ),
    # VFID backbones as CatV2TON's eval_video_metrics.py gets them (huggingface_hub snapshot_download of
    # "zhengchong/VFID", then modules/fid_metrics/vfid.py loads <snapshot>/i3d.pt and <snapshot>/resnext-101.pth):
    # pass that snapshot folder as --weights-dir. sha256 not pinned: no public digest found.
    "i3d_vfid": WeightsFile(
        "i3d_vfid",
        "i3d.pt",
        "CatV2TON VFID (I3D), Hugging Face zhengchong/VFID",
        "https://huggingface.co/zhengchong/VFID/resolve/main/i3d.pt",
    ),
    "resnext101_vfid": WeightsFile(
        "resnext101_vfid",
        "resnext-101.pth",
        "CatV2TON VFID (3D ResNeXt-101), Hugging Face zhengchong/VFID",
        "https://huggingface.co/zhengchong/VFID/resolve/main/resnext-101.pth",
    ),
    # FVD backbones as cd-fvd 0.1.1 downloads them (cdfvd/third_party/VideoMAEv2/utils.py load_videomae_model and
    # cdfvd/third_party/i3d/utils.py load_i3d_model). sha256 not pinned: no public digest found; the I3D file is
    # git blob a867b87ac3a9097d200598b1d48a1b890d8ec744 of songweige/TATS (tats/fvd/i3d_pretrained_400.pt), which
    # `git hash-object` on a copy reproduces.
    "videomae_vitg": WeightsFile(
        "videomae_vitg",
        "vit_g_hybrid_pt_1200e_ssv2_ft.pth",
        "cd-fvd (FVD, VideoMAE v2 ViT-g/14 fine-tuned on SSv2)",
        "https://huggingface.co/OpenGVLab/InternVideoMAE_models/resolve/main/mae-g/vit_g_hybrid_pt_1200e_ssv2_ft.pth",
    ),
    "i3d_fvd": WeightsFile(
        "i3d_fvd",
        "i3d_pretrained_400.pt",
        "cd-fvd (FVD, I3D from TATS)",
        "https://github.com/songweige/TATS/raw/main/tats/fvd/i3d_pretrained_400.pt",
    ),
    # DISTS alpha / beta as piq.DISTS loads them (piq.perceptual.DISTS._weights_url); the trunk is "vgg".
    # sha256 not pinned: no public digest found.
    "dists": WeightsFile(
        "dists",
        "dists_weights.pt",
        "piq",
        "https://github.com/photosynthesis-team/piq/releases/download/v0.4.1/dists_weights.pt",
    ),
    # DINOv2 backbones as torch.hub.load("facebookresearch/dinov2", ...) caches them (timm's pretrained_cfg url);
    # ViT-L/14 is the FD-DINOv2 backbone of Stein et al. 2023, ViT-S/14 a small alternative. [catalogue] both.
    "dinov2_vitl14": WeightsFile(
        "dinov2_vitl14",
        "dinov2_vitl14_pretrain.pth",
        "torch.hub facebookresearch/dinov2",
        "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
        1_217_586_395,
        "d5383ea8f4877b2472eb973e0fd72d557c7da5d3611bd527ceeb1d7162cbf428",
    ),
    "dinov2_vits14": WeightsFile(
        "dinov2_vits14",
        "dinov2_vits14_pretrain.pth",
        "torch.hub facebookresearch/dinov2",
        "https://dl.fbaipublicfiles.com/dinov2/dinov2_vits14/dinov2_vits14_pretrain.pth",
        88_283_115,
        "b938bf1bc15cd2ec0feacfe3a1bb553fe8ea9ca46a7e1d8d00217f29aef60cd9",
    ),
    # OpenAI CLIP ViT-B/32 image tower: the OpenCLIP state dict of timm/vit_base_patch32_clip_224.openai
    # (open_clip_pytorch_model.bin on the Hugging Face hub), saved under this name. sha256 not pinned: the hub's file
    # page lists it, but no stored copy of that page was found.
    "clip_vit_b32": WeightsFile(
        "clip_vit_b32",
        "vit_base_patch32_clip_224.openai.bin",
        "open_clip / timm (Hugging Face hub timm/vit_base_patch32_clip_224.openai, open_clip_pytorch_model.bin)",
        "https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/open_clip_pytorch_model.bin",
    ),
    # VGG19 of pftryon's perceptual training loss (pftryon.losses.VGG19_FILE / VGG19_URL; `pftryon train` with
    # perceptual: vgg19). [catalogue] 574,673,361 B.
    "vgg19": WeightsFile(
        "vgg19",
        "vgg19-dcbb9e9d.pth",
        "torchvision (pftryon's VGG19 perceptual training loss)",
        "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        574_673_361,
        "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
    ),
}

# Official download pages of the registered methods' released checkpoints (the files are their cards'
# ``official_files``). Each page links Google Drive or Baidu folders, no stable direct URL: manual downloads, never
# fetched. Methods absent here release no checkpoint (pb_afn, wuton_student) or need none.
METHOD_PAGES: dict[str, str] = {
    "pf_afn": "https://github.com/geyuying/PF-AFN",
    "pf_afn_no_flow": "https://github.com/geyuying/PF-AFN",
    "fs_vton": "https://github.com/SenHe/Flow-Style-VTON",
    "dm_vton": "https://github.com/KiseKloset/DM-VTON",
    "cp_vton": "https://github.com/sergeywong/cp-vton/issues/5",
    "tps_only": "https://github.com/sergeywong/cp-vton/issues/5",
    "cp_vton_plus": "https://github.com/minar09/cp-vton-plus",
}

# torchvision constructor for each LPIPS trunk.
_TV_ARCH = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}


def search_dirs(weights_dir: str | Path | None = None) -> list[Path]:
    """The folders :func:`resolve_weights` searches, in order: ``weights_dir`` (if given), then the torch hub cache."""
    dirs = [] if weights_dir is None else [Path(weights_dir).expanduser()]
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    if hub not in dirs:
        dirs.append(hub)
    return dirs


def resolve_weights(name: str, weights_dir: str | Path | None = None) -> Path:
    """Find a metric's weights file on disk; never touches the network.

    Args:
        name: A key of :data:`WEIGHTS` (``"inception"``, ``"alex"``, ``"vgg"``, ``"squeeze"``, ...).
        weights_dir: A folder searched before ``$TORCH_HOME/hub/checkpoints``.

    Returns:
        The path of the first file with the standard name found.

    Raises:
        ValueError: If ``name`` is unknown.
        MissingWeightsError: If the file is in none of the folders (one line: the file, the folders, the source URL,
            the ``pftryon weights fetch`` command).
    """
    if name not in WEIGHTS:
        raise ValueError(f"Unknown weights name {name!r}; expected one of {sorted(WEIGHTS)}")
    spec = WEIGHTS[name]
    dirs = search_dirs(weights_dir)
    for folder in dirs:
        candidate = folder / spec.filename
        if candidate.is_file():
            return candidate
    fetch = f"pftryon weights fetch --names {name}" + ("" if weights_dir is None else f" --weights-dir {weights_dir}")
    raise MissingWeightsError(
        f"{spec.filename} not found in {', '.join(str(d) for d in dirs)}: {spec.library} downloads it from {spec.url}; "
        f"copy it into one of these folders or pass --weights-dir, or run: {fetch}"
    )


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file (cached per path, size and modification time)."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def check_official(name: str, path: str | Path, allow_unofficial: bool = False) -> str | None:
    """Compare a resolved file's sha256 with the official one (where its name encodes it, as torch.hub does).

    Returns ``None`` for the official file or one that cannot be verified, else (``allow_unofficial``) the warning
    to print and report.

    Raises:
        UnofficialWeightsError: the sha256 differs and ``allow_unofficial`` is False.
    """
    spec = WEIGHTS[name]
    expected = spec.expected_sha256_prefix
    sha = file_sha256(path)
    if not expected or sha.startswith(expected):
        return None
    message = f"{path}: sha256 {sha[:12]}... is not the official {spec.filename}'s ({expected}..., {spec.url})"
    if not allow_unofficial:
        raise UnofficialWeightsError(f"{message}; its scores would not be the published metric's: restore the "
                                     "official file or pass --allow-unofficial-weights")  # fmt: skip
    return f"{message}: scores computed with unofficial weights (--allow-unofficial-weights)"


@contextlib.contextmanager
def reading_weights(path: str | Path) -> Iterator[None]:
    """Turn a failure to load a weights file (truncated, corrupt, not a checkpoint) into one line naming it."""
    try:
        yield
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, KeyError) as err:
        if isinstance(err, WeightsError):
            raise
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UnofficialWeightsError(f"{path}: unreadable weights file, truncated or corrupt ({reason[:120]}); "
                                     "restore it from its source") from None  # fmt: skip


def weights_info(name: str, path: str | Path) -> dict[str, object]:
    """Describe a resolved weights file for reports: file name, path, sha256 prefix, and whether it matches its name.

    ``sha256_matches_name`` is False for a file that only carries the standard name (e.g. weights a test wrote), so a
    report can never silently present numbers from such a file as the published backbone's.
    """
    spec = WEIGHTS[name]
    sha = file_sha256(path)
    return {
        "file": spec.filename,
        "path": str(path),
        "sha256_prefix": sha[:12],
        "sha256_matches_name": bool(spec.expected_sha256_prefix) and sha.startswith(spec.expected_sha256_prefix),
        "source_url": spec.url,
    }


def build_inception(weights_dir: str | Path | None = None) -> nn.Module:
    """Build torch-fidelity's ``inception-v3-compat`` 2048-d (pool3) feature extractor from the local weights file.

    It is torchmetrics' ``NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], antialias=False)``:
    input uint8 ``[N, 3, H, W]``, TF1-style bilinear resize to 299, output float32 ``[N, 2048]``; locked in eval mode,
    BatchNorm folded into the convolutions and weights in channels-last memory format (about 2.5x faster on CPU;
    features differ from the unfolded network by float rounding, ~1e-6).
    With ``antialias=False`` the features equal torch-fidelity's (environment.md: FID to 5e-6).

    Args:
        weights_dir: A folder searched before the torch hub cache for ``weights-inception-2015-12-05-6726825d.pth``.

    Raises:
        MissingWeightsError: If the weights file is not found (no download is attempted).
    """
    path = resolve_weights("inception", weights_dir)
    from torchmetrics.image.fid import NoTrainInceptionV3

    with reading_weights(path):
        model = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path),
            antialias=False,
        )  # fmt: skip
    model.weights_path = str(path)  # type: ignore[attr-defined]
    # Inference rewrites: ~2.5x faster on CPU together; features change by float rounding only (~1e-6).
    _fold_conv_bn(model)
    return model.to(memory_format=torch.channels_last)


def build_imagenet_inception(weights_dir: str | Path | None = None) -> nn.Module:
    """torchvision's ImageNet Inception v3 as HR-VITON builds it for its Inception Score.

    ``inception_v3(pretrained=True, transform_input=False)``: the 1000-class classifier with torchvision's
    ``IMAGENET1K_V1`` weights, fed images normalised to [-1, 1] without torchvision's input transform; locked in
    eval mode (logits only), no gradients.

    Raises:
        MissingWeightsError: If ``inception_v3_google-0cc3c7bd.pth`` is not found (no download is attempted).
    """
    import torchvision

    path = resolve_weights("inception_imagenet", weights_dir)
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
    with reading_weights(path):
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.weights_path = str(path)  # type: ignore[assignment]
    return model.eval().requires_grad_(False)


def _fold_conv_bn(model: nn.Module) -> None:
    """Fold each eval-mode ``bn`` into its block's ``conv`` (torch-fidelity's ``BasicConv2d``: conv, bn, relu)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        conv, norm = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
            module.conv, module.bn = fuse_conv_bn_eval(conv.eval(), norm.eval()), nn.Identity()


def _load_torchvision_features(net: str, path: Path) -> dict[str, torch.Tensor]:
    """Load a torchvision ImageNet checkpoint strictly into its architecture; return ``features``' state dict."""
    import torchvision

    model = getattr(torchvision.models, _TV_ARCH[net])(weights=None)
    with reading_weights(path):
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.features.state_dict()


def _trunk_state_from_features(trunk: nn.Module, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map torchvision ``features.<i>.<rest>`` tensors onto an LPIPS trunk's slice keys.

    The LPIPS trunks (``lpips.pretrained_networks`` and torchmetrics' copy) regroup ``model.features[i]`` into
    ``slice<k>.<i>`` (alex, vgg; lpips squeeze) or ``slices.<k>.<i>`` (torchmetrics squeeze) keeping the index ``i``.
    """
    mapped = {}
    for key in trunk.state_dict():
        match = re.fullmatch(r"(?:slice\d+|slices\.\d+)\.(\d+\..+)", key)
        if match is None or match.group(1) not in features:
            raise RuntimeError(f"LPIPS trunk key {key!r} has no counterpart in the torchvision checkpoint")
        mapped[key] = features[match.group(1)]
    return mapped


def build_lpips(
    net: Literal["alex", "vgg", "squeeze"] = "alex",
    backend: Literal["lpips", "torchmetrics"] = "lpips",
    weights_dir: str | Path | None = None,
) -> nn.Module:
    """Build an LPIPS v0.1 model entirely from local files (no download).

    Args:
        net: Trunk: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        backend: ``"lpips"`` (``lpips.LPIPS``; call it on inputs in [-1, 1]) or ``"torchmetrics"`` (torchmetrics'
            ``_NoTrainLpips``; call it with ``normalize=True`` on [0, 1]).
        weights_dir: A folder searched before the torch hub cache for the torchvision trunk file.

    Returns:
        The model in eval mode with gradients off; ``model.weights_path`` records the trunk file.

    Raises:
        ValueError: If ``net`` or ``backend`` is unknown.
        MissingWeightsError: If the trunk weights file is not found.
    """
    if net not in LPIPS_NETS:
        raise ValueError(f"Unknown LPIPS net {net!r}; expected one of {LPIPS_NETS}")
    if backend not in LPIPS_BACKENDS:
        raise ValueError(f"Unknown LPIPS backend {backend!r}; expected one of {LPIPS_BACKENDS}")
    path = resolve_weights(net, weights_dir)
    features = _load_torchvision_features(net, path)
    with warnings.catch_warnings():
        # lpips 0.1.4 calls torchvision's deprecated ``pretrained=`` argument (False here: no download).
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.models\._utils")
        if backend == "lpips":
            import lpips as lpips_pkg

            model = lpips_pkg.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
        else:
            from torchmetrics.functional.image.lpips import _NoTrainLpips

            model = _NoTrainLpips(net=net, pretrained=True, pnet_rand=True)
    model.net.load_state_dict(_trunk_state_from_features(model.net, features), strict=True)
    model.eval().requires_grad_(False)
    model.weights_path = str(path)  # type: ignore[attr-defined]
    _logger.debug("built LPIPS %s/%s from %s", backend, net, path)
    return model
