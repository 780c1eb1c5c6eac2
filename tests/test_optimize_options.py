"""OptimizeOptions: parsing of --prune, and the cross-field errors (messages pinned: they name the flag and the fix)."""

import pytest

from edgekit.errors import ConfigError
from edgekit.options.optimize import DEFAULT_LR_PRUNE, DEFAULT_LR_QAT, OptimizeOptions
from tests.conftest import run_cli


def make(**kw):
    return OptimizeOptions.from_flags(**kw)


def test_prune_parses_sparsity_percent_and_n_m(tmp_path):
    data = tmp_path / "train.npz"
    assert make(prune="0.5", train_data=data).prune == 0.5
    assert make(prune="75%", train_data=data).prune == 0.75
    o = make(prune=" 2:4 ", train_data=data)
    assert o.prune == (2, 4) and o.prune_label == "2:4" and o.active
    assert make().active is False


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"prune": "1.5", "train_data": "t.npz"}, "--prune 1.5: the sparsity must be between 0 and 1 (exclusive), e.g. --prune 0.5"),
        ({"prune": "0", "train_data": "t.npz"}, "--prune 0: the sparsity must be between 0 and 1"),
        ({"prune": "4:2", "train_data": "t.npz"}, "--prune 4:2: N:M keeps N of every M weights and needs 0 < N < M, e.g. --prune 2:4"),
        ({"prune": "half", "train_data": "t.npz"}, "--prune 'half': expected a sparsity such as 0.5"),
        ({"qat": True}, "--qat fine-tunes the model and needs --train-data FILE.npz"),
        ({"prune": "0.5"}, "--prune fine-tunes the model and needs --train-data FILE.npz"),
        ({"prune": "2:4", "qat": True}, "--prune and --qat fine-tune the model and need --train-data"),
        ({"prune_include": ("conv*",)}, "--prune-include/--prune-exclude choose which layers to prune: add --prune"),
        ({"train_data": "t.npz"}, "--train-data is only used to fine-tune for --prune or --qat: add one of them, or drop it"),
        ({"qat": True, "train_data": "t.npz", "epochs": 0}, "--epochs 0: fine-tuning needs at least 1 epoch"),
        ({"qat": True, "train_data": "t.npz", "batch_size": 0}, "--batch-size 0: must be at least 1"),
        ({"qat": True, "train_data": "t.npz", "learning_rate": -1.0}, "--learning-rate -1: must be > 0"),
    ],
)
def test_bad_combinations_name_the_flag_and_the_fix(flags, message):
    with pytest.raises(ConfigError) as exc:
        make(**flags)
    assert message in str(exc.value)


def test_learning_rate_defaults_per_phase():
    o = make(prune="0.5", qat=True, train_data="t.npz")
    assert o.lr_for("prune") == DEFAULT_LR_PRUNE and o.lr_for("qat") == DEFAULT_LR_QAT
    assert make(qat=True, train_data="t.npz", learning_rate=0.01).lr_for("prune") == 0.01
    assert o.describe()["learning_rate"] == {"prune": DEFAULT_LR_PRUNE, "qat": DEFAULT_LR_QAT}


def test_options_are_frozen():
    o = make(qat=True, train_data="t.npz")
    with pytest.raises(Exception):
        o.qat = False


def test_cli_maps_a_bad_combination_to_exit_2(tmp_path):
    r = run_cli("convert", tmp_path / "missing.keras", "--target", "rpi", "--qat")
    assert r.returncode == 2
    assert "--qat fine-tunes the model and needs --train-data" in " ".join(r.stderr.split())
