"""The analog front-end's physics follows the pulses as driven: the width the harness measured
for each slot scales its devices' steps (nominal slots: the golden model's one call)."""

import numpy as np
from insitu.golden.config import ControllerConfig
from insitu.sim.frontend import AnalogFrontEnd

CFG = ControllerConfig(rows=3, cols=2, pulse_width=2)
WB = 3  # the harness's WIDTH_BITS for pulse_width 2


class Physics:
    def __init__(self):
        self.calls = []

    def apply_counts(self, n, row0, col0, width=1.0):
        self.calls.append((n[0].tolist(), width))


def _front_end():
    return AnalogFrontEnd(None, CFG, Physics(), slot_depth=8, mux_bits=1, width_bits=WB)


def _slot(rows, cols, negative, width_before):
    bits = list(rows) + list(cols) + [negative] + [(width_before >> b) & 1 for b in range(WB)]
    return np.array(bits, dtype=np.uint8)


def test_nominal_pulses_are_one_golden_call():
    fe = _front_end()
    slots = np.stack([_slot([1, 0, 1], [1, 1], 0, 5), _slot([0, 1, 0], [1, 0], 1, 2)])
    _, _, _, counts = fe.apply_burst(slots, 2)
    assert counts.tolist() == [[1, 1], [-1, 0], [1, 1]]
    assert fe.physics.calls == [(counts.tolist(), 1.0)] and fe.off_width_bursts == 0


def test_each_width_is_applied_with_its_own_scale():
    fe = _front_end()
    # widths (each entry names the slot before it; the last slot's comes at the burst end):
    # 3, 2, 3 ticks; a slot without any column fired (width 0) moves nothing
    slots = np.stack([_slot([1, 0, 0], [1, 0], 0, 7), _slot([0, 1, 0], [0, 1], 0, 3),
                      _slot([1, 1, 0], [0, 0], 0, 2), _slot([0, 0, 1], [1, 1], 1, 0)])
    assert fe.burst_widths(slots, 3).tolist() == [3, 2, 0, 3]
    _, _, _, counts = fe.apply_burst(slots, 3)
    assert fe.physics.calls == [([[1, 0], [0, 0], [-1, -1]], 1.5),
                                ([[0, 0], [0, 1], [0, 0]], 1.0)]
    assert counts.tolist() == [[1, 0], [0, 1], [-1, -1]] and fe.off_width_bursts == 1
