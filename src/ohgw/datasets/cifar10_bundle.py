"""Ship all of CIFAR-10 to a lent GPU machine in parts of at most 40 MiB, losslessly.

The device machine sees only the working tree (64 MiB a call, wheels and code included), not
``../shared``. The raw images are 184 MB; a 2-D pixel difference (each pixel minus its left and
upper neighbours plus the upper-left, modulo 256: a residual that a double cumulative sum undoes
exactly) then xz brings them to 109 MiB (three parts of 35.0, 38.3 and 35.8 MiB on 2026-12-04:
../shared/measurements/2026-12-04-h200/README.md), in ``--parts`` files (default 4: about 27
MiB each) carried one a call while the machine stays warm; the GPU runbook keeps the received
parts outside the working tree (``scripts/gpu_realistic.sh receive``). A part over
``MAX_PART_MIB`` is refused with the number of parts that would fit.

    python scripts/gpu_bundle.py pack   [--out gpu_data] [--parts 4] [--images N] [--test-images M]
    python scripts/gpu_bundle.py unpack [--dir gpu_data]  # -> gpu_data/cifar10/cifar10.npz

``pack`` writes ``part-K.xz`` files and ``manifest.json`` (shapes, dtypes, and each array's
SHA-256, computed from the source); ``unpack`` rebuilds the arrays, refuses any whose digest
differs, and writes the npz that ``OHGW_DATA_DIR=gpu_data`` points the loader at. ``--images N``
ships only the first N training images (and ``--test-images M``, default N, test images): a
small bundle for a CPU dry run; the benchmark holds out 5,000 training images for validation,
so a dry run needs N above 5,000 plus its training images.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import math
import sys
from pathlib import Path

import numpy as np

from ohgw.paths import project_data_dir

# the project's own copy (../shared/data beside the checkout); an installed copy: ../shared/data
SOURCE = (project_data_dir() or Path("..", "shared", "data")) / "cifar10" / "cifar10.npz"
IMAGE_KEYS = ("x_train", "x_test")
OTHER_KEYS = ("y_train", "y_test", "exact_train", "exact_test")
MAX_PART_MIB = 40  # one part a device call, beside the tree and the wheels, within 64 MiB


def residual(images: np.ndarray) -> np.ndarray:
    """The 2-D difference of uint8 NHWC images over H and W, modulo 256."""
    padded = np.pad(images.astype(np.int16), ((0, 0), (1, 0), (1, 0), (0, 0)))
    return (np.diff(np.diff(padded, axis=1), axis=2) % 256).astype(np.uint8)


def undo_residual(res: np.ndarray) -> np.ndarray:
    """Exact inverse of ``residual``."""
    total = np.cumsum(np.cumsum(res.astype(np.int64), axis=1), axis=2)
    return (total % 256).astype(np.uint8)


def digest(array: np.ndarray) -> str:
    """The SHA-256 of an array's bytes (C order)."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def pack(
    source: Path,
    out: Path,
    parts: int,
    images: int | None,
    test_images: int | None = None,
    level: int = 6,
) -> None:
    """Write ``part-K.xz`` and ``manifest.json`` of the arrays in ``source`` to ``out``."""
    data = np.load(source)
    test_images = images if test_images is None else test_images
    limit = {"train": images, "test": test_images}
    arrays = {}
    for key in (*IMAGE_KEYS, *OTHER_KEYS):
        count = limit[key.rsplit("_", 1)[1]]
        arrays[key] = data[key][:count] if count else data[key]
    blob = b"".join(residual(arrays[k]).tobytes() for k in IMAGE_KEYS)
    out.mkdir(parents=True, exist_ok=True)
    step = -(-len(blob) // parts)
    sizes = []
    for k in range(parts):
        packed = lzma.compress(blob[k * step : (k + 1) * step], preset=level)
        if len(packed) > MAX_PART_MIB * 2**20:
            fit = math.ceil(parts * len(packed) / (MAX_PART_MIB * 2**20)) + 1
            raise SystemExit(
                f"gpu_bundle: part-{k}.xz would be {len(packed) / 2**20:.1f} MiB, over "
                f"{MAX_PART_MIB} MiB (one device call's share); pack with --parts {fit}."
            )
        (out / f"part-{k}.xz").write_bytes(packed)
        sizes.append(len(packed))
        print(f"part-{k}.xz: {len(packed) / 2**20:.1f} MiB", flush=True)
    manifest = {
        "source": str(source),
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "parts": parts,
        "arrays": {
            k: {"shape": list(v.shape), "dtype": str(v.dtype), "sha256": digest(v)}
            for k, v in arrays.items()
        },
        "small": {k: arrays[k].tolist() for k in OTHER_KEYS},
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    raw, packed_size = sum(arrays[k].nbytes for k in IMAGE_KEYS), sum(sizes)
    print(f"{raw / 2**20:.1f} MiB -> {packed_size / 2**20:.1f} MiB ({packed_size / raw:.3f})")


def unpack(directory: Path) -> Path:
    """Rebuild the npz from the parts in ``directory``, every array's digest checked."""
    manifest = json.loads((directory / "manifest.json").read_text())
    missing = [k for k in range(manifest["parts"]) if not (directory / f"part-{k}.xz").exists()]
    if missing:
        raise SystemExit(f"gpu_bundle: parts {missing} are not in {directory}; carry them.")
    parts = [directory / f"part-{k}.xz" for k in range(manifest["parts"])]
    blob = b"".join(lzma.decompress(part.read_bytes()) for part in parts)
    arrays, offset = {}, 0
    for key in IMAGE_KEYS:
        meta = manifest["arrays"][key]
        count = int(np.prod(meta["shape"]))
        res = np.frombuffer(blob, np.uint8, count, offset).reshape(meta["shape"])
        arrays[key] = undo_residual(res)
        offset += count
    for key in OTHER_KEYS:
        meta = manifest["arrays"][key]
        arrays[key] = np.asarray(manifest["small"][key], dtype=meta["dtype"])
    bad = [k for k, v in arrays.items() if digest(v) != manifest["arrays"][k]["sha256"]]
    if bad:
        raise SystemExit(f"gpu_bundle: {bad} differ from the source's SHA-256; pack again.")
    target = directory / "cifar10" / "cifar10.npz"
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez(target, **arrays)
    print(f"{target}: {', '.join(f'{k} {list(v.shape)}' for k, v in arrays.items())}; digests ok")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="make part-K.xz and manifest.json from the shared CIFAR-10")
    p.add_argument("--source", type=Path, default=SOURCE, help=f"default {SOURCE}")
    p.add_argument("--out", type=Path, default=Path("gpu_data"), help="default gpu_data")
    p.add_argument("--parts", type=int, default=4, help="files to split into (default 4)")
    p.add_argument("--images", type=int, default=None, help="first N training images only")
    p.add_argument("--test-images", type=int, default=None, help="first M test images only")
    p.add_argument("--level", type=int, default=6, help="xz preset 0-9 (default 6)")
    u = sub.add_parser("unpack", help="rebuild cifar10/cifar10.npz and check every digest")
    u.add_argument("--dir", type=Path, default=Path("gpu_data"), help="default gpu_data")
    args = parser.parse_args(argv)
    if args.command == "pack":
        pack(args.source, args.out, args.parts, args.images, args.test_images, args.level)
    else:
        unpack(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
