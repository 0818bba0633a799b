"""GNA 2.0 rules are checked before anything runs, and each error names the layer, the rule and
the limit."""
import numpy as np
import pytest

from gna.ir import (Convolution, Copy, ElementWiseAffine, FullyConnectedAffine, GnaModel, GnaModelError, Pwl,
                    Recurrent, Transposition)
from gna.model_io import load_model

PWL = Pwl(x_base=[-4, 0], y_base=[0, 0], slope=[0, 1])


def _fc(m=8, k=16, dtype=np.int16, **kw):
    return FullyConnectedAffine(np.zeros((m, k), dtype), np.zeros(m, np.int32), **kw)


CASES = [
    (lambda: [_fc(k=12)], "layer 0 (FullyConnectedAffine): inputs K is 12; GNA 2.0 takes 8..65528, a multiple of 8"),
    (lambda: [_fc(k=65536)], "inputs K is 65536; GNA 2.0 takes 8..65528"),
    (lambda: [_fc(batch=9)], "batch N is 9; GNA 2.0 takes 1..8"),
    (lambda: [_fc(dtype=np.int32)], "weights are int32; GNA 2.0 takes int16 or int8"),
    (lambda: [_fc(dtype=np.int8)], "int8 weights need a uint8 multiplier per row (8)"),
    (lambda: [_fc(multiplier=np.ones(8))], "a multiplier goes with int8 weights only"),
    (lambda: [FullyConnectedAffine(np.zeros((12, 8), np.int16), np.zeros((12, 2), np.int32), bias_index=0)],
     "outputs M with bias grouping is 12; GNA 2.0 takes 8..65535, a multiple of 8"),
    (lambda: [_fc(pwl=Pwl([0], [0], [0]))], "PWL has 1 segments; GNA 2.0 takes 2..128"),
    (lambda: [_fc(pwl=Pwl(np.arange(129) * 4, np.zeros(129), np.zeros(129)))], "PWL has 129 segments"),
    (lambda: [_fc(pwl=Pwl([8, 4], [0, 0], [0, 0]))], "PWL segment bases (x_base & ~3) must strictly increase"),
    (lambda: [ElementWiseAffine(np.zeros(12, np.int16), np.zeros(12, np.int32))], "elements M is 12"),
    (lambda: [Convolution(np.zeros((6, 8), np.int16), np.zeros(6, np.int32), 64)],
     "layer 0 (Convolution): filter count F is 6; GNA 2.0 takes 4..65532, a multiple of 4"),
    (lambda: [Convolution(np.zeros((4, 12), np.int16), np.zeros(4, np.int32), 64)], "filter size C is 12"),
    (lambda: [Convolution(np.zeros((4, 776), np.int16), np.zeros(4, np.int32), 1024)], "filter size C is 776"),
    (lambda: [Convolution(np.zeros((4, 8), np.int16), np.zeros(4, np.int32), 64, stride=9)], "stride is 9; GNA 2.0 takes 1..8"),
    (lambda: [Convolution(np.zeros((4, 8), np.int16), np.zeros(4, np.int32), 64, pooling="max", pwl=PWL, pool_window=7)],
     "pool window is 7; GNA 2.0 takes 1..6"),
    (lambda: [Convolution(np.zeros((4, 8), np.int16), np.zeros(4, np.int32), 64, pooling="sum")],
     "pooling needs a PWL activation on GNA 2.0"),
    (lambda: [Recurrent(np.zeros((48, 56), np.int16), np.zeros(48, np.int32), PWL)],
     "layer 0 (Recurrent): outputs M is 48; GNA 2.0 takes 32..65535, a multiple of 32"),
    (lambda: [Recurrent(np.zeros((32, 40), np.int16), np.zeros(32, np.int32), PWL, batch=2, delay=3)],
     "delay is 3; GNA 2.0 takes 1..2"),
    (lambda: [Copy((2, 16), (2, 16), rows=3, cols=8)], "copied rows is 3; GNA 2.0 takes 1..2"),
    (lambda: [Copy((2, 16), (2, 8), rows=1, cols=16)], "copied columns is 16; GNA 2.0 takes 8..8"),
    (lambda: [Transposition((16, 16))], "shape [16, 16]: one side must be 1..8"),
    (lambda: [_fc(), _fc()], "layer 1 (FullyConnectedAffine): its input is layer 0's int32 output"),
    (lambda: [_fc(pwl=PWL), _fc(k=24)], "layer 1 (FullyConnectedAffine): input [24, 1] holds a different number"),
    (lambda: [], "model: 0 operations; GNA 2.0 takes 1..4096"),
    (lambda: [_fc(m=8200, k=16384)], "model: needs 270905344 bytes of GNA memory; GNA 2.0 addresses 268435456"),
]


@pytest.mark.parametrize("ops, message", CASES, ids=[m[:40] for _, m in CASES])
def test_rule_violations_name_layer_rule_and_limit(ops, message):
    with pytest.raises(GnaModelError) as e:
        GnaModel(ops()).check()
    assert message in str(e.value)


def test_the_largest_legal_shapes_pass():
    GnaModel([_fc(m=1, k=65528, batch=8)]).check()
    GnaModel([_fc(m=65535, k=8, batch=8)]).check()
    GnaModel([Convolution(np.zeros((65532, 768), np.int16), np.zeros(65532, np.int32), 65528, stride=768)]).check()
    GnaModel([Recurrent(np.zeros((32, 65528 + 32), np.int16), np.zeros(32, np.int32), PWL, batch=8, delay=8)]).check()


def test_a_corrupt_model_file_is_a_clear_error(tmp_path):
    from common.errors import ConfigError

    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="is not a NumPy .npz archive"):
        load_model(tmp_path / "bad.npz")
    np.savez(tmp_path / "nojson.npz", weights=np.zeros(3))
    with pytest.raises(GnaModelError, match="not an npin GNA model"):
        load_model(tmp_path / "nojson.npz")


def test_every_ir_operation_is_registered_with_a_random_case_the_conformance_draws():
    """The registry is the one place an operation lives: each IR class must have its OpSpec, and
    each OpSpec at least one random case that `npin gna conformance` can draw."""
    import numpy as np

    from gna.ir import OPERATIONS
    from gna.ops import REGISTRY
    from gna.random_models import KINDS, random_case

    assert set(REGISTRY) == set(OPERATIONS)
    for cls, spec in REGISTRY.items():
        assert spec.random_cases and set(spec.random_cases) <= set(KINDS), cls.__name__
        for kind in spec.random_cases:
            _, model, _ = random_case(np.random.default_rng(0), kind)
            assert any(isinstance(op, cls) for op in model.operations), (cls.__name__, kind)
