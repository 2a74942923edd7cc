"""The chip's neuron stage between the columns and the converters (golden/neuron_stage.py)."""

import numpy as np
import pytest
from insitu.golden import presets
from insitu.golden.backends import GoldenBackend, IdealBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.neuron_stage import NeuronStage, NeuronWindow, pack_words, unpack_words
from insitu.golden.neurons import LIFParams
from insitu.golden.periphery import PeripheryParams
from insitu.golden.snn import LatencyCode, SpikingNet, attach_neurons, model_forward, snn_layout_config
from snn_harness import deviation_from_model, random_weights

SIZES = (6, 5, 3)
GAINS = (3.0, 2.0)


def _chip(lif, *, chip=True, periphery=None, seed=0, array=None, **cfg):
    config = snn_layout_config(SIZES, **cfg)
    if array is not None:  # a larger array than the network needs
        config = ControllerConfig(**{**config.to_dict(), "rows": array[0], "cols": array[1]})
    be = GoldenBackend(config, presets.ideal, periphery, seed=seed)
    if chip:
        attach_neurons(be, SIZES, lif, syn_gain=GAINS, seed=seed)
    return SpikingNet(be, SIZES, lif, LatencyCode(steps=12), syn_gain=GAINS, seed=seed)


def test_words_carry_membrane_code_and_spike_flag():
    codes = np.array([-127, -1, 0, 5, 127])
    spikes = np.array([0, 1, 0, 1, 1], dtype=bool)
    w = pack_words(codes, spikes)
    got_c, got_s = unpack_words(w)
    np.testing.assert_array_equal(got_c, codes)
    np.testing.assert_array_equal(got_s, spikes)


def test_neurons_integrate_the_analog_current_in_front_of_the_converter():
    """Chip neurons follow the host's float model (to the readout LSB) whatever the column
    ADC's resolution; neurons behind the converter (the planted fault: the host-side neurons
    integrating ADC codes) do not once the converter is coarse."""
    lif = LIFParams(readout_bits=16, readout_range=64.0)
    coarse = PeripheryParams(out_bound=200.0)  # ADC LSB 0.4 weight units at adc_bits 10
    w = random_weights(SIZES)
    x = np.random.default_rng(1).uniform(0, 1, (4, 6))
    rasters = LatencyCode(steps=12).encode(x)
    chip = _chip(lif, periphery=coarse, adc_bits=17)
    host = _chip(lif, chip=False, periphery=coarse, adc_bits=10)
    for n in (chip, host):
        n.program(w)
    model = model_forward([n.layer_weights(l)[0] for l, n in enumerate((chip, chip))],
                          rasters, lif, GAINS)
    worst, wrong, spiked = deviation_from_model(chip, rasters, model)
    assert worst <= lif.readout_lsb / 2 + 1e-9 and wrong == 0
    assert spiked > 0
    host_err, _, _ = deviation_from_model(host, rasters, model)
    assert host_err > 0.1  # ADC-quantised input: off by more than 0.1 threshold


def test_state_persists_from_read_to_read_and_resets():
    lif = LIFParams(readout_bits=8, readout_range=8.0)
    net = _chip(lif)
    net.program([np.full((6, 5), 0.1), np.full((5, 3), 0.1)])
    be = net.backend
    x = np.full((1, 6), be.dac_max)
    plain = be.forward(x, 0, 0, 5)  # neuron reads off (the initial state): a plain read
    assert net.stage.reads == 0
    be.neuron_control(read=True)
    first = unpack_words(be.forward(x, 0, 0, 5))[0]
    second = unpack_words(be.forward(x, 0, 0, 5))[0]
    assert np.all(second > first)  # the same input once more: the membranes have charged
    be.neuron_control(read=True)  # neuron reads on, no reset: the state persists
    third = unpack_words(be.forward(x, 0, 0, 5))[0]
    assert np.all(third > second)
    be.neuron_control(reset=True, read=True)  # the controller's reset, through the backend
    again = unpack_words(be.forward(x, 0, 0, 5))[0]
    np.testing.assert_array_equal(again, first)
    # a read returns the population's own membrane readout
    np.testing.assert_array_equal(again, np.floor(net.neurons[0].v / lif.readout_lsb + 0.5))
    be.neuron_control(read=False)
    np.testing.assert_array_equal(be.forward(x, 0, 0, 5), plain)
    assert net.stage.reads == 4


def test_other_reads_bypass_the_stage():
    lif = LIFParams(readout_bits=8, readout_range=8.0)
    chip = _chip(lif, array=(8, 10))
    plain = _chip(lif, chip=False, array=(8, 10))
    for n in (chip, plain):
        n.program(random_weights(SIZES))
    rng = np.random.default_rng(3)
    d = rng.integers(-100, 100, (1, 10))
    chip.backend.neuron_control(reset=True, read=True)
    chip.backend.forward(np.full((1, 8), 50), 0, 0, 5)  # a neuron read
    plain.backend.forward(np.full((1, 8), 50), 0, 0, 5)  # an ordinary one
    chip.backend.neuron_control(read=False)
    np.testing.assert_array_equal(chip.backend.backward(d), plain.backend.backward(d))
    x = rng.integers(-100, 100, (1, 8))
    np.testing.assert_array_equal(chip.backend.forward(x, 0, 8, 2),  # neuron reads off
                                  plain.backend.forward(x, 0, 8, 2))
    chip.backend.neuron_control(read=True)
    with pytest.raises(ValueError, match="converts no neuron window"):
        chip.backend.forward(x, 0, 8, 2)  # a neuron read of columns without neurons
    chip.backend.neuron_control(read=False)
    assert chip.program([np.zeros((6, 5)), np.zeros((5, 3))]) == \
        plain.program([np.zeros((6, 5)), np.zeros((5, 3))])


def test_seeded_and_same_fixed_pattern_as_host_neurons():
    lif = LIFParams(sigma_d=0.3, readout_noise=0.05)
    a, b, c = _chip(lif, seed=4), _chip(lif, seed=4), _chip(lif, seed=5)
    host = _chip(lif, chip=False, seed=4)
    for n in (a, b, c):
        n.program(random_weights(SIZES))
    raster = a.coding.encode(np.linspace(0.3, 1, 6)[None, :])[:, 0]
    ra, rb, rc = a.run(raster), b.run(raster), c.run(raster)
    np.testing.assert_array_equal(ra.v[1], rb.v[1])
    assert not np.array_equal(ra.v[0], rc.v[0])
    np.testing.assert_array_equal(a.neurons[0].threshold, host.neurons[0].threshold)
    assert a.backend.stats.forward_reads == 2 * 12


def test_bad_stage_inputs():
    lif = LIFParams()
    cfg = snn_layout_config(SIZES)
    with pytest.raises(ValueError, match="readout_bits"):
        NeuronStage.for_layers(cfg, SIZES, LIFParams(readout_bits=10), 1.0)
    cfg2 = snn_layout_config(SIZES, adcs=2)
    with pytest.raises(ValueError, match="converter group"):
        NeuronStage(cfg2, lif, [NeuronWindow(1, 4, True, 1.0)])
    with pytest.raises(ValueError, match="window col0"):
        NeuronStage(cfg, lif, [NeuronWindow(0, 5, True, 1.0), NeuronWindow(3, 3, False, 1.0)])
    with pytest.raises(ValueError, match="syn_gain"):
        NeuronStage(cfg, lif, [NeuronWindow(0, 5, True, 0.0)])
    with pytest.raises(ValueError, match="GoldenBackend"):
        attach_neurons(IdealBackend(cfg, presets.ideal), SIZES, lif)
    net = _chip(lif)
    net.backend.neuron_control(read=True)
    with pytest.raises(ValueError, match="part of the neuron window"):
        net.backend.forward(np.full((1, 6), 10), 0, 0, 3)
    net.backend.neuron_control(read=False)
    with pytest.raises(ValueError, match="no chip neurons"):
        IdealBackend(cfg, presets.ideal).neuron_control(reset=True)
    with pytest.raises(ValueError, match="do not match"):
        SpikingNet(net.backend, SIZES, lif, LatencyCode(), syn_gain=1.0)
    with pytest.raises(ValueError, match="LIF parameters"):
        SpikingNet(net.backend, SIZES, lif.with_(tau_mem=20.0), LatencyCode(), syn_gain=GAINS)
