"""Float-equivalent rewrites before QAT: BatchNorm folding, separable split, activation split (numerically checked)."""

import numpy as np
import pytest

from edgekit._lazy import keras
from edgekit.optimize import fold


def _randomize_bn(model, seed=0):
    """Trained-looking BatchNorm statistics (an untrained BN is the identity and would hide folding bugs)."""
    rng = np.random.default_rng(seed)
    K = keras()
    for layer in model.layers if not hasattr(model, "_flatten_layers") else model._flatten_layers(include_self=False):
        if isinstance(layer, K.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.gamma.assign(rng.uniform(0.2, 3.0, n).astype(np.float32))
            layer.beta.assign(rng.normal(0, 0.5, n).astype(np.float32))
            layer.moving_mean.assign(rng.normal(0, 0.5, n).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.05, 4.0, n).astype(np.float32))


def _bn_count(model):
    K = keras()
    return sum(isinstance(layer, K.layers.BatchNormalization) for layer in model._flatten_layers(include_self=False))


def _mobilenet_like():
    K = keras()
    L = K.layers
    i = K.Input((16, 16, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(i)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(6.0)(x)
    y = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False, name="dw")(x)
    y = L.BatchNormalization(name="dw_bn")(y)
    y = L.ReLU()(y)
    y = L.SeparableConv2D(8, 3, padding="same", name="sep")(y)
    y = L.BatchNormalization(name="sep_bn")(y)
    x = L.Add()([x, y])
    x = L.BatchNormalization(name="after_add_bn")(x)  # follows an Add: cannot fold
    x = L.Conv2D(12, 1, activation="swish", name="swish_conv")(x)  # TFLite cannot fuse swish: split off
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dense(16, name="fc")(x)
    x = L.BatchNormalization(name="fc_bn")(x)
    return K.Model(i, L.Dense(5, activation="softmax", name="probs")(x))


def test_prepare_is_numerically_equivalent_and_folds_what_tflite_fuses():
    model = _mobilenet_like()
    _randomize_bn(model)
    x = np.random.default_rng(1).normal(size=(16, 16, 16, 3)).astype(np.float32)
    prepared, report = fold.prepare(model)
    ref, got = np.asarray(model(x)), np.asarray(prepared(x))
    assert np.abs(ref - got).max() < 1e-5
    folded = {(r["into"], r["batchnorm"]) for r in report["batchnorm_folded"]}
    assert folded == {("stem", "stem_bn"), ("dw", "dw_bn"), ("sep_pw", "sep_bn"), ("fc", "fc_bn")}
    assert report["separable_split"] == ["sep"]
    assert set(report["activations_split"]) == {"swish_conv", "probs"}
    assert report["batchnorm_as_depthwise"] == ["after_add_bn"]  # follows an Add: a 1x1 depthwise instead
    assert _bn_count(model) == 5 and _bn_count(prepared) == 0
    names = {layer.name for layer in prepared.layers}
    assert {"sep_dw", "sep_pw", "probs_softmax", "after_add_bn_dw"} <= names and any(n.startswith("swish_conv_") for n in names)
    # the user's model is untouched
    assert np.array_equal(np.asarray(model(x)), ref)


def test_sequential_and_nested_models_are_rewritten():
    K = keras()
    L = K.layers
    block = K.Sequential([K.Input((8, 8, 4)), L.Conv2D(4, 3, padding="same", use_bias=False), L.BatchNormalization()],
                         name="block")
    seq = K.Sequential([K.Input((8, 8, 2)), L.Conv2D(4, 1, name="c1"), L.BatchNormalization(name="bn1"), L.ReLU(),
                        block, L.Flatten(), L.Dense(3)])
    _randomize_bn(seq, seed=3)
    x = np.random.default_rng(2).normal(size=(4, 8, 8, 2)).astype(np.float32)
    prepared, report = fold.prepare(seq)
    assert np.abs(np.asarray(seq(x)) - np.asarray(prepared(x))).max() < 1e-5
    assert len(report["batchnorm_folded"]) == 2  # the nested block was inlined and folded too
    assert _bn_count(prepared) == 0


def test_bn_is_not_folded_into_a_conv_with_two_consumers():
    K = keras()
    L = K.layers
    i = K.Input((6, 6, 2))
    c = L.Conv2D(3, 3, padding="same", name="shared_out")(i)
    b = L.BatchNormalization(name="bn")(c)
    model = K.Model(i, L.Add()([c, b]))
    _randomize_bn(model, seed=5)
    prepared, report = fold.prepare(model)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype(np.float32)
    assert report["batchnorm_folded"] == [] and report["batchnorm_as_depthwise"] == ["bn"]
    assert np.abs(np.asarray(model(x)) - np.asarray(prepared(x))).max() < 1e-5


@pytest.mark.parametrize("kind", ["conv", "depthwise", "dense"])
def test_kind_of(kind):
    L = keras().layers
    layer = {"conv": L.Conv2D(2, 1), "depthwise": L.DepthwiseConv2D(3), "dense": L.Dense(2)}[kind]
    assert fold.kind_of(layer) == kind
    assert fold.kind_of(L.Conv2DTranspose(2, 3)) is None and fold.kind_of(L.ReLU()) is None
