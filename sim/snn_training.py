"""The spiking run that co-simulation compares: a few samples of in-the-loop training on chip neurons.

:func:`snn_train` is one definition run on any backend that has the chip's
neuron stage: a small Yin-Yang spiking network (default 5-8-3, latency-coded,
LIF hidden layer, membrane-readout output) is programmed by write-verify, then
trained chip-in-the-loop for ``samples`` samples
(:class:`~insitu.golden.algorithms.surrogate.SNNInTheLoop`: every time step of
the forward pass is one crossbar read per layer whose answer is the neurons'
readout words, the write-back one rank-1 pulse update per time step), and the
trained network classifies ``eval`` more samples. :func:`golden_snn_run` runs it
on a :class:`~insitu.sim.training.RecordingGolden` with the stage attached;
:func:`run_snn` (task ``snn`` of :mod:`insitu.sim.tb_cosim`) runs it on
:class:`~insitu.sim.backend.RtlBackend` with the stage in the analog front-end
(:mod:`insitu.sim.neuron_frontend`). Both records (every read's words, every
pulse burst, the final conductances) compare with
:func:`insitu.sim.training.compare`.
"""

from __future__ import annotations

import numpy as np
from insitu.golden.algorithms.surrogate import SNNInTheLoop
from insitu.golden.config import ControllerConfig
from insitu.golden.neuron_stage import NeuronStage, unpack_words
from insitu.golden.neurons import LIFParams
from insitu.golden.periphery import PeripheryParams
from insitu.golden.presets import get_device
from insitu.golden.snn import LatencyCode, SpikingNet, attach_neurons, snn_layout_config
from insitu.golden.validate import check_float, check_int
from insitu.sim.training import RecordingGolden, on_array


def check_snn_params(params: dict) -> dict:
    """Validate and complete the spiking run's parameters (ValueError naming the bad one)."""
    p = {"hidden": 8, "samples": 3, "eval": 2, "steps": 10, "seed": 0, "sigma_d": 0.3,
         "readout_noise": 0.02, "syn_gain": 1.0, "lr": 1e-3, "device": "ecram_organic",
         "periphery": {"out_bound": 6.0}, "array": None, **params}
    for k, lo, hi in (("hidden", 1, 64), ("samples", 1, 1000), ("eval", 0, 1000),
                      ("steps", 1, 100), ("seed", 0, 2**31 - 1)):
        check_int(k, p[k], lo, hi)
    check_float("sigma_d", p["sigma_d"], 0.0, 1.0)
    check_float("lr", p["lr"], 0.0, 1.0, lo_open=True)
    get_device(p["device"])
    return p


def snn_data(seed: int = 0) -> dict:
    """Yin-Yang features in [0.25, 1] and labels (the bundled generator), as lists."""
    from insitu.golden.algorithms.snn_runs import load_snn_dataset

    d = load_snn_dataset("yinyang", seed)
    return {"x": d.x_train.tolist(), "y": d.y_train.tolist(), "classes": d.classes}


def with_snn_data(params: dict) -> dict:
    """``params`` plus the data, reads predicted (the neuron front-end needs them) and a bound
    on the simulated time."""
    p = check_snn_params(params)
    p.setdefault("data", snn_data(p["seed"]))
    p["predict_reads"] = True
    cfg = snn_config(p)
    c = cfg
    per_sample = p["steps"] * 2 * (4_000 + 8 * c.count_max**2 * (c.pulse_width + c.pulse_gap))
    program = c.rows * c.cols * c.max_program_iters * (300 + c.count_max * (c.pulse_width + c.pulse_gap))
    p["max_cycles"] = 100_000 + program + 2 * (p["samples"] + p["eval"]) * per_sample
    return p


def sizes_of(p: dict) -> tuple:
    return (len(p["data"]["x"][0]) + 1, p["hidden"], p["data"]["classes"])  # + the bias spike


def snn_config(p: dict) -> ControllerConfig:
    """The array of the run: the network's layout, or ``array`` (rows, cols) if larger."""
    return on_array(snn_layout_config(sizes_of(p)), p.get("array"), "network")


def lif_of(p: dict) -> LIFParams:
    return LIFParams(tau_syn=5.0, tau_mem=10.0, readout_range=8.0, sigma_d=p["sigma_d"],
                     readout_noise=p["readout_noise"])


def stage_for(p: dict, config: ControllerConfig) -> NeuronStage:
    """The chip's neuron stage of the run (one instance)."""
    return NeuronStage.for_layers(config, sizes_of(p), lif_of(p), p["syn_gain"], seed=p["seed"])


def snn_train(backend, params: dict) -> dict:
    """Program, train ``samples`` samples in the loop and classify ``eval`` samples on
    ``backend`` (which carries the chip's neuron stage, ``backend.neurons``)."""
    p = check_snn_params(params)
    if backend.neurons is None:
        raise ValueError("the spiking run needs a backend with chip neurons (backend.neurons)")
    sizes = sizes_of(p)
    coding = LatencyCode(steps=p["steps"], tau_in=8.0, theta_in=0.2, bias_spike=True)
    net = SpikingNet(backend, sizes, lif_of(p), coding, syn_gain=p["syn_gain"], seed=p["seed"])
    rng = np.random.default_rng(p["seed"])
    targets = net.init_weights(rng)
    step = SNNInTheLoop(net, targets, write="pulse", seed=p["seed"])
    x = np.asarray(p["data"]["x"], dtype=float)
    y = np.asarray(p["data"]["y"], dtype=np.int64)
    eye = np.eye(p["data"]["classes"])
    losses = []
    for i in range(p["samples"]):
        step(net, x[i:i + 1], eye[y[i:i + 1]], p["lr"])
        losses.append(step.last_loss)
    j = slice(p["samples"], p["samples"] + p["eval"])
    pred = net.predict(x[j])[0].tolist() if p["eval"] else []
    return {"losses": losses, "predictions": pred, "pulse_updates": step.pulse_updates,
            "stats": backend.stats.to_dict()}


def golden_snn_run(params: dict) -> dict:
    """The reference run on the golden model (numba engine, chip neurons) in this process."""
    p = check_snn_params(params)
    be = RecordingGolden(snn_config(p), get_device(p["device"]), PeripheryParams(**p["periphery"]),
                         seed=p["seed"], engine="numba")
    attach_neurons(be, sizes_of(p), lif_of(p), syn_gain=p["syn_gain"], seed=p["seed"])
    out = snn_train(be, p)
    out.update(reads=be.reads, bursts=be.bursts, steps="".join(be.steps),
               g=be.conductances[0].tolist())
    return out


def spikes_in(reads, windows) -> int:
    """Spike flags set in the recorded readout words of spiking windows' reads."""
    spiking = {w.n for w in windows if w.spiking}
    return int(sum(unpack_words(r)[1].sum() for r in reads if len(r) in spiking))


async def run_snn(session, params: dict) -> dict:
    """Task ``snn`` inside the simulator: the run on RtlBackend with the neurons in the front-end."""
    from cocotb.task import bridge
    from insitu.sim.backend import RtlBackend
    from insitu.sim.neuron_frontend import NeuronFrontEnd

    p = check_snn_params(params)
    stage = stage_for(p, session.config)
    front = NeuronFrontEnd(stage, session.physics, session.dut,
                           reset_wired=p.get("neuron_reset_wired", True))
    front.start()
    session.frontend.neurons = front
    backend = RtlBackend(session)
    # the network's description of the chip's neurons (windows, LIF parameters); the host
    # commands them only through the controller (NEURON_CONTROL), never through this object
    backend.neurons = stage_for(p, session.config)
    if session.host_kind == "stream":
        session.transport.bounded = False  # the whole run is bounded by max_cycles
    backend.log = []
    session.monitor.burst_log = []
    out = await bridge(snn_train)(backend, p)
    out.update(reads=[r for kind, r in backend.log if kind == "read"],
               bursts=session.monitor.burst_log, g=session.physics.conductances[0].tolist(),
               neuron_reads=front.reads, neuron_resets=front.resets)
    return out
