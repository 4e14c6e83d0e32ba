"""Tests for reading ConvNetJS network JavaScript without running it."""

import re

import pytest

from convnetjs_keras.errors import NetworkTextError
from convnetjs_keras.network_text import (
    MAX_DERIVED_ITEMS,
    MAX_NESTING,
    MAX_TEXT_BYTES,
    NetworkText,
    load_network_text,
    looks_like_network_text,
    parse_network_text,
)

CIFAR10_TEXT = """\
layer_defs = [];
layer_defs.push({type:'input', out_sx:32, out_sy:32, out_depth:3});
layer_defs.push({type:'conv', sx:5, filters:16, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'conv', sx:5, filters:20, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'conv', sx:5, filters:20, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'softmax', num_classes:10});

net = new convnetjs.Net();
net.makeLayers(layer_defs);

trainer = new convnetjs.SGDTrainer(net, {method:'adadelta', batch_size:4, l2_decay:0.0001});
"""

CIFAR10_LAYERS = [
    {"type": "input", "out_sx": 32, "out_sy": 32, "out_depth": 3},
    {"type": "conv", "sx": 5, "filters": 16, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "softmax", "num_classes": 10},
]

MNIST_TEXT = """\
layer_defs = [];
layer_defs.push({type:'input', out_sx:24, out_sy:24, out_depth:1});
layer_defs.push({type:'conv', sx:5, filters:8, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'conv', sx:5, filters:16, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:3, stride:3});
layer_defs.push({type:'softmax', num_classes:10});

net = new convnetjs.Net();
net.makeLayers(layer_defs);

trainer = new convnetjs.SGDTrainer(net, {method:'adadelta', batch_size:20, l2_decay:0.001});
"""

AUTOENCODER_TEXT = """\
layer_defs = [];
layer_defs.push({type:'input', out_sx:28, out_sy:28, out_depth:1});
layer_defs.push({type:'fc', num_neurons:50, activation:'tanh'});
layer_defs.push({type:'fc', num_neurons:50, activation:'tanh'});
layer_defs.push({type:'fc', num_neurons:2});
layer_defs.push({type:'fc', num_neurons:50, activation:'tanh'});
layer_defs.push({type:'fc', num_neurons:50, activation:'tanh'});
layer_defs.push({type:'regression', num_neurons:28*28});

net = new convnetjs.Net();
net.makeLayers(layer_defs);

trainer = new convnetjs.SGDTrainer(net, {learning_rate:1, method:'adadelta', batch_size:50, l2_decay:0.001, l1_decay:0.0});
"""

CLASSIFY2D_TEXT = """\
layer_defs = [];
layer_defs.push({type:'input', out_sx:1, out_sy:1, out_depth:2});
layer_defs.push({type:'fc', num_neurons:6, activation: 'tanh'});
layer_defs.push({type:'fc', num_neurons:2, activation: 'tanh'});
layer_defs.push({type:'softmax', num_classes:2});

net = new convnetjs.Net();
net.makeLayers(layer_defs);

trainer = new convnetjs.SGDTrainer(net, {learning_rate:0.01, momentum:0.1, batch_size:10, l2_decay:0.001});
"""

SMALL_NET = "layer_defs = [{type:'input', out_sx:1, out_sy:1, out_depth:2}, {type:'softmax', num_classes:2}];\n"
SMALL_LAYERS = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 2},
    {"type": "softmax", "num_classes": 2},
]


def value_of(expression: str):
    """Parse ``expression`` as the value of the only key of a one-layer network."""
    result = parse_network_text(f"layer_defs = [{{value: {expression}}}];")
    return result.layer_defs[0]["value"]


def assert_same_typed(actual, expected):
    assert actual == expected
    assert type(actual) is type(expected)


# Demo pages


def test_cifar10_demo_layers():
    result = parse_network_text(CIFAR10_TEXT)

    assert isinstance(result, NetworkText)
    assert result.layer_defs == CIFAR10_LAYERS


def test_cifar10_demo_trainer():
    result = parse_network_text(CIFAR10_TEXT)

    assert result.trainer_options == {"method": "adadelta", "batch_size": 4, "l2_decay": 0.0001}


def test_cifar10_demo_plain_types():
    result = parse_network_text(CIFAR10_TEXT)

    assert type(result.layer_defs) is list
    assert all(type(layer) is dict for layer in result.layer_defs)
    assert type(result.layer_defs[1]["sx"]) is int
    assert type(result.trainer_options["l2_decay"]) is float


def test_mnist_demo():
    result = parse_network_text(MNIST_TEXT)

    assert result.layer_defs == [
        {"type": "input", "out_sx": 24, "out_sy": 24, "out_depth": 1},
        {"type": "conv", "sx": 5, "filters": 8, "stride": 1, "pad": 2, "activation": "relu"},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "conv", "sx": 5, "filters": 16, "stride": 1, "pad": 2, "activation": "relu"},
        {"type": "pool", "sx": 3, "stride": 3},
        {"type": "softmax", "num_classes": 10},
    ]
    assert result.trainer_options == {"method": "adadelta", "batch_size": 20, "l2_decay": 0.001}


def test_autoencoder_demo():
    result = parse_network_text(AUTOENCODER_TEXT)

    assert len(result.layer_defs) == 7
    assert result.layer_defs[3] == {"type": "fc", "num_neurons": 2}
    assert result.layer_defs[6] == {"type": "regression", "num_neurons": 784}
    assert_same_typed(result.layer_defs[6]["num_neurons"], 784)
    assert_same_typed(result.trainer_options["l1_decay"], 0.0)
    assert_same_typed(result.trainer_options["learning_rate"], 1)


def test_classify2d_demo():
    result = parse_network_text(CLASSIFY2D_TEXT)

    assert result.layer_defs[1] == {"type": "fc", "num_neurons": 6, "activation": "tanh"}
    assert result.trainer_options == {"learning_rate": 0.01, "momentum": 0.1, "batch_size": 10, "l2_decay": 0.001}


# Values and arithmetic


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("28*28", 784),
        ("(5-1)/2", 2),
        ("7/2", 3.5),
        ("1/3", 1 / 3),
        ("-3", -3),
        ("- -4", 4),
        ("+5", 5),
        ("-(2+3)*2", -10),
        ("2+3*4", 14),
        ("10-4-3", 3),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 % -3", 1),
        ("7.5 % 2", 1.5),
        ("1e-4", 0.0001),
        ("1E3", 1000.0),
        ("2.0", 2.0),
        ("0.0", 0.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1.5*2", 3.0),
        ("0.1*10", 1.0),
        ("9007199254740991", 9007199254740991),
        ("'re' + 'lu'", "relu"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 2, 3,]", [1, 2, 3]),
        ("[]", []),
        ("{a: {b: [1, {c: 2}]}}", {"a": {"b": [1, {"c": 2}]}}),
    ],
)
def test_expression_values(expression, expected):
    assert_same_typed(value_of(expression), expected)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("'single'", "single"),
        ('"double"', "double"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'a\\nb\\tc'", "a\nb\tc"),
        ("'\\x41\\u0042\\u{43}'", "ABC"),
        ("'\\uD83D\\uDE00'", "\U0001f600"),
        ("'back\\\\slash'", "back\\slash"),
        ("'\\q'", "q"),
        ("'con\\\ntinued'", "continued"),
        ("'caf\u00e9'", "caf\u00e9"),
    ],
)
def test_string_literals(literal, expected):
    assert value_of(literal) == expected


def test_comments_skipped():
    text = """\
// CIFAR-10 network
layer_defs = []; // start empty
/* the input
   layer */
layer_defs.push({type:'input', /* width */ out_sx:1, out_sy:1, out_depth:2});
layer_defs.push({type:'softmax', num_classes:2 /* classes */}); // done
"""
    result = parse_network_text(text)

    assert result.layer_defs == SMALL_LAYERS


def test_comment_lines_counted():
    text = "/* one\ntwo\nthree */\nlayer_defs = [];\n// four\nlayer_defs.push(5 / 0);\n"

    with pytest.raises(NetworkTextError, match=r"line 6, column 19: division by zero"):
        parse_network_text(text)


def test_quoted_keys():
    text = """layer_defs = [{'type': "input", "out_sx": 1, 'out_sy': 1, out_depth: 2},
                  {"type": 'softmax', "num_classes": 2}];"""

    assert parse_network_text(text).layer_defs == SMALL_LAYERS


def test_array_literal_form():
    text = """\
var layer_defs = [
  {type:'input', out_sx:1, out_sy:1, out_depth:2},
  {type:'softmax', num_classes:2,},
];
"""
    result = parse_network_text(text)

    assert result.layer_defs == SMALL_LAYERS
    assert result.trainer_options is None


@pytest.mark.parametrize("keyword", ["var", "let", "const"])
def test_declaration_keywords(keyword):
    text = f"{keyword} layer_defs = [];\nlayer_defs.push({{type:'input', out_sx:1, out_sy:1, out_depth:2}});"

    assert parse_network_text(text).layer_defs == SMALL_LAYERS[:1]


def test_missing_semicolons():
    text = """\
var layer_defs = []
layer_defs.push({type:'input', out_sx:1, out_sy:1, out_depth:2})
layer_defs.push({type:'softmax', num_classes:2})
var net = new convnetjs.Net()
net.makeLayers(layer_defs)
"""
    assert parse_network_text(text).layer_defs == SMALL_LAYERS


def test_crlf_and_empty_statements():
    text = "layer_defs = [];;\r\nlayer_defs.push({type:'softmax', num_classes:2})\r\n;"

    assert parse_network_text(text).layer_defs == [{"type": "softmax", "num_classes": 2}]


def test_variables_as_values():
    text = """\
var size = 5;
let depth = 2 * 3 + 1;
const classes = 10, activation = 'relu';
var neurons
neurons = 28 * 28
layer_defs = [];
layer_defs.push({type:'input', out_sx:size, out_sy:size, out_depth:depth});
layer_defs.push({type:'conv', sx:size, filters:(size - 1) / 2, activation:activation});
layer_defs.push({type:'fc', num_neurons:neurons});
layer_defs.push({type:'softmax', num_classes:classes});
"""
    result = parse_network_text(text)

    assert result.layer_defs == [
        {"type": "input", "out_sx": 5, "out_sy": 5, "out_depth": 7},
        {"type": "conv", "sx": 5, "filters": 2, "activation": "relu"},
        {"type": "fc", "num_neurons": 784},
        {"type": "softmax", "num_classes": 10},
    ]


def test_object_variable_copied():
    text = """\
var hidden = {type:'fc', num_neurons:20, activation:'relu'};
layer_defs = [];
layer_defs.push(hidden);
layer_defs.push(hidden, {type:'regression', num_neurons:1});
"""
    result = parse_network_text(text)

    assert result.layer_defs == [
        {"type": "fc", "num_neurons": 20, "activation": "relu"},
        {"type": "fc", "num_neurons": 20, "activation": "relu"},
        {"type": "regression", "num_neurons": 1},
    ]
    assert result.layer_defs[0] is not result.layer_defs[1]


def test_var_redeclaration_keeps_value():
    text = "var size = 3;\nvar size;\nlayer_defs = [{type:'fc', num_neurons:size}];"

    assert parse_network_text(text).layer_defs == [{"type": "fc", "num_neurons": 3}]


def test_make_layers_other_name():
    text = """\
var defs = [];
defs.push({type:'input', out_sx:1, out_sy:1, out_depth:2});
defs.push({type:'softmax', num_classes:2});
var layer_defs = [{type:'fc', num_neurons:99}];
var net = new convnetjs.Net();
net.makeLayers(defs);
"""
    assert parse_network_text(text).layer_defs == SMALL_LAYERS


def test_make_layers_array_literal():
    text = (
        "net = new convnetjs.Net();\n"
        "net.makeLayers([{type:'input', out_sx:1, out_sy:1, out_depth:2}, {type:'softmax', num_classes:2}]);"
    )

    assert parse_network_text(text).layer_defs == SMALL_LAYERS


# Trainers


@pytest.mark.parametrize(
    ("trainer_text", "expected"),
    [
        (
            "trainer = new convnetjs.SGDTrainer(net, {method:'adadelta', batch_size:4});",
            {"method": "adadelta", "batch_size": 4},
        ),
        (
            "var trainer = new convnetjs.Trainer(net, {learning_rate:0.01, momentum:0.9});",
            {"learning_rate": 0.01, "momentum": 0.9},
        ),
        ("trainer = new Trainer(net, {method:'sgd'})", {"method": "sgd"}),
        ("trainer = new SGDTrainer(net, {batch_size:2*5,});", {"batch_size": 10}),
        (
            "var opts = {method:'adam', eps:1e-8};\ntrainer = new convnetjs.Trainer(net, opts);",
            {"method": "adam", "eps": 1e-8},
        ),
        (
            "var opts = {};\nopts = {l2_decay:0.001};\nlet trainer = new convnetjs.Trainer(net, opts);",
            {"l2_decay": 0.001},
        ),
        ("trainer = new convnetjs.Trainer(net);", {}),
        ("trainer = new convnetjs.Trainer(net, );", {}),
        ("new convnetjs.SGDTrainer(net, {momentum:0.0});", {"momentum": 0.0}),
        ("", None),
    ],
)
def test_trainer_forms(trainer_text, expected):
    text = f"{SMALL_NET}var net = new convnetjs.Net();\nnet.makeLayers(layer_defs);\n{trainer_text}\n"

    assert parse_network_text(text).trainer_options == expected


def test_trainer_options_independent_copy():
    text = (
        f"{SMALL_NET}var opts = {{batch_size:1}};\n"
        "trainer = new convnetjs.Trainer(net, opts);\n"
        "opts = {batch_size:2};"
    )

    assert parse_network_text(text).trainer_options == {"batch_size": 1}


# Files and detection


def test_load_file_with_bom(tmp_path):
    path = tmp_path / "net.js"
    path.write_bytes(b"\xef\xbb\xbf" + CIFAR10_TEXT.encode("utf-8"))

    assert load_network_text(path).layer_defs == CIFAR10_LAYERS
    assert load_network_text(str(path)).trainer_options["batch_size"] == 4


def test_load_error_names_file(tmp_path):
    path = tmp_path / "net.txt"
    path.write_text("layer_defs = [];\nlayer_defs.push({sx: size});\n", encoding="utf-8")

    with pytest.raises(NetworkTextError) as caught:
        load_network_text(path)

    assert str(caught.value).startswith(f"{path}: line 2, column 22: unknown identifier 'size'")


def test_load_invalid_utf8(tmp_path):
    path = tmp_path / "net.js"
    path.write_bytes(b"layer_defs = ['\xff'];")

    with pytest.raises(NetworkTextError, match="invalid UTF-8 at byte offset 15"):
        load_network_text(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_network_text(tmp_path / "missing.js")


def test_load_too_large(tmp_path):
    path = tmp_path / "big.js"
    path.write_bytes(b" " * (MAX_TEXT_BYTES + 10))

    with pytest.raises(NetworkTextError, match="larger than the limit"):
        load_network_text(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (CIFAR10_TEXT, True),
        (SMALL_NET, True),
        ("// my network\nvar defs = [];\nnet.makeLayers(defs);", True),
        ("\ufeff  layer_defs = []", True),
        ('{"layers": [{"layer_type": "input"}]}', False),
        ('  [{"type": "input", "out_sx": 1}]', False),
        ('{"layer_defs": []}', False),
        ("", False),
        ("print('hello')", False),
    ],
)
def test_looks_like_network_text(text, expected):
    assert looks_like_network_text(text) is expected


# Errors


ERROR_CASES = [
    # (text, line, column, words that the message must contain)
    (
        "layer_defs = [];\nlayer_defs.push({type:'fc', sx: Math.sqrt(2)});",
        2,
        33,
        ["function call 'Math.sqrt(...)'", "expected a value"],
    ),
    ("layer_defs = [];\neval('layer_defs.push(1)');", 2, 1, ["function call 'eval(...)'", "expected a statement"]),
    ("var fs = require('fs');\nlayer_defs = [];", 1, 10, ["function call 'require(...)'"]),
    ("layer_defs = [];\nlayer_defs.push({type:'conv});", 2, 23, ["unterminated string", "closing '"]),
    (
        "layer_defs = [];\nlayer_defs.push({type:'fc', num_neurons:2);",
        2,
        42,
        ["unexpected ')'", "expected ',' or '}'", "line 2, column 17"],
    ),
    ("layer_defs = [];\nlayer_defs.push({type:'fc', num_neurons:2;", 2, 42, ["unexpected ';'", "expected ',' or '}'"]),
    (
        "layer_defs = [\n  {type:'fc'}\n",
        3,
        1,
        ["unexpected end of text", "']' to close the array at line 1, column 14"],
    ),
    (
        "layer_defs = [];\nlayer_defs.push({type:'conv', sx: size});",
        2,
        35,
        ["unknown identifier 'size'", "var size = 5;"],
    ),
    ("layer_defs = [];\nlayer_defs.push({type:`fc`});", 2, 23, ["template literals", "not supported"]),
    (
        "layer_defs = [];\nfor (var i = 0; i < 3; i++) { layer_defs.push({type:'fc'}); }",
        2,
        1,
        ["unexpected keyword 'for'", "Loops"],
    ),
    ("layer_defs = [{type:'fc', num_neurons: 10 / (5 - 5)}];", 1, 43, ["division by zero", "'/'"]),
    ("layer_defs = [{type:'fc', num_neurons: 7 % 0}];", 1, 42, ["division by zero", "'%'"]),
    ("layer_defs = [{type:'fc', l2_decay: 1e400}];", 1, 37, ["number 1e400 is too large"]),
    ("layer_defs = [{type:'fc', num_neurons: 99999999999999999999}];", 1, 40, ["too large", "9007199254740991"]),
    ("layer_defs = [{type:'fc', l2_decay: 1e300 * 1e300}];", 1, 43, ["result of '*' is too large"]),
    ("layer_defs = [{type:'fc', num_neurons: 9007199254740991 + 1}];", 1, 57, ["result of '+'", "expected at most"]),
    ("layer_defs = [];\nnet.train(x);", 2, 1, ["unsupported call 'net.train'"]),
    ("layer_defs = [];\nlayer_defs.length = 0;", 2, 1, ["unsupported property access 'layer_defs.length'"]),
    ("layer_defs = [] /* open\n comment", 1, 17, ["unterminated comment", "'*/'"]),
    (
        "layer_defs = [] layer_defs.push({type:'fc'});",
        1,
        17,
        ["unexpected identifier 'layer_defs'", "';' or a line break"],
    ),
    ("defs.push({type:'fc'});", 1, 1, ["unknown variable 'defs'", "defs = [];"]),
    ("var layer_defs, net;\nlayer_defs.push({type:'fc'});", 2, 1, ["'layer_defs' is undefined", "expected an array"]),
    ("layer_defs = [{type:'fc', sx:1, sx:2}];", 1, 33, ["duplicate key 'sx'"]),
    ("layer_defs = [];\nnet = new Array();", 2, 11, ["unknown constructor 'Array'", "convnetjs.Net"]),
    ("layer_defs = [{type:'fc', sx: 010}];", 1, 31, ["invalid number '010'"]),
    ("layer_defs = [{type:'fc', sx: 0x10}];", 1, 31, ["invalid number '0x10'"]),
    ("layer_defs = [{type:\u2018fc\u2019}];", 1, 21, ["curly quote"]),
    ("layer_defs = [];\nnet.makeLayers(layer_defs);\nlayer_defs.push({type:'fc'});", 3, 1, ["after makeLayers"]),
    (
        "var block = [{type:'fc'}];\nlayer_defs = [block];\nblock.push({type:'relu'});",
        3,
        1,
        ["'block.push(...)' after 'block' was used as a value at line 2, column 15", "copies it"],
    ),
    ("layer_defs = [];\nlayer_defs.push(5);", 2, 17, ["layer definition 0 is a number", "expected an object"]),
    ("layer_defs = [{type:'fc'}, 'relu'];", 1, 28, ["layer definition 1 is a string"]),
    ("const size = 5;\nsize = 6;\nlayer_defs = [];", 2, 1, ["assignment to the constant 'size'"]),
    ("let size = 5;\nlet size = 6;", 2, 5, ["'size' is already declared at line 1"]),
    ("var size = 5;\nsize = 6;\nconst size = 7;", 3, 7, ["'size' is already declared at line 1"]),
    ("const size;", 1, 11, ["unexpected ';'", "'=' and a value for the constant 'size'"]),
    ("var size;\nlayer_defs = [{type:'fc', sx: size}];", 2, 31, ["variable 'size' is used before it is assigned"]),
    ("layer_defs = [{type: 'f' - 1}];", 1, 26, ["operator '-' got a string and a number", "two numbers"]),
    (
        "layer_defs = [{type: 'fc' + 1}];",
        1,
        27,
        ["operator '+' got a string and a number", "two numbers or two strings"],
    ),
    ("layer_defs = [{type: -'fc'}];", 1, 22, ["unary '-' got a string"]),
    ("layer_defs = [{type:'fc', sx: 1,, }];", 1, 33, ["unexpected ','", "a property name"]),
    ("layer_defs = [1,,2];", 1, 17, ["unexpected ','", "an array element"]),
    ("layer_defs = [{type:'fc', act: x => x}];", 1, 32, ["unknown identifier 'x'"]),
    ("layer_defs = [{type:'fc', f: function() {}}];", 1, 30, ["unexpected keyword 'function'", "expected a value"]),
    (
        "var net = new convnetjs.Net();\nlayer_defs = [{type:'fc', n: net}];",
        2,
        30,
        ["'net' holds a convnetjs.Net object"],
    ),
    ("layer_defs = [{n: new convnetjs.Net()}];", 1, 19, ["unexpected keyword 'new'"]),
    ("this.layer_defs = [];", 1, 1, ["unexpected keyword 'this'"]),
    ("layer_defs = [];\nlayer_defs[0] = {type:'fc'};", 2, 11, ["unexpected '['", "'=' or '.push('"]),
    ("layer_defs = [{type:'fc', sx: sizes[0]}];", 1, 31, ["unknown identifier 'sizes'"]),
    ("var size = 5;\nlayer_defs = [{type:'fc', sx: size[0]}];", 2, 35, ["unexpected '['", "expected ',' or '}'"]),
    ("layer_defs = [{type:'fc', sx: 2 ** 3}];", 1, 33, ["unexpected '**'"]),
    ("layer_defs = [{type:'fc', sx: '\\1'}];", 1, 32, ["octal escape"]),
    ("layer_defs = [{type:'\\uD83D'}];", 1, 21, ["unpaired UTF-16 surrogate"]),
    ("layer_defs = [{type:'fc'}] # comment", 1, 28, ["unexpected character '#'"]),
    ("layer_defs = [];\ntrainer = new convnetjs.Trainer(net, 0.01);", 2, 38, ["trainer options are a number"]),
    (
        "layer_defs = [];\ntrainer = new convnetjs.Trainer({method:'sgd'});",
        2,
        33,
        ["unexpected '{'", "the network variable"],
    ),
    (
        "layer_defs = [];\ntrainer = new convnetjs.Trainer(net, {}, 3);",
        2,
        42,
        ["unexpected number 3", "one options object"],
    ),
    (
        "layer_defs = [];\nt1 = new convnetjs.Trainer(net, {});\nt2 = new convnetjs.Trainer(net, {});",
        3,
        10,
        ["second trainer", "line 2"],
    ),
    ("net.makeLayers([]);\nnet.makeLayers([]);", 2, 5, ["second makeLayers call"]),
    ("net = new convnetjs.Net(5);", 1, 25, ["takes no arguments"]),
    ("layer_defs = 5;", 1, 1, ["'layer_defs' is a number", "expected an array"]),
    ("'use strict';\nlayer_defs = [];", 1, 1, ["unexpected string", "expected a statement"]),
]


@pytest.mark.parametrize(("text", "line", "column", "words"), ERROR_CASES)
def test_error_messages(text, line, column, words):
    with pytest.raises(NetworkTextError) as caught:
        parse_network_text(text, source="net.txt")

    message = str(caught.value)
    assert message.startswith(f"net.txt: line {line}, column {column}: "), message
    for word in words:
        assert word in message


def test_error_is_value_error():
    with pytest.raises(ValueError):
        parse_network_text("for (;;) {}")


def test_error_default_source():
    with pytest.raises(NetworkTextError, match=r"^<text>: line 1, column 1: "):
        parse_network_text("eval('1')")


def test_error_hint_after_message():
    with pytest.raises(NetworkTextError) as caught:
        parse_network_text("layer_defs = [{sx: Math.sqrt(2)}];")

    message = str(caught.value)
    assert "is not supported; expected a value" in message
    assert "never run" in message
    assert re.search(r"\. The network text is read as data", message)


@pytest.mark.parametrize("text", ["", "// only a comment\n", "var size = 5;", "net = new convnetjs.Net();"])
def test_missing_layer_defs(text):
    with pytest.raises(NetworkTextError, match=r"^net\.txt: no layer definitions found"):
        parse_network_text(text, source="net.txt")


def test_text_too_large():
    with pytest.raises(NetworkTextError, match="larger than the limit of 1048576 bytes"):
        parse_network_text(" " * (MAX_TEXT_BYTES + 1))


def test_multibyte_text_too_large():
    # Fewer characters than the limit, but more bytes once encoded as UTF-8.
    text = "// " + "\u00e9" * (MAX_TEXT_BYTES // 2 + 1)

    with pytest.raises(NetworkTextError, match="larger than the limit"):
        parse_network_text(text)


def nested_list_text(depth: int) -> str:
    """Return network text whose innermost value sits inside ``depth`` brackets."""
    inner = depth - 2  # The layer_defs array and the layer object are two of them.
    return f"layer_defs = [{{v: {'[' * inner}1{']' * inner}}}];"


def test_nesting_at_limit_accepted():
    value = parse_network_text(nested_list_text(MAX_NESTING)).layer_defs[0]["v"]

    for _ in range(MAX_NESTING - 2):
        value = value[0]
    assert value == 1


def test_nesting_over_limit_rejected():
    with pytest.raises(NetworkTextError, match=f"line 1, column 67: expression nested more than {MAX_NESTING} levels"):
        parse_network_text(nested_list_text(MAX_NESTING + 1))


@pytest.mark.parametrize(
    "expression",
    [
        "[" * 60 + "]" * 60,
        "(" * 60 + "1" + ")" * 60,
        "- " * 100_000 + "1",
        "{a:" * 60 + "1" + "}" * 60,
    ],
    ids=["brackets", "parentheses", "unary minus", "objects"],
)
def test_nesting_too_deep(expression):
    with pytest.raises(NetworkTextError, match=f"nested more than {MAX_NESTING} levels"):
        parse_network_text(f"layer_defs = [{{v: {expression}}}];")


def test_nesting_through_variables():
    lines = ["var v0 = [1];"] + [f"var v{i} = [v{i - 1}];" for i in range(1, 60)] + ["layer_defs = [];"]

    with pytest.raises(NetworkTextError, match=r"line 51, column 12: 'v49' nests its value more than 50"):
        parse_network_text("\n".join(lines))


def test_string_doubling_limited():
    lines = ["var s0 = 'xxxxxxxxxx';"] + [f"var s{i} = s{i - 1} + s{i - 1};" for i in range(1, 40)]

    with pytest.raises(NetworkTextError, match=f"more than {MAX_DERIVED_ITEMS} items"):
        parse_network_text("\n".join(lines) + "\nlayer_defs = [];")


def test_array_doubling_limited():
    lines = ["var a0 = [{type:'fc'}, {type:'fc'}];"] + [f"var a{i} = [a{i - 1}, a{i - 1}];" for i in range(1, 40)]

    with pytest.raises(NetworkTextError, match=f"more than {MAX_DERIVED_ITEMS} items"):
        parse_network_text("\n".join(lines) + "\nlayer_defs = [];")


def test_huge_integer_literal_rejected():
    with pytest.raises(NetworkTextError, match="too large"):
        parse_network_text("layer_defs = [{n: " + "9" * 10_000 + "}];")
