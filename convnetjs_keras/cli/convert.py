"""``convnetjs-keras convert``: ConvNetJS snapshot -> Keras files."""

from __future__ import annotations

import time
from pathlib import Path

from convnetjs_keras.cli.common import add_model_arguments, logger
from convnetjs_keras.files import check_output_path


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert", help="convert a ConvNetJS snapshot to a .keras file (or model.json + weights)",
        description="Convert a ConvNetJS snapshot (JSON.stringify(net.toJSON())) to a Keras model. The "
                    "Keras model computes what ConvNetJS computes; inputs are (batch, height, width, depth) "
                    "arrays, or (batch, depth) for 1x1xD inputs. A MagicNet file ({\"nets\": [...]}) becomes a "
                    "model that averages its nets' outputs.")
    parser.add_argument("snapshot", metavar="SNAPSHOT", help="ConvNetJS snapshot or MagicNet JSON file")
    parser.add_argument("out", metavar="OUT", nargs="?",
                        help="output .keras file (omit when --json is given)")
    parser.add_argument("--json", metavar="MODEL.json", help="write model.to_json() here instead of a .keras file")
    add_model_arguments(parser)
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    return parser


def run(args) -> int:
    from convnetjs_keras.errors import Problem, UsageError
    from convnetjs_keras.keras_io import save_keras_model
    from convnetjs_keras.model import load_snapshot

    if bool(args.out) == bool(args.json):
        raise UsageError(Problem("give either OUT.keras or --json MODEL.json (with --weights), not both or neither.",
                                 hint="For example: convnetjs-keras convert net.json net.keras"))
    outputs = [Path(args.out)] if args.out else [Path(args.json)]
    if args.json:
        weights = Path(args.weights) if args.weights else Path(args.json).with_name(
            Path(args.json).stem + ".weights.h5")
        outputs.append(weights)
    elif args.weights:
        raise UsageError(Problem("--weights goes with --json.", hint="A .keras file contains its weights."))
    elif outputs[0].suffix != ".keras":
        raise UsageError(Problem(f"the output must end in .keras, found {outputs[0].name!r}.",
                                 source=str(outputs[0]), hint="Use --json model.json for the JSON + weights pair."))
    if args.json and outputs[0].suffix != ".json":
        raise UsageError(Problem(f"--json must name a .json file, found {outputs[0].name!r}.", source=str(outputs[0])))
    if args.json and not outputs[1].name.endswith(".weights.h5"):
        raise UsageError(Problem(f"--weights must end in .weights.h5 (a Keras rule), found {outputs[1].name!r}.",
                                 source=str(outputs[1])))
    if len(outputs) == 2 and outputs[0].resolve() == outputs[1].resolve():
        raise UsageError(Problem("--json and --weights name the same file.", source=str(outputs[0]),
                                 hint="Give the weights file a name ending in .weights.h5."))
    for path in outputs:
        check_output_path(path, inputs=[args.snapshot], overwrite=args.force)
    start = time.perf_counter()
    from convnetjs_keras.magicnet import is_magicnet_file, load_magicnet

    if args.key is None and is_magicnet_file(args.snapshot):
        # {"nets": [...]} from MagicNet.toJSON(): a model averaging its nets' outputs.
        model = load_magicnet(args.snapshot, dtype=args.precision)
        logger.info("read %s: MagicNet of %d nets", args.snapshot, len(model.layers) - 2)
    else:
        model = load_snapshot(args.snapshot, key=args.key, dtype=args.precision)
    logger.info("read %s: %d Keras layers, %s parameters (%.2f s)", args.snapshot, len(model.layers),
                f"{model.count_params():,}", time.perf_counter() - start)
    written = save_keras_model(model, outputs[0], outputs[1] if len(outputs) > 1 else None)
    for path in written:
        logger.info("wrote %s", path)
    return 0
