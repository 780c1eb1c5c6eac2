"""Real multi-input and streaming models for the multi-IO tests, trained here in seconds on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def digits_two_inputs(folder: Path, seed: int = 0):
    """sklearn digits as two inputs: the 8x8 image and an engineered 16-vector (row and column ink sums).
    Returns (model path, train npz, test npz, Keras test accuracy)."""
    import keras
    from sklearn.datasets import load_digits

    keras.utils.set_random_seed(seed)
    d = load_digits()
    img = (d.images / 16.0).astype(np.float32)[..., None]
    feats = np.concatenate([img[..., 0].sum(1), img[..., 0].sum(2)], axis=1).astype(np.float32) / 8.0
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    tr, te = perm[:1400], perm[1400:]
    a = keras.Input((8, 8, 1), name="image")
    b = keras.Input((16,), name="features")
    h = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(a)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    g = keras.layers.Dense(16, activation="relu")(b)
    z = keras.layers.Concatenate()([h, g])
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Dense(32, activation="relu")(z))
    m = keras.Model([a, b], out)
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit([img[tr], feats[tr]], y[tr], epochs=15, batch_size=32, verbose=0)
    acc = float(m.evaluate([img[te], feats[te]], y[te], verbose=0)[1])
    path = folder / "digits2.keras"
    m.save(path)
    np.savez(folder / "train.npz", image=img[tr], features=feats[tr], y=y[tr])
    np.savez(folder / "test.npz", image=img[te], features=feats[te], y=y[te])
    return path, folder / "train.npz", folder / "test.npz", acc


# ---------------------------------------------------------------- a streaming voice-activity model

SR, FRAME, BANDS, HIDDEN = 16000, 160, 16, 24  # 10 ms frames at 16 kHz
SENTENCES = [
    "the quick brown fox jumps over the lazy dog", "edge devices run small models", "turn the lights on please",
    "what is the weather like today", "seven eight nine ten", "hello there how are you",
    "quantization keeps the model small", "stream the audio frame by frame",
]


def speech(folder: Path, seed: int = 0) -> list[np.ndarray]:
    """Real synthesized speech: espeak-ng (several voices and speeds) resampled to 16 kHz mono by sox."""
    import subprocess

    out = []
    for k, text in enumerate(SENTENCES):
        wav, raw = folder / f"s{k}.wav", folder / f"s{k}.raw"
        voice = ["en", "en-us", "en+f3", "en+m3"][k % 4]
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(140 + 15 * (k % 3)), "-w", str(wav), text], check=True,
                       capture_output=True)
        subprocess.run(["sox", str(wav), "-r", str(SR), "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw",
                        str(raw)], check=True, capture_output=True)
        out.append(np.fromfile(raw, dtype="<i2").astype(np.float32) / 32768.0)
    return out


def features(audio: np.ndarray) -> np.ndarray:
    """(frames, BANDS) log band energies of 10 ms frames (Hann window, rfft, equal-width bands)."""
    n = len(audio) // FRAME
    frames = audio[: n * FRAME].reshape(n, FRAME) * np.hanning(FRAME)
    power = np.abs(np.fft.rfft(frames, axis=1)[:, 1:81]) ** 2
    return np.log10(power.reshape(n, BANDS, -1).sum(2) + 1e-6).astype(np.float32)


def vad_sequences(clips: list[np.ndarray], n: int, frames: int, seed: int):
    """``n`` sequences of ``frames`` frames: noise, a random stretch of a speech clip mixed in at a random
    level and place. Returns (features (n, frames, BANDS), per-frame labels (n, frames))."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        total = frames * FRAME
        noise = rng.normal(0, rng.uniform(0.002, 0.02), total).astype(np.float32)
        clip = clips[rng.integers(len(clips))]
        length = int(min(len(clip), rng.integers(total // 4, 3 * total // 4)))
        start_clip = rng.integers(0, max(1, len(clip) - length))
        at = rng.integers(0, total - length)
        voice = np.zeros(total, np.float32)
        voice[at : at + length] = clip[start_clip : start_clip + length] * rng.uniform(0.3, 1.0)
        energy = (voice[: frames * FRAME].reshape(frames, FRAME) ** 2).mean(1)
        xs.append(features(voice + noise))
        ys.append((energy > 1e-4).astype(np.int64))
    return np.stack(xs), np.stack(ys)


def _layers():
    import keras

    return (keras.layers.Dense(HIDDEN, activation="sigmoid", name="gate"),
            keras.layers.Dense(HIDDEN, activation="tanh", name="cand"),
            keras.layers.Dense(1, activation="sigmoid", name="prob"))


def _step(layers, frame, state, name=None):
    import keras

    gate, cand, prob = layers
    scaled = keras.layers.Rescaling(0.25, offset=1.0)(frame)  # log10 energies of -6..2 -> about -0.5..1.5
    both = keras.layers.Concatenate()([scaled, state])
    z, c = gate(both), cand(both)
    new = keras.layers.Add(name=name)([state, keras.layers.Multiply()([z, keras.layers.Subtract()([c, state])])])
    return prob(new), new


def vad_model(folder: Path, seed: int = 0, epochs: int = 60):
    """A minimal-GRU voice-activity model over real speech: trained unrolled over 20-frame windows, saved as
    a one-step Keras model (frame, state) -> (prob, new_state). Returns (path, sequences x, labels y)."""
    import keras

    keras.utils.set_random_seed(seed)
    clips = speech(folder, seed)
    x, y = vad_sequences(clips, 96, 60, seed)
    layers = _layers()
    win = 20
    frames_in = keras.Input((win, BANDS))
    state = keras.layers.Lambda(lambda t: t[:, 0, :1] * 0.0)(frames_in)
    state = keras.layers.Concatenate()([state] * HIDDEN)
    probs = []
    for t in range(win):
        frame = keras.layers.Lambda(lambda v, t=t: v[:, t])(frames_in)
        p, state = _step(layers, frame, state)
        probs.append(p)
    train = keras.Model(frames_in, keras.layers.Concatenate()(probs))
    train.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    xw = x[:, :win * (x.shape[1] // win)].reshape(-1, win, BANDS)
    yw = y[:, :win * (y.shape[1] // win)].reshape(-1, win).astype(np.float32)
    train.fit(xw, yw, epochs=epochs, batch_size=32, verbose=0)
    f_in, s_in = keras.Input((BANDS,), name="frame"), keras.Input((HIDDEN,), name="state")
    p, new = _step(layers, f_in, s_in, name="new_state")
    step = keras.Model([f_in, s_in], [p, new])
    path = folder / "vad.keras"
    step.save(path)
    return path, x, y


def vad_onnx(keras_path: Path, out: Path) -> Path:
    """The VAD step as ONNX (tf2onnx), wrapped with onnx.helper: inputs ``frame``, ``state`` and a sample
    rate ``sr`` (int64 [1]) driving an ``If`` that picks the feature offset for 16 kHz or 8 kHz audio;
    outputs ``prob`` and ``new_state``."""
    import keras
    import onnx
    import tensorflow as tf
    import tf2onnx
    from onnx import TensorProto, helper

    m = keras.models.load_model(keras_path)
    spec = [tf.TensorSpec((1, BANDS), tf.float32, name="frame"), tf.TensorSpec((1, HIDDEN), tf.float32, name="state")]

    @tf.function(input_signature=spec)
    def step(frame, state):
        p, s = m([frame, state])
        return {"prob": p, "new_state": s}

    proto, _ = tf2onnx.convert.from_function(step, input_signature=spec, opset=17)
    g = proto.graph
    frame_in = next(i for i in g.input if "frame" in i.name)
    for n in g.node:  # the model now reads the rescaled frame
        for k, name in enumerate(n.input):
            if name == frame_in.name:
                n.input[k] = "frame_16k"
    frame_in.name = "frame"
    for i in g.input:
        i.name = "state" if "state" in i.name else i.name
        for n in g.node:
            for k, name in enumerate(n.input):
                if name == "state:0":
                    n.input[k] = "state"

    def branch(name: str, value: float):
        t = helper.make_tensor("v", TensorProto.FLOAT, [1], [value])
        return helper.make_graph([helper.make_node("Constant", [], [f"offset_{name}"], value=t)], name, [],
                                 [helper.make_tensor_value_info(f"offset_{name}", TensorProto.FLOAT, [1])])

    g.initializer.append(helper.make_tensor("sr16k", TensorProto.INT64, [1], [SR]))
    g.node.insert(0, helper.make_node("Equal", ["sr", "sr16k"], ["is16k"]))
    # 8 kHz audio has half the samples per 10 ms frame: its band energies are about log10(4) lower
    g.node.insert(1, helper.make_node("If", ["is16k"], ["offset"], then_branch=branch("then", 0.0),
                                      else_branch=branch("else", float(np.log10(4.0)))))
    g.node.insert(2, helper.make_node("Add", ["frame", "offset"], ["frame_16k"]))
    g.input.append(helper.make_tensor_value_info("sr", TensorProto.INT64, [1]))
    onnx.checker.check_model(proto)
    onnx.save(proto, out)
    return out
