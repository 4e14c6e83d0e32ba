"""The networks and trainer options of ConvNetJS's MNIST and CIFAR-10 demo pages.

These are the defaults of ``demo/mnist.html`` and ``demo/cifar10.html`` in the
ConvNetJS GitHub repository, as ``layer_defs`` for ``from_layer_defs`` and
trainer options for ``compile_like_convnetjs``. This module imports nothing,
so scripts can use it without loading Keras.
"""

MNIST_LAYER_DEFS = [
    {"type": "input", "out_sx": 24, "out_sy": 24, "out_depth": 1},
    {"type": "conv", "sx": 5, "filters": 8, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "conv", "sx": 5, "filters": 16, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 3, "stride": 3},
    {"type": "softmax", "num_classes": 10},
]
MNIST_TRAINER = {"method": "adadelta", "batch_size": 20, "l2_decay": 0.001}

CIFAR10_LAYER_DEFS = [
    {"type": "input", "out_sx": 32, "out_sy": 32, "out_depth": 3},
    {"type": "conv", "sx": 5, "filters": 16, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "softmax", "num_classes": 10},
]
CIFAR10_TRAINER = {"method": "adadelta", "batch_size": 4, "l2_decay": 0.0001}
