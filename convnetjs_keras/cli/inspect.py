"""``convnetjs-keras inspect``: one table describing a network."""

from __future__ import annotations

from convnetjs_keras.cli.common import add_model_arguments, model_kind


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "inspect", help="print a network's ConvNetJS layers: type, options, output shape, parameters",
        description="Print one row per ConvNetJS layer: index, layer type, options, output shape "
                    "(width x height x depth) and parameter count. Snapshots are read without loading Keras.")
    parser.add_argument("model", metavar="SNAPSHOT|MODEL", help="ConvNetJS snapshot, .keras file, model.json "
                        "(with --weights) or network text (.js/.txt)")
    add_model_arguments(parser, dtype=False)
    return parser


def net_table(net) -> str:
    from convnetjs_keras import converters

    rows = [("#", "type", "options", "output (sx x sy x depth)", "params")]
    total = 0
    for position, spec in enumerate(net.layers):
        converter = converters.get_converter(spec.layer_type)
        count = converter.parameter_count(spec)
        total += count
        rows.append((str(position), spec.layer_type, converter.describe(spec), str(spec.out_shape), f"{count:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) if i != 4 else row[i].rjust(widths[i]) for i in range(5)]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"total parameters: {total:,}")
    return "\n".join(lines)


def run(args) -> int:
    kind = model_kind(args.model)
    if kind == "snapshot":
        from pathlib import Path

        from convnetjs_keras.snapshot import load_net_spec

        from convnetjs_keras.magicnet import is_magicnet_file, parse_magicnet
        from convnetjs_keras.snapshot import read_json

        if args.key is None and is_magicnet_file(args.model):
            obj, label = read_json(Path(args.model))
            nets = parse_magicnet(obj, label)
            for number, net in enumerate(nets):
                print(f"MagicNet member {number} of {len(nets)} (predictions are averaged):")
                print(net_table(net))
            return 0
        net = load_net_spec(Path(args.model), key=args.key)
    elif kind == "network-text":
        from convnetjs_keras.layer_defs import net_spec_from_layer_defs
        from convnetjs_keras.network_text import load_network_text

        text = load_network_text(args.model)
        net = net_spec_from_layer_defs(text.layer_defs, source=str(args.model))
        if text.trainer_options is not None:
            print(f"trainer options: {text.trainer_options}")
    else:
        from convnetjs_keras.export import model_to_net_spec
        from convnetjs_keras.keras_io import load_keras_model

        net = model_to_net_spec(load_keras_model(args.model, args.weights))
    print(net_table(net))
    return 0
