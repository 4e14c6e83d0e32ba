"""Paint an image with the network of ConvNetJS's image regression demo.

The network learns the function (x, y) -> (r, g, b) of one image, as in
demo/image_regression.html of the karpathy/convnetjs repository: two inputs,
seven 20-neuron relu layers and three regression outputs, trained by SGD
with learning rate 0.01, momentum 0.9, batch size 5 and no weight decay.
Inputs are ``(x - W/2) / W`` and ``(y - H/2) / H``, targets are the pixel's
channels divided by 255. The demo scales its image to 200x200 and samples
random pixels. This script scales it to --size pixels square and visits
every pixel once per epoch, in a new random order each epoch.

Without --image the script draws a small landscape with Pillow.

Run from the repository root:

    python examples/image_regression.py                       # 64x64, 60 epochs
    python examples/image_regression.py --image photo.jpg --size 100 --epochs 100
    python examples/image_regression.py --fast

Writes painting.png, original.png, history.csv, snapshot.json,
keras_predictions.npz and summary.json to --out
(default examples-output/image_regression).
"""

from __future__ import annotations

import logging
from pathlib import Path

import _common
import numpy as np

NAME = "image_regression"

LAYER_DEFS = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 2},
    *[{"type": "fc", "num_neurons": 20, "activation": "relu"} for _ in range(7)],
    {"type": "regression", "num_neurons": 3},
]
TRAINER = {"method": "sgd", "learning_rate": 0.01, "momentum": 0.9, "batch_size": 5, "l2_decay": 0.0}

logger = logging.getLogger("examples")


def draw_landscape(size: int):
    """Return a ``size`` x ``size`` RGB picture: sky, sun, hills and a house."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    for row in range(size):
        # Sky from deep blue at the top to pale blue at the horizon.
        t = row / max(1, size - 1)
        draw.line([(0, row), (size, row)], fill=(int(40 + 130 * t), int(90 + 120 * t), int(200 + 50 * t)))
    s = size / 64.0  # drawn on a 64-pixel grid, scaled
    draw.ellipse([44 * s, 6 * s, 58 * s, 20 * s], fill=(255, 215, 40))
    draw.polygon([(0, 44 * s), (22 * s, 34 * s), (44 * s, 42 * s), (64 * s, 36 * s), (64 * s, 64 * s),
                  (0, 64 * s)], fill=(60, 150, 60))
    draw.rectangle([10 * s, 38 * s, 30 * s, 54 * s], fill=(200, 50, 40))
    draw.polygon([(7 * s, 38 * s), (20 * s, 27 * s), (33 * s, 38 * s)], fill=(90, 50, 30))
    draw.rectangle([17 * s, 45 * s, 23 * s, 54 * s], fill=(250, 240, 220))
    return image


def load_image(path: Path, size: int):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            # The demo draws the image into a square canvas, so the aspect ratio is not kept.
            return image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (FileNotFoundError, IsADirectoryError):
        _common.fail(f"--image {path}: file not found.")
    except (UnidentifiedImageError, OSError) as error:
        _common.fail(f"--image {path}: cannot be read as an image ({error}); give a PNG or JPEG file.")


def pixel_coordinates(size: int) -> np.ndarray:
    """Return the network inputs of all pixels, row by row, shaped (size * size, 2)."""
    rows, columns = np.mgrid[0:size, 0:size]
    return np.stack([(columns.ravel() - size / 2) / size, (rows.ravel() - size / 2) / size],
                    axis=1).astype("float32")


def paint(model, size: int) -> np.ndarray:
    """Return the network's picture shaped (size, size, 3) with values clipped to [0, 1]."""
    colours = model.predict(pixel_coordinates(size), batch_size=4096, verbose=0)
    return np.clip(colours, 0.0, 1.0).reshape(size, size, 3)


def plot_painting(original: np.ndarray, painted: np.ndarray, rows, path, title: str) -> None:
    figure, axes = _common.new_figure(12, 4.2, columns=3)
    original_axes, painted_axes, loss_axes = axes[0]
    for image_axes, image, label in ((original_axes, original, "original"),
                                     (painted_axes, painted, "painted by the network")):
        image_axes.imshow(image, interpolation="nearest")
        image_axes.set_title(label)
        image_axes.set_xlabel("x (pixels)")
        image_axes.set_ylabel("y (pixels)")
    loss_axes.plot([row["epoch"] for row in rows], [row["loss"] for row in rows], marker=".")
    loss_axes.set_yscale("log")
    loss_axes.set_xlabel("epochs (passes over every pixel)")
    loss_axes.set_ylabel("loss 0.5 |rgb - target|²")
    loss_axes.set_title("training loss")
    loss_axes.grid(True, alpha=0.3, which="both")
    figure.suptitle(title)
    _common.save_figure(figure, path, "the original and the painted image side by side, and the training loss")


def main(argv=None) -> int:
    parser = _common.make_parser(NAME, __doc__.split("\n\n")[0], epochs=60, examples=None)
    parser.add_argument("--image", type=Path, help="image to paint (default: a landscape drawn by the script)")
    parser.add_argument("--size", type=_common.positive_int, default=64,
                        help="side of the square the image is scaled to, in pixels (default: 64)")
    args = parser.parse_args(argv)
    if args.fast:
        args.size, args.epochs = 32, 20
    out = _common.start(args, NAME)
    clock = _common.Stopwatch()

    from convnetjs_keras.callbacks import write_history_csv
    from convnetjs_keras.model import from_layer_defs

    image = draw_landscape(args.size) if args.image is None else load_image(args.image, args.size)
    original = np.asarray(image, dtype="float32") / 255.0  # (size, size, 3) in [0, 1]
    image.save(out / "original.png")
    x = pixel_coordinates(args.size)
    y = original.reshape(-1, 3)  # row by row, as pixel_coordinates
    logger.info("data: %s, %dx%d pixels; trainer %s; %d epochs", args.image or "landscape drawn by the script",
                args.size, args.size, TRAINER, args.epochs)

    model = from_layer_defs(LAYER_DEFS, seed=args.seed)
    _common.compile_model(model, TRAINER, steps_per_execution=100)
    start_error = float(np.mean((paint(model, args.size) - original) ** 2))
    rows, passes = _common.fit_passes(model, x, y, TRAINER["batch_size"], args.epochs, args.seed)
    painted = paint(model, args.size)
    final_error = float(np.mean((painted - original) ** 2))
    baseline = float(np.mean((original - original.mean(axis=(0, 1))) ** 2))
    logger.info("mean squared error per channel: %.4f before training, %.4f after (the image's mean colour "
                "everywhere would give %.4f)", start_error, final_error, baseline)

    write_history_csv(rows, out / "history.csv")
    logger.info("wrote %s: loss during training", out / "history.csv")
    plot_painting(original, painted, rows, out / "painting.png",
                  f"ConvNetJS image regression demo network: (x, y) -> (r, g, b), {passes} epochs, "
                  f"mean squared error {final_error:.4f}")
    _common.export_snapshot(model, out, x[::max(1, len(x) // 5)])
    _common.write_json(out / "summary.json", {
        "image": str(args.image) if args.image else "landscape drawn by the script", "size": args.size,
        "epochs": passes, "trainer": TRAINER, "mse_before": start_error, "mse_after": final_error,
        "mse_mean_colour": baseline, "first_loss": rows[0]["loss"], "final_loss": rows[-1]["loss"],
        "total_seconds": clock.seconds,
    }, "settings, errors and timings")
    logger.info("done in %.1f s", clock.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
