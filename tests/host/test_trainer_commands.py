"""The trainer engine's commands (CONFIGURE, CONFIGURE_LAYER, TRAIN, INFER) against the
in-process fake: the reference is the golden on-chip step, bad input changes nothing, and the
host interface's one-line errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from insitu.golden import datasets
from insitu.golden import protocol as P
from insitu.golden.backends import GoldenBackend
from insitu.golden.config import ControllerConfig
from insitu.golden.nn import CrossbarMLP, layout_config
from insitu.golden.onchip import OnChipConfig, OnChipTrainer
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import ecram_organic
from insitu.host import CommandError, HostInterface, ReferenceTransport
from insitu.host.interface import _RawRequest
from insitu.sim.checks import GoldenAnalog

SIZES = (4, 8, 3)


def setup(onchip: OnChipConfig, seed=0):
    """A golden network with the host-side trainer, and a copy of its array behind the fake."""
    cfg = layout_config(SIZES, ControllerConfig())
    be = GoldenBackend(cfg, ecram_organic, PeripheryParams(), seed=seed, engine="numba")
    net = CrossbarMLP(be, SIZES)
    net.init_weights(np.random.default_rng(seed))
    analog = GoldenAnalog(copy.deepcopy(be), cfg)
    host = HostInterface(ReferenceTransport(cfg, analog, trainer=onchip), config=cfg)
    return net, OnChipTrainer(onchip), analog, host


def configure(host, step, net, **override):
    k = step.constants(net, step.config.lr)
    c = step.config
    kw = {"shift": k["zs"], "activation": c.activation, "algorithm": c.algorithm, **override}
    host.configure_network(SIZES, k["zm"], k["r"], **kw)
    return k


def run_both(net, step, host, k, n, *, zm_fault=False):
    d = datasets.load("iris", seed=0)
    for i in range(n):
        x, y = d.x_train[i], int(d.y_train[i])
        X = np.floor(x * k["D"] + 0.5).astype(np.int64)
        want = step(net, x[None], np.eye(3)[y][None], step.config.lr)
        got = host.train_sample(X, y)
        assert (got["prediction"], got["loss"]) == (want["prediction"][0], want["loss"][0]), i
    preds = []
    for x in d.x_test[:15]:
        X = np.floor(x * k["D"] + 0.5).astype(np.int64)
        preds.append((int(step.infer(net, X[None])[0]), host.infer(X)))
    return preds


@pytest.mark.parametrize("onchip", [OnChipConfig(), OnChipConfig(algorithm="backprop",
                                                                 activation="relu")])
def test_train_and_infer_are_the_golden_onchip_step(onchip):
    net, step, analog, host = setup(onchip)
    k = configure(host, step, net)
    preds = run_both(net, step, host, k, 30)
    assert all(a == b for a, b in preds)
    assert np.array_equal(net.backend.conductances, analog.physics.conductances)
    assert len(analog.bursts) > 30  # the updates did reach the array


def test_a_wrong_constant_is_seen():
    """Planted fault: one multiplier off by one step changes the trained array."""
    net, step, analog, host = setup(OnChipConfig())
    k = step.constants(net, 0.1)
    zm = list(k["zm"])
    zm[0] += 1 << 12
    host.configure_network(SIZES, zm, k["r"], shift=k["zs"])
    d = datasets.load("iris", seed=0)
    for i in range(20):
        x, y = d.x_train[i], int(d.y_train[i])
        step(net, x[None], np.eye(3)[y][None], 0.1)
        host.train_sample(np.floor(x * k["D"] + 0.5).astype(np.int64), y)
    assert not np.array_equal(net.backend.conductances, analog.physics.conductances)


def frames(k, label=0, codes=(10, 20, 30, 40)):
    """CONFIGURE + both layers of SIZES (raw frames, no host-side checks)."""
    out = [P.encode_request(P.Opcode.CONFIGURE, layers=2, activation=0, algorithm=0,
                            shift=k["zs"])]
    for layer in range(2):
        out.append(P.encode_request(P.Opcode.CONFIGURE_LAYER, layer=layer, fan_in=SIZES[layer],
                                    fan_out=SIZES[layer + 1], zm=k["zm"][layer],
                                    r_even=k["r"][layer][0], r_odd=k["r"][layer][1]))
    return out


def answer(ref, frame):
    (resp,) = ref.feed(frame)
    return P.decode_response(resp)


def train_frame(label, codes):
    return P.encode_frame(P.Opcode.TRAIN, bytes([label]) + bytes(codes))


def test_bad_trainer_commands_answer_bad_arg_and_change_nothing():
    net, step, analog, host = setup(OnChipConfig())
    ref = host.transport.reference
    k = step.constants(net, 0.1)
    good = (10, 20, 30, 40)
    g0 = analog.physics.conductances.copy()
    # TRAIN / INFER before the network is configured
    assert answer(ref, train_frame(0, good)).status == P.Status.BAD_ARG
    assert answer(ref, P.encode_frame(P.Opcode.INFER, bytes(good))).status == P.Status.BAD_ARG
    cfg_frames = frames(k)
    assert answer(ref, cfg_frames[0]).ok and answer(ref, cfg_frames[1]).ok
    # half configured: still no TRAIN
    assert answer(ref, train_frame(0, good)).status == P.Status.BAD_ARG
    bad_layers = [
        dict(layer=0, fan_in=8, fan_out=3),  # out of order
        dict(layer=1, fan_in=7, fan_out=3),  # fan_in is not the layer below's fan_out
        dict(layer=1, fan_in=8, fan_out=4),  # 8 + 4 columns > 11
        dict(layer=1, fan_in=8, fan_out=0),
    ]
    for f in bad_layers:
        fr = P.encode_request(P.Opcode.CONFIGURE_LAYER, zm=5, r_even=1, r_odd=1, **f)
        assert answer(ref, fr).status == P.Status.BAD_ARG, f
    assert answer(ref, P.encode_request(P.Opcode.CONFIGURE_LAYER, layer=1, fan_in=8, fan_out=3,
                                        zm=0, r_even=1, r_odd=1)).status == P.Status.BAD_ARG
    assert answer(ref, cfg_frames[2]).ok
    draws = ref.controller.lfsr.draws
    D = ref.config.dac_max
    for fr in (train_frame(3, good), train_frame(0, good[:3]), train_frame(0, good + (1,)),
               train_frame(0, (10, 20, D + 1, 40)),
               P.encode_frame(P.Opcode.INFER, bytes(good[:3]))):
        assert answer(ref, fr).status == P.Status.BAD_ARG
    for bad in (dict(layers=1), dict(layers=P.TRAINER_MAX_LAYERS + 1), dict(activation=3),
                dict(algorithm=2), dict(shift=7), dict(shift=25)):
        f = {"layers": 2, "activation": 0, "algorithm": 0, "shift": 16, **bad}
        assert answer(ref, P.encode_request(P.Opcode.CONFIGURE, **f)).status == P.Status.BAD_ARG
    assert ref.controller.lfsr.draws == draws
    assert np.array_equal(analog.physics.conductances, g0)
    # the network survived every rejected command: TRAIN now runs as on a fresh fake
    r = answer(ref, train_frame(1, good))
    assert r.ok and set(r.fields()) == {"prediction", "loss", "capped"}
    assert ref.controller.lfsr.draws > draws


def test_a_controller_without_trainer_does_not_know_the_opcodes():
    cfg = layout_config(SIZES, ControllerConfig())
    ref = P.ProtocolReference(cfg)
    for op in P.TRAINER_OPCODES:
        fields = {n: 1 for n, _, _ in P.REQUEST_FIELDS[op]}
        fr = P.encode_frame(op, P.pack_fields(P.REQUEST_FIELDS[op], fields) + b"\x01")
        if op not in (P.Opcode.TRAIN, P.Opcode.INFER):
            fr = P.encode_request(op, **fields)
        assert answer(ref, fr).status == P.Status.BAD_OPCODE


def test_trainer_lengths_and_wide_dacs():
    cfg = layout_config(SIZES, ControllerConfig())
    ref = P.ProtocolReference(cfg, trainer=OnChipConfig())
    assert answer(ref, P.encode_frame(P.Opcode.TRAIN, b"\x00")).status == P.Status.BAD_LENGTH
    assert answer(ref, P.encode_frame(P.Opcode.INFER, b"")).status == P.Status.BAD_LENGTH
    assert answer(ref, P.encode_frame(P.Opcode.CONFIGURE, b"\x02\x00\x00")).status == \
        P.Status.BAD_LENGTH
    with pytest.raises(ValueError, match="dac_bits must be at most 9"):
        P.ProtocolReference(ControllerConfig(rows=5, cols=11, dac_bits=10), trainer=OnChipConfig())


def test_host_interface_one_line_errors():
    net, step, analog, host = setup(OnChipConfig())
    k = step.constants(net, 0.1)
    with pytest.raises(ValueError, match="no network configured"):
        host.infer([1, 2, 3, 4])
    bad_calls = [
        ((SIZES, k["zm"], k["r"]), dict(shift=30), "shift"),
        (((4, 9, 3), k["zm"], k["r"]), dict(shift=16), "sizes"),  # 9 + 3 > 11 columns
        (((4, 9), k["zm"][:1], k["r"][:1]), dict(shift=16), "number of layers"),
        (((4, 20, 3), k["zm"], k["r"]), dict(shift=16), "sizes\\[1\\]"),
        ((SIZES, k["zm"][:1], k["r"]), dict(shift=16), "one entry per layer"),
        ((SIZES, [0, 1], k["r"]), dict(shift=16), "zm\\[0\\]"),
        ((SIZES, k["zm"], k["r"]), dict(shift=16, activation="tanh"), "activation"),
    ]
    for args, kw, what in bad_calls:
        with pytest.raises(ValueError, match=what) as e:
            host.configure_network(*args, **kw)
        assert "\n" not in str(e.value)
    configure(host, step, net)
    for codes, label, what in (([1, 2, 3], 0, "4 codes"), ([1, 2, 3, 400], 0, "in \\[0, 127\\]"),
                               ([1, 2, 3, 4], 3, "label")):
        with pytest.raises(ValueError, match=what):
            host.train_sample(codes, label)
    # the controller's own verdict on what the host cannot check: a CommandError
    with pytest.raises(CommandError, match="BAD_ARG to CONFIGURE_LAYER"):
        host.batch([_RawRequest(P.Opcode.CONFIGURE_LAYER, P.pack_fields(
            P.REQUEST_FIELDS[P.Opcode.CONFIGURE_LAYER],
            dict(layer=5, fan_in=1, fan_out=1, zm=1, r_even=1, r_odd=1)))])


class _UartLike:
    """The fake behind a link without flow control (a UART): counts the exchanges and the
    requests each carried."""

    flow_control = False

    def __init__(self, inner):
        self.inner = inner
        self.batches = []

    def exchange(self, data, responses, timeout):
        self.batches.append(responses)
        return self.inner.exchange(data, responses, timeout)


def _iris_codes(k, xs):
    """DAC codes of iris samples (as the host sends them)."""
    return [np.floor(x * k["D"] + 0.5).astype(np.int64) for x in xs]


def _train_ahead_as_golden(host, step, net, analog, k, d, n=None):
    """The first ``n`` iris training samples sent ahead by ``host.train_samples`` and stepped
    one by one on the golden reference: the same answers, the same array."""
    xs, ys = d.x_train[:n], [int(v) for v in d.y_train[:n]]
    got = host.train_samples(_iris_codes(k, xs), ys)
    want = []
    for x, t in zip(xs, ys):
        w = step(net, x[None], np.eye(3)[t][None], step.config.lr)
        want.append((int(w["prediction"][0]), int(w["loss"][0])))
    assert [(g["prediction"], g["loss"]) for g in got] == want
    assert np.array_equal(net.backend.conductances, analog.physics.conductances)


def test_train_samples_runs_ahead_with_the_same_answers():
    """TRAIN requests sent ahead, as many as the controller's receive buffer holds, give the
    answers and the array of one request at a time."""
    onchip = OnChipConfig()
    net, step, analog, host = setup(onchip)
    k = configure(host, step, net)
    link = _UartLike(host.transport)
    host.transport = link
    d = datasets.load("iris", seed=0)
    _train_ahead_as_golden(host, step, net, analog, k, d, 12)
    X, y = _iris_codes(k, d.x_train[:12]), [int(v) for v in d.y_train[:12]]
    frame = len(P.encode_frame(P.Opcode.TRAIN, bytes(5)))
    per_batch = P.run_ahead_bytes(host.config) // frame
    assert sum(link.batches) == 12 and max(link.batches) == min(per_batch, 12) > 1
    with pytest.raises(ValueError, match="labels must match samples"):
        host.train_samples(X, y[:-1])
    with pytest.raises(ValueError, match="label must be an integer"):
        host.train_samples(X[:2], [0, 3])
    assert sum(link.batches) == 12  # nothing sent for bad input
    # INFERs sent ahead the same way: the classes of one request at a time (after enough
    # training that the classes differ, so an answer out of order would show)
    for _ in range(3):
        _train_ahead_as_golden(host, step, net, analog, k, d)
    tests = _iris_codes(k, d.x_test[:12])
    first = len(link.batches)
    preds = host.infer_samples(tests)
    assert preds == [int(step.infer(net, x[None])[0]) for x in tests] and len(set(preds)) > 1
    inferred = link.batches[first:]
    assert sum(inferred) == 12 and max(inferred) > 1
    with pytest.raises(ValueError, match="sample must have 4 codes"):
        host.infer_samples([X[0], X[1][:-1]])
    assert len(link.batches) == first + len(inferred)  # nothing sent for a bad sample


class _StreamLike(_UartLike):
    """The fake behind a stream port with flow control and a transactor of fixed size (the
    co-simulation's): batches must fit its request and answer buffers."""

    flow_control = True

    def __init__(self, inner, max_batch_bytes, max_answer_bytes):
        super().__init__(inner)
        self.max_batch_bytes, self.max_answer_bytes = max_batch_bytes, max_answer_bytes
        self.sizes = []

    def exchange(self, data, responses, timeout):
        raw = super().exchange(data, responses, timeout)
        self.sizes.append((len(data), len(raw)))
        return raw


@pytest.mark.parametrize("limits,per_batch", [((45, 1000), 4), ((1000, 40), 3)])
def test_train_samples_on_a_stream_fill_the_transport(limits, per_batch):
    """With flow control every TRAIN goes out back to back, in batches as large as the
    transport's request (``max_batch_bytes``) or answer (``max_answer_bytes``) buffer allows;
    the same answers and array as one at a time."""
    onchip = OnChipConfig()
    net, step, analog, host = setup(onchip)
    k = configure(host, step, net)
    link = _StreamLike(host.transport, *limits)
    host.transport = link
    d = datasets.load("iris", seed=0)
    _train_ahead_as_golden(host, step, net, analog, k, d, 10)
    assert link.batches == [per_batch] * (10 // per_batch) + [10 % per_batch] * (10 % per_batch > 0)
    assert all(n <= limits[0] and a <= limits[1] for n, a in link.sizes)
