"""The Keras model: the seed's architecture, deterministic training, history, safe save and load."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from mnist_ann.core.errors import DataError
from mnist_ann.core.mnist import preprocess
from mnist_ann.training.errors import TrainingError
from mnist_ann.training.model import (
    EpochEnd,
    build_model,
    epoch_table,
    fit,
    keras,
    load_model,
    make_deterministic,
    save_model,
    summary,
    targets,
)

SEED_RECIPE = dict(
    hidden_units=(256, 128, 64, 32),
    activation="relu",
    optimizer="adam",
    learning_rate=0.01,
    loss="categorical_crossentropy",
)


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    x = preprocess(rng.integers(0, 256, (96, 28, 28), dtype=np.uint8))
    y = rng.integers(0, 10, 96).astype(np.uint8)
    return x[:64], y[:64], x[64:], y[64:]


def small_model(seed=0, **overrides):
    make_deterministic(seed)
    return build_model(**{**SEED_RECIPE, "hidden_units": (16, 8), **overrides})


def test_architecture_is_the_seeds():
    model = build_model(**SEED_RECIPE)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [256, 128, 64, 32, 10]
    assert [layer.activation.__name__ for layer in dense] == ["relu"] * 4 + ["softmax"]
    assert model.input_shape == (None, 784) and model.output_shape == (None, 10)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert model.loss == "categorical_crossentropy"
    assert model.count_params() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    assert "mnist_ann" in summary(model)


def test_history_has_one_value_per_epoch(tiny):
    seen = []
    history = fit(
        small_model(),
        tiny[:2],
        tiny[2:],
        batch_size=16,
        epochs=3,
        validation_freq=1,
        callbacks=[EpochEnd(lambda metrics, epoch: seen.append((epoch, sorted(metrics))))],
    )
    assert {name: len(values) for name, values in history.items()} == {
        "accuracy": 3,
        "loss": 3,
        "val_accuracy": 3,
        "val_loss": 3,
    }
    assert [epoch for epoch, _ in seen] == [1, 2, 3]
    assert seen[0][1] == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_validation_frequency_leaves_gaps(tiny):
    history = fit(small_model(), tiny[:2], tiny[2:], batch_size=16, epochs=4, validation_freq=2)
    assert len(history["val_loss"]) == 2
    table = epoch_table(history, validation_freq=2)
    assert [row["epoch"] for row in table] == [1, 2, 3, 4]
    assert [row["val_loss"] is None for row in table] == [True, False, True, False]
    assert table[3]["val_loss"] == history["val_loss"][1]


def test_same_seed_same_weights_other_seed_other_weights(tiny):
    def trained_weights(seed):
        model = small_model(seed)
        fit(model, tiny[:2], tiny[2:], batch_size=16, epochs=2, validation_freq=1)
        return model.get_weights()

    first, again, other = trained_weights(7), trained_weights(7), trained_weights(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_fit_leaves_one_step_per_execution(tiny):
    model = small_model()
    fit(model, tiny[:2], tiny[2:], batch_size=16, epochs=1, validation_freq=1)
    assert model.steps_per_execution == 1


def test_sparse_loss_trains_on_digit_labels(tiny):
    assert targets(tiny[1], "sparse_categorical_crossentropy").shape == (64,)
    assert targets(tiny[1], "categorical_crossentropy").shape == (64, 10)
    history = fit(
        small_model(loss="sparse_categorical_crossentropy"),
        tiny[:2],
        tiny[2:],
        batch_size=16,
        epochs=1,
        validation_freq=1,
    )
    assert np.isfinite(history["loss"][0])


def test_mismatched_counts_are_named(tiny):
    x, y, x_val, y_val = tiny
    with pytest.raises(DataError, match="training set has 64 images but 63 labels"):
        fit(small_model(), (x, y[:-1]), (x_val, y_val), batch_size=16, epochs=1, validation_freq=1)


def test_save_load_round_trip(tiny, tmp_path):
    model = small_model()
    fit(model, tiny[:2], tiny[2:], batch_size=16, epochs=1, validation_freq=1)
    save_model(model, tmp_path / "model.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]
    loaded = load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(loaded.predict(tiny[2], verbose=0), model.predict(tiny[2], verbose=0))


def test_two_trainings_of_one_recipe_save_the_same_bytes(tiny, tmp_path):
    """Issue 13: Keras writes the save date, the zip entries' times and Python object addresses
    (shared_object_id) into every .keras file, so dvc.lock changed on every `make repro` and DVC
    reran the stages after train for nothing. Two models trained alike, saved 2 s apart."""
    for name in ("first", "second"):
        keras.backend.clear_session()  # layer names as a fresh process (a stage) gives them
        model = small_model()
        fit(model, tiny[:2], tiny[2:], batch_size=16, epochs=1, validation_freq=1)
        save_model(model, tmp_path / f"{name}.keras")
        time.sleep(2.1)  # a zip entry's time has a 2 s resolution
    assert (tmp_path / "first.keras").read_bytes() == (tmp_path / "second.keras").read_bytes()
    loaded = load_model(tmp_path / "second.keras")
    np.testing.assert_array_equal(loaded.predict(tiny[2], verbose=0), model.predict(tiny[2], verbose=0))


def test_safe_mode_refuses_a_lambda_layer(tmp_path):
    unsafe = keras.Sequential([keras.Input((784,)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Dense(10)])
    unsafe.save(tmp_path / "lambda.keras")
    with pytest.raises(DataError, match=r"lambda.keras: cannot load the Keras model: .*(unsafe|safe_mode)"):
        load_model(tmp_path / "lambda.keras")


@pytest.mark.parametrize("content", [b"", b"not a zip"])
def test_unreadable_model_file_is_named(tmp_path, content):
    (tmp_path / "model.keras").write_bytes(content)
    with pytest.raises(DataError, match="model.keras: cannot load the Keras model"):
        load_model(tmp_path / "model.keras")


def _with_config(source, target, edit):
    """The .keras archive `source` with its config.json passed through `edit` (text -> text)."""
    import zipfile

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            new.writestr(item, edit(data.decode()).encode() if item.filename == "config.json" else data)
    return target


def _hostile_configs():
    import json

    def units(value):
        def edit(text):
            config = json.loads(text)
            config["config"]["layers"][1]["config"]["units"] = value
            return json.dumps(config)

        return edit

    return {
        "units-a-string": units("many"),
        "units-huge": units(2**31),
        "deeply-nested": lambda text: text[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "wrong-types": lambda text: text.replace('"class_name": "Sequential"', '"class_name": 7'),
        "layers-a-number": lambda text: json.dumps({**json.loads(text), "config": {"layers": 5}}),
    }


@pytest.mark.parametrize("kind", sorted(_hostile_configs()))
def test_a_hostile_keras_config_is_one_line_and_allocates_nothing(tmp_path, kind):
    """Issue 26 (16): safe mode held (no code ran), but wrong config types, deeply nested JSON and
    huge `units` gave TypeError, RecursionError and ResourceExhaustedError tracebacks."""
    save_model(small_model(), tmp_path / "good.keras")
    hostile = _with_config(tmp_path / "good.keras", tmp_path / f"{kind}.keras", _hostile_configs()[kind])
    with pytest.raises(DataError, match=rf"{kind}.keras: cannot load the Keras model: ") as refused:
        load_model(hostile)
    assert "\n" not in str(refused.value)


def test_cosine_schedule_decays_to_zero(tiny):
    model = small_model(lr_schedule="cosine", total_steps=8)
    fit(model, tiny[:2], tiny[2:], batch_size=16, epochs=2, validation_freq=1)  # 4 batches an epoch: 8 steps
    assert int(model.optimizer.iterations) == 8
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    constant = small_model()
    fit(constant, tiny[:2], tiny[2:], batch_size=16, epochs=2, validation_freq=1)
    assert float(constant.optimizer.learning_rate) == pytest.approx(0.01)


def test_diverging_training_fails_by_name(tiny):
    """Issue 11: `learning_rate: 1e300` trained a NaN model to exit 0; only the export gate stopped it."""
    model = small_model(optimizer="sgd", learning_rate=1e30)
    with pytest.raises(TrainingError, match=r"training diverged: the loss became (nan|inf) in epoch 1; lower the"):
        fit(model, tiny[:2], tiny[2:], batch_size=16, epochs=3, validation_freq=1)


def test_keras_starts_without_the_extras_it_does_not_need():
    """Keras started as the stages start it (harness.start_keras), then the model module, in a fresh
    process, loads none of KERAS_EXTRAS, and each of them still imports afterwards for whoever needs
    it (the plots, MLflow). Importing the model module alone changes nothing in the process."""
    import subprocess
    import sys

    from mnist_ann.training.harness import KERAS_EXTRAS

    probe = (
        "import sys, importlib\nfrom mnist_ann.training.harness import start_keras\n"
        "start_keras()\nimport mnist_ann.training.model\n"
        f"print(sorted(m for m in {KERAS_EXTRAS!r} if m in sys.modules))\n"
        f"print([importlib.import_module(m).__name__ for m in {KERAS_EXTRAS!r}])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["[]", repr(list(KERAS_EXTRAS))]
    untouched = "import os\nimport mnist_ann.training.model\nprint(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    result = subprocess.run([sys.executable, "-c", untouched], capture_output=True, text=True, timeout=120, env={
        k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})  # fmt: skip
    assert result.stdout.strip() == "None", result.stderr[-2000:]


def test_distorted_training_asks_for_each_epochs_images_once_and_is_deterministic(tiny):
    """`distort` is called once per epoch, in order, on the training images; the same seed gives
    the same weights; the distorted images are what is trained on (other weights than plain)."""
    asked = []

    def flipped(images, epoch, order):
        asked.append((epoch, images.shape))
        assert sorted(order) == list(range(len(images)))  # the epoch's shuffle
        return images[order, ::-1].copy()

    def weights(**kwargs):
        model = small_model()
        history = fit(model, tiny[:2], tiny[2:], batch_size=16, epochs=3, validation_freq=1, **kwargs)
        assert len(history["loss"]) == len(history["val_accuracy"]) == 3
        return model.get_weights()

    first = weights(distort=flipped, seed=4)
    assert asked == [(0, (64, 784)), (1, (64, 784)), (2, (64, 784))]
    assert all(np.array_equal(a, b) for a, b in zip(first, weights(distort=flipped, seed=4)))
    assert not all(np.array_equal(a, b) for a, b in zip(first, weights()))
    # the shuffle comes from the seed: the same images in another order train other weights
    assert not all(np.array_equal(a, b) for a, b in zip(first, weights(distort=flipped, seed=5)))
