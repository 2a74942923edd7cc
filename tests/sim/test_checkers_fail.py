"""The co-simulation's checkers, seen failing: ``training.compare`` and the slot scoreboard
each get a planted difference and must name it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from insitu.golden.config import ControllerConfig
from insitu.golden.controller import ControllerReference
from insitu.sim import training
from insitu.sim.scoreboard import SlotScoreboard, schedule_arrays


@pytest.fixture(scope="module")
def record():
    p = training.with_data({"model": "iris", "samples": 2, "seed": 0})
    return training.golden_run(p)


def test_identical_records_compare_equal(record):
    assert training.compare(record, copy.deepcopy(record)) == []


def test_compare_names_a_changed_adc_code(record):
    rtl = copy.deepcopy(record)
    rtl["reads"][3][2] += 1
    first = training.compare(record, rtl)[0]
    step = [i for i, s in enumerate(record["steps"]) if s in "ft"][3]
    assert first.startswith(f"step {step}: ") and "ADC read 3, code 2: golden " in first


def test_compare_names_a_changed_pulse_count(record):
    rtl = copy.deepcopy(record)
    k = next(i for i, b in enumerate(record["bursts"]) if b)
    r, c, n = rtl["bursts"][k][0]
    rtl["bursts"][k][0] = [r, c, n + 1]
    first = training.compare(record, rtl)[0]
    assert f"pulse burst {k}, device ({r}, {c}): golden {n} pulses, rtl {n + 1}" in first


def test_compare_names_a_missing_read_and_a_changed_conductance(record):
    rtl = copy.deepcopy(record)
    rtl["reads"].pop()
    g = np.array(rtl["g"])
    g[1, 2, 3] += 1e-9
    rtl["g"] = g.tolist()
    diffs = training.compare(record, rtl)
    assert any("only in the golden run" in d for d in diffs)
    assert diffs[-1].startswith("final conductance of pair 1, device (2, 3): golden ")


def scoreboard_with_one_update():
    cfg = ControllerConfig(rows=4, cols=3)
    ref = ControllerReference(cfg)
    plan = ref.plan_update(np.array([120, -100, 0, 90]), np.array([110, 0, -127]),
                           mode="deterministic", row_gain=cfg.count_max, col_gain=cfg.count_max,
                           dither=False)
    sb = SlotScoreboard(cfg)
    sb.expect_update(ref, plan, 0, 0)
    pol, rows, cols = schedule_arrays(ref, plan)
    assert len(pol) > 1
    return sb, np.array(pol), np.array(rows, dtype=bool), np.array(cols, dtype=bool)


def test_scoreboard_accepts_the_expected_burst():
    sb, pol, rows, cols = scoreboard_with_one_update()
    sb.burst(pol, rows, cols, np.zeros(1))
    sb.check()


@pytest.mark.parametrize("plant, word", [
    ("polarity", "burst 1 slot 0: expected pol"),
    ("row", "burst 1 slot"),
    ("extra slot", "expected"),
    ("missing", "expected bursts never came"),
    ("unexpected", "unexpected pulse slots"),
])
def test_scoreboard_names_a_planted_difference(plant, word):
    sb, pol, rows, cols = scoreboard_with_one_update()
    if plant == "polarity":
        pol = pol.copy()
        pol[0] = -pol[0] if pol[0] != 0 else 1
    elif plant == "row":
        rows = rows.copy()
        rows[-1, 2] = not rows[-1, 2]
    elif plant == "extra slot":
        pol, rows, cols = (np.concatenate([a, a[-1:]]) for a in (pol, rows, cols))
    if plant != "missing":
        sb.burst(pol, rows, cols, np.zeros(1))
    if plant == "unexpected":
        sb.burst(pol, rows, cols, np.zeros(1))
    with pytest.raises(AssertionError, match="slot scoreboard: .*" + word.replace("(", r"\(")):
        sb.check()
