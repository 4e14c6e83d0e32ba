"""Write a small CIFAR-10-shaped data set for the tutorial (docs/tutorial.md).

    python docs/tutorial_data.py --out cifar10_small.npz --images test_images
    python docs/tutorial_data.py --source cifar10 --out cifar10_small.npz --images test_images

Writes ``--out`` as an .npz file with ``x``, float32 (N, 32, 32, 3) holding
``pixel / 255 - 0.5`` as the ConvNetJS CIFAR-10 demo feeds its network, and
``y``, int64 class indices 0..9. With ``--images DIR`` it also writes one PNG
per class (``DIR/class_<index>.png``, 32x32 RGB) that is not in the .npz.

``--source synthetic`` (the default) draws the images: a disc in one of ten
colours, one colour per class, at a random place and size on a noisy
background. It needs no download and trains in seconds, but it is not
CIFAR-10, so accuracies on it tell nothing about CIFAR-10.
``--source cifar10`` takes the first N training images of CIFAR-10 from
``keras.datasets.cifar10``, which downloads about 170 MB once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

# One colour per synthetic class (RGB, 0..255), far apart from each other.
PALETTE = np.array([
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
], dtype=np.float64)


def synthetic_pixels(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return one drawn 32x32 RGB image (uint8) per class index in ``labels``; class k has colour PALETTE[k]."""
    rows, columns = np.mgrid[0:32, 0:32]
    images = np.empty((len(labels), 32, 32, 3), dtype=np.uint8)
    for index, label in enumerate(labels):
        background = rng.uniform(60, 200) + rng.normal(0, 25, (32, 32, 1))
        radius = rng.uniform(5, 11)
        centre_y, centre_x = rng.uniform(radius, 32 - radius, 2)
        disc = ((rows - centre_y) ** 2 + (columns - centre_x) ** 2 <= radius ** 2)[..., np.newaxis]
        colour = PALETTE[label] + rng.normal(0, 12, 3)
        pixels = np.where(disc, colour + rng.normal(0, 10, (32, 32, 3)), background)
        images[index] = np.clip(pixels, 0, 255).astype(np.uint8)
    return images


def cifar10_pixels(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``count`` CIFAR-10 training images and labels, and the test images and labels."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    return x_train[:count], y_train.reshape(-1)[:count].astype(np.int64), x_test, y_test.reshape(-1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="docs/tutorial_data.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.npz", help="the .npz file to write")
    parser.add_argument("--examples", type=int, default=600, metavar="N", help="number of examples (default: 600)")
    parser.add_argument("--images", type=Path, metavar="DIR",
                        help="also write one PNG per class, not among the examples, into DIR")
    parser.add_argument("--source", choices=("synthetic", "cifar10"), default="synthetic",
                        help="drawn images (default) or CIFAR-10 from keras.datasets (downloads about 170 MB)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic images (default: 0)")
    args = parser.parse_args(argv)
    if args.examples < 10:
        parser.error(f"--examples must be at least 10, received {args.examples}")
    if args.out.suffix != ".npz":
        parser.error(f"--out must end in .npz, received {args.out}")

    from PIL import Image

    if args.source == "cifar10":
        pixels, labels, test_pixels, test_labels = cifar10_pixels(args.examples)
        # One test image of each class, the first of its class in the test set.
        picks = [int(np.argmax(test_labels == label)) for label in range(10)]
        samples = test_pixels[picks]
    else:
        rng = np.random.default_rng(args.seed)
        labels = rng.permutation(np.arange(args.examples) % 10).astype(np.int64)  # balanced classes
        pixels = synthetic_pixels(labels, rng)
        samples = synthetic_pixels(np.arange(10), rng)

    x = (pixels.astype(np.float32) / 255.0 - 0.5).astype(np.float32)
    np.savez(args.out, x=x, y=labels)
    print(f"wrote {args.out}: {len(x)} {args.source} examples, x {x.shape} as pixel / 255 - 0.5, y class indices")
    if args.images is not None:
        args.images.mkdir(parents=True, exist_ok=True)
        for label, image in enumerate(samples):
            Image.fromarray(image).save(args.images / f"class_{label}.png")
        print(f"wrote {len(samples)} images to {args.images}/")
    if args.source == "synthetic":
        print("NOTE: these are drawn discs, one colour per class, not CIFAR-10 photos.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
