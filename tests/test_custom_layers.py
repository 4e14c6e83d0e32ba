"""The custom Keras layers of convnetjs_keras, against NumPy references.

Each layer gets: a config round trip, ``compute_output_shape`` against the
real output shape, a NumPy reference of ConvNetJS's loop (written here from
convnet.js of npm 0.3.0), and a test that pins the ConvNetJS quirk it exists
for. The ``.keras`` round trip of every layer is in test_keras_formats.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from convnetjs_keras.layers import (
    POOL_FLOOR,
    ConvNetJSDropout,
    ConvNetJSLocalResponseNorm,
    ConvNetJSMaxout,
    ConvNetJSMaxPool,
    ConvNetJSQuadTransform,
    ConvNetJSRegression,
    ConvNetJSSVM,
)

# (layer factory, input shape without the batch axis) for the generic checks.
LAYERS = {
    "max_pool": (lambda: ConvNetJSMaxPool((3, 2), strides=2, pad=1), (5, 6, 3)),
    "max_pool_no_pad": (lambda: ConvNetJSMaxPool(2), (4, 5, 2)),
    "dropout": (lambda: ConvNetJSDropout(0.3, seed=4), (4, 3, 2)),
    "lrn": (lambda: ConvNetJSLocalResponseNorm(k=1.5, n=3, alpha=0.2, beta=0.6), (3, 2, 5)),
    "lrn_vector": (lambda: ConvNetJSLocalResponseNorm(k=2.0, n=5, alpha=1e-4, beta=0.75), (7,)),
    "maxout_volume": (lambda: ConvNetJSMaxout(3), (2, 3, 7)),
    "maxout_vector": (lambda: ConvNetJSMaxout(2), (6,)),
    "quadtransform_volume": (lambda: ConvNetJSQuadTransform(), (2, 3, 3)),
    "quadtransform_vector": (lambda: ConvNetJSQuadTransform(), (4,)),
    "svm": (lambda: ConvNetJSSVM(), (5,)),
    "regression": (lambda: ConvNetJSRegression(), (3,)),
}

BATCH = 2


def random_batch(shape, seed=0, dtype="float64"):
    return np.random.default_rng(seed).normal(size=(BATCH, *shape)).astype(dtype)


@pytest.mark.parametrize("name", list(LAYERS))
def test_config_round_trip(name):
    factory, _ = LAYERS[name]
    layer = factory()
    config = layer.get_config()

    rebuilt = type(layer).from_config(config)

    assert rebuilt.get_config() == config


@pytest.mark.parametrize("name", list(LAYERS))
def test_serialize_round_trip(name):
    factory, shape = LAYERS[name]
    layer = factory()

    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer), safe_mode=True)

    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == layer.get_config()


@pytest.mark.parametrize("name", list(LAYERS))
def test_compute_output_shape_matches_call(name):
    factory, shape = LAYERS[name]
    layer = factory()

    output = layer(random_batch(shape, dtype="float32"))

    assert tuple(layer.compute_output_shape((BATCH, *shape))) == tuple(output.shape)
    assert tuple(layer.compute_output_shape((None, *shape))) == (None, *output.shape[1:])


@pytest.mark.parametrize("name", list(LAYERS))
def test_symbolic_output_shape(name):
    factory, shape = LAYERS[name]

    output = factory()(keras.Input(shape))

    assert tuple(output.shape) == tuple(factory().compute_output_shape((None, *shape)))


# NumPy references, written from ConvNetJS's forward loops. Volumes are
# (batch, y, x, depth), the layout of a ConvNetJS Vol.

def pool_reference(x, sy, sx, stride, pad):
    """PoolLayer.forward: skip cells outside the input, start each max at -99999."""
    batch, height, width, depth = x.shape
    out_h = (height + 2 * pad - sy) // stride + 1
    out_w = (width + 2 * pad - sx) // stride + 1
    out = np.empty((batch, out_h, out_w, depth))
    for ay in range(out_h):
        for ax in range(out_w):
            best = np.full((batch, depth), -99999.0)
            for fy in range(sy):
                for fx in range(sx):
                    oy, ox = ay * stride - pad + fy, ax * stride - pad + fx
                    if 0 <= oy < height and 0 <= ox < width:
                        best = np.maximum(best, x[:, oy, ox, :])
            out[:, ay, ax, :] = best
    return out


def lrn_reference(x, k, n, alpha, beta):
    """LocalResponseNormalizationLayer.forward: window clipped to the depth, alpha / n."""
    depth = x.shape[-1]
    half = n // 2
    out = np.empty_like(x)
    for i in range(depth):
        window = x[..., max(0, i - half):min(i + half, depth - 1) + 1]
        den = k + alpha / n * np.sum(window ** 2, axis=-1)
        out[..., i] = x[..., i] / den ** beta
    return out


def maxout_reference(x, group_size):
    """MaxoutLayer.forward: channel i is the max of channels i*g .. i*g+g-1."""
    groups = x.shape[-1] // group_size
    return np.stack([x[..., i * group_size:(i + 1) * group_size].max(axis=-1) for i in range(groups)], axis=-1)


def quadtransform_reference(x):
    """QuadTransformLayer.forward: x_i, then x_i0 * x_i1 with i0 = (i - D) // D, i1 = (i - D) % D."""
    depth = x.shape[-1]
    products = [x[..., i0] * x[..., i1] for i0 in range(depth) for i1 in range(depth)]
    return np.concatenate([x, np.stack(products, axis=-1)], axis=-1)


POOL_CASES = {
    "2x2_stride2": ((2, 2), 2, 0, (6, 6, 2)),
    "3x3_stride2_pad1": ((3, 3), 2, 1, (5, 5, 2)),
    "sy3_sx2_stride1_pad1": ((3, 2), 1, 1, (4, 5, 1)),
    "uneven_3x3_stride3": ((3, 3), 3, 0, (7, 8, 2)),
    "window_in_padding": ((2, 2), 2, 2, (4, 4, 1)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(POOL_CASES))
def test_max_pool_matches_reference(case, dtype):
    (sy, sx), stride, pad, shape = POOL_CASES[case]
    x = random_batch(shape, seed=1, dtype=dtype)

    out = ConvNetJSMaxPool((sy, sx), strides=stride, pad=pad, dtype=dtype)(x)

    np.testing.assert_array_equal(np.asarray(out), pool_reference(x.astype(np.float64), sy, sx, stride, pad)
                                  .astype(dtype))


def test_max_pool_padding_ignored_not_zero():
    x = -1.0 - np.random.default_rng(2).uniform(size=(1, 4, 4, 2))  # all in (-2, -1)
    zero_padded = keras.layers.MaxPooling2D(3, strides=1, padding="same")(keras.ops.pad(
        x, [[0, 0], [1, 1], [1, 1], [0, 0]]))

    out = np.asarray(ConvNetJSMaxPool(3, strides=1, pad=1, dtype="float64")(x))

    # Zero padding would make every border window output 0.
    assert np.asarray(zero_padded)[:, 1:-1, 1:-1, :].max() == 0.0
    assert out.max() < -1.0
    np.testing.assert_array_equal(out, pool_reference(x, 3, 3, 1, 1))


def test_max_pool_window_in_padding_gives_floor():
    x = np.random.default_rng(3).normal(size=(1, 2, 2, 1))

    out = np.asarray(ConvNetJSMaxPool(1, strides=1, pad=1, dtype="float64")(x))[0, :, :, 0]

    # The 1x1 windows on the border lie wholly in the padding.
    assert out.shape == (4, 4)
    assert POOL_FLOOR == -99999.0
    assert (out[0, :] == POOL_FLOOR).all()
    assert (out[-1, :] == POOL_FLOOR).all()
    assert (out[:, 0] == POOL_FLOOR).all()
    np.testing.assert_array_equal(out[1:3, 1:3], x[0, :, :, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("drop_prob", [0.0, 0.2, 0.5, 1.0])
def test_dropout_prediction_multiplies_by_drop_prob(drop_prob, dtype):
    x = random_batch((3, 4), seed=5, dtype=dtype)

    out = np.asarray(ConvNetJSDropout(drop_prob, dtype=dtype)(x, training=False))

    assert out.dtype == dtype
    np.testing.assert_array_equal(out, x * np.asarray(drop_prob, dtype=dtype))


def test_dropout_zero_prob_predicts_zeros():
    x = random_batch((5,), seed=6)

    out = np.asarray(ConvNetJSDropout(0.0, dtype="float64")(x))

    # keras.layers.Dropout(rate=0) is the identity instead.
    np.testing.assert_array_equal(out, np.zeros_like(x))
    np.testing.assert_array_equal(np.asarray(keras.layers.Dropout(0.0, dtype="float64")(x)), x)


def test_dropout_training_drops_without_rescaling():
    x = np.abs(random_batch((100, 50), seed=7)) + 0.5

    out = np.asarray(ConvNetJSDropout(0.3, seed=1, dtype="float64")(x, training=True))

    dropped = out == 0.0
    # Kept values pass unchanged (Keras' Dropout would scale them by 1 / 0.7).
    np.testing.assert_array_equal(out[~dropped], x[~dropped])
    # 10000 Bernoulli(0.3) draws: the fraction has a standard error of about 0.005.
    assert abs(dropped.mean() - 0.3) < 0.03


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k, n, alpha, beta", [
    (1.0, 3, 0.5, 0.75), (2.0, 5, 1e-4, 0.75), (0.5, 1, 2.0, 0.5), (1.5, 7, 3.0, 1.25), (1.0, 4, 1.0, 0.75),
], ids=["n3", "n5_caffe_like", "n1", "n7_wider_than_depth", "n4_even"])
def test_lrn_matches_reference(k, n, alpha, beta, dtype):
    x = random_batch((2, 3, 5), seed=8, dtype=dtype)

    out = np.asarray(ConvNetJSLocalResponseNorm(k=k, n=n, alpha=alpha, beta=beta, dtype=dtype)(x))

    tolerance = {"float32": 1e-6, "float64": 1e-14}[dtype]
    np.testing.assert_allclose(out, lrn_reference(x.astype(np.float64), k, n, alpha, beta), rtol=tolerance,
                               atol=tolerance)


def test_lrn_divides_alpha_by_n():
    # float32, because TensorFlow's LRN kernel computes in float32.
    x = random_batch((2, 2, 6), seed=9, dtype="float32")
    k, n, alpha, beta = 1.0, 5, 2.0, 0.75

    out = np.asarray(ConvNetJSLocalResponseNorm(k=k, n=n, alpha=alpha, beta=beta)(x))

    # TensorFlow's LRN does not divide alpha by n; it matches only with alpha / n.
    tf_same = tf.nn.local_response_normalization(x, depth_radius=n // 2, bias=k, alpha=alpha / n, beta=beta)
    tf_undivided = tf.nn.local_response_normalization(x, depth_radius=n // 2, bias=k, alpha=alpha, beta=beta)
    np.testing.assert_allclose(out, tf_same.numpy(), rtol=1e-5, atol=1e-6)
    assert np.abs(out - tf_undivided.numpy()).max() > 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("group_size, shape", [(2, (6,)), (3, (7,)), (2, (2, 3, 4)), (3, (3, 2, 8)), (1, (4,))],
                         ids=["g2_vector", "g3_vector_remainder", "g2_volume", "g3_volume_remainder", "g1"])
def test_maxout_matches_reference(group_size, shape, dtype):
    x = random_batch(shape, seed=10, dtype=dtype)

    out = np.asarray(ConvNetJSMaxout(group_size, dtype=dtype)(x))

    np.testing.assert_array_equal(out, maxout_reference(x, group_size))


def test_maxout_remainder_channel_dropped():
    x = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 100.0]])

    out = np.asarray(ConvNetJSMaxout(3, dtype="float64")(x))

    # Channel 6 is the largest, but 7 // 3 = 2 groups use channels 0-5 only.
    np.testing.assert_array_equal(out, [[2.0, 5.0]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(3,), (2, 2, 3), (1, 3, 1)], ids=["vector", "volume", "depth1"])
def test_quadtransform_matches_reference(shape, dtype):
    x = random_batch(shape, seed=11, dtype=dtype)

    out = np.asarray(ConvNetJSQuadTransform(dtype=dtype)(x))

    np.testing.assert_array_equal(out, quadtransform_reference(x))


def test_quadtransform_repeats_off_diagonal_products():
    out = np.asarray(ConvNetJSQuadTransform(dtype="float64")(np.array([[2.0, 3.0]])))

    # ConvNetJS 0.3.0 keeps both x0*x1 and x1*x0 instead of D*(D+1)/2 terms.
    np.testing.assert_array_equal(out, [[2.0, 3.0, 4.0, 6.0, 6.0, 9.0]])


@pytest.mark.parametrize("layer_class", [ConvNetJSSVM, ConvNetJSRegression])
def test_loss_layers_are_identity(layer_class):
    x = random_batch((4,), seed=12)

    np.testing.assert_array_equal(np.asarray(layer_class(dtype="float64")(x)), x)


@pytest.mark.parametrize("factory, message", [
    (lambda: ConvNetJSMaxPool(0), "pool_size must be a positive integer"),
    (lambda: ConvNetJSMaxPool(2, strides=0), "strides must be a positive integer"),
    (lambda: ConvNetJSMaxPool(2, pad=-1), "pad must be a non-negative integer"),
    (lambda: ConvNetJSDropout(1.5), "drop_prob must be between 0 and 1"),
    (lambda: ConvNetJSLocalResponseNorm(n=0), "n must be a positive integer"),
    (lambda: ConvNetJSMaxout(0), "group_size must be a positive integer"),
], ids=["pool_size_0", "strides_0", "pad_negative", "drop_prob_1_5", "lrn_n_0", "group_size_0"])
def test_invalid_arguments_raise(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()
