"""The cocotb test module run inside the simulator by :func:`insitu.sim.runner.run`.

Parameters come in as JSON (``$INSITU_COSIM_PARAMS``), the result goes out as
JSON (``$INSITU_COSIM_RESULT``). ``params["task"]`` selects:

``train``
    the training run of :mod:`insitu.sim.training` on :class:`RtlBackend`
    (the blocking training loop in a thread via ``bridge``; the backend's
    calls ``resume`` coroutines of the session).
``commands``
    random commands of every opcode, each answered byte for byte like
    :class:`~insitu.golden.protocol.ProtocolReference` over a golden array, with
    random stream backpressure and converter busy stretches.
``robust``
    host-link robustness: random and corrupted frames, frames cut off mid-way,
    back-to-back frames; every frame answered, nothing hangs, state intact.
``snn``
    a few samples of spiking in-the-loop training on :class:`RtlBackend` with the chip's
    neurons in the analog front-end (:mod:`insitu.sim.snn_training`).
``idle``
    the clock free-running for ``cycles`` ticks with no Python activity (speed baseline).
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.task import bridge
from cocotb.triggers import Timer, with_timeout
from insitu.sim.session import Session


def _params() -> dict:
    with open(os.environ["INSITU_COSIM_PARAMS"]) as f:
        return json.load(f)


def _write(result: dict) -> None:
    path = os.environ["INSITU_COSIM_RESULT"]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, path)


@cocotb.test()
async def cosim(dut):
    """Run ``params["task"]``, bounded in simulated time as a whole (``max_cycles``)."""
    params = _params()
    bound = int(params.get("max_cycles", 2_000_000_000))
    await with_timeout(_cosim(dut, params), bound * float(params.get("clock_ns", 10)), "ns")


async def _cosim(dut, params):
    task = params["task"]
    session = Session(dut, params)
    prof = None
    if os.environ.get("INSITU_COSIM_PROFILE"):
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    await session.start()
    t0 = time.perf_counter()
    c0 = session.cycles()
    if task == "idle":
        await Timer(int(params["cycles"]) * session.clock_ns, "ns")
        result = {}
    elif task == "bridge":  # hand-off cost of bridge/resume alone (no simulated time)
        from cocotb.task import resume

        async def nothing():
            return None

        call = resume(nothing)
        n = int(params.get("calls", 1000))

        def loop():
            t = time.perf_counter()
            for _ in range(n):
                call()
            return (time.perf_counter() - t) / n

        result = {"bridge_call_s": await bridge(loop)()}
    elif task == "train":
        result = await _train(session, params)
    elif task == "snn":  # a spiking run with the neurons in the front-end (snn_training.py)
        from insitu.sim.snn_training import run_snn

        result = await run_snn(session, params)
    elif task == "commands":
        from insitu.sim.checks import run_commands

        result = await run_commands(session, params)
    elif task == "api":
        from insitu.sim.backend import RtlBackend
        from insitu.sim.training import api_calls

        backend = RtlBackend(session)
        result = await bridge(api_calls)(backend, params)
    elif task == "uart_burst":
        from insitu.sim.checks import run_uart_burst

        result = await run_uart_burst(session, params)
    elif task == "robust":
        from insitu.sim.checks import run_robust

        result = await run_robust(session, params)
    else:
        raise ValueError(f"unknown task {task!r}")
    wall = time.perf_counter() - t0
    if prof is not None:
        prof.disable()
        prof.dump_stats(os.environ["INSITU_COSIM_PROFILE"])
    session.finish()
    result.update(cycles=session.cycles() - c0, wall_s=wall, wakes=session.frontend.wakes,
                  conversions=session.frontend.conversions, n_bursts=session.frontend.bursts,
                  slots=session.frontend.slots)
    _write(result)


async def _train(session: Session, params: dict) -> dict:
    from insitu.sim.backend import RtlBackend
    from insitu.sim.training import train

    backend = RtlBackend(session)
    transport, monitor = session.transport, session.monitor
    if session.host_kind == "stream":
        transport.bounded = False  # the whole run is bounded by max_cycles
    backend.log = []
    monitor.burst_log = []
    timing = {"python_s": 0.0}

    def mark():
        timing["train_t0"] = time.perf_counter()
        timing["train_c0"] = session.cycles()
        timing["train_w0"] = session.frontend.wakes
        timing["busy0"] = session.frontend.busy_s
        timing["host0"] = monitor.python_s
        timing["io0"] = getattr(transport, "io_s", 0.0)
        timing["sim0"] = transport.waiting_s
        timing["calls0"] = transport.exchanges

    def run():
        t = time.perf_counter()
        prof = None
        if os.environ.get("INSITU_COSIM_PROFILE"):
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        progress = None
        if params.get("progress_file"):
            path = params["progress_file"]

            def report(done, total):
                with open(path, "w") as f:
                    f.write(f"{done}/{total} samples, {session.cycles()} cycles\n")

            progress = (report, max(1, int(params.get("progress_every", 10))))
        out = train(backend, params, progress=progress, on_trained_start=mark)
        timing["train_t1"] = time.perf_counter()
        timing["train_c1"] = session.cycles()
        timing["train_w1"] = session.frontend.wakes
        timing["busy1"] = session.frontend.busy_s
        timing["host1"] = monitor.python_s
        timing["io1"] = getattr(transport, "io_s", 0.0)
        timing["sim1"] = transport.waiting_s
        timing["calls1"] = transport.exchanges
        if prof is not None:
            prof.disable()
            prof.dump_stats(os.environ["INSITU_COSIM_PROFILE"] + ".thread")
        timing["python_s"] = time.perf_counter() - t
        return out

    out = await bridge(run)()
    out["train_wall_s"] = timing["train_t1"] - timing["train_t0"]
    out["train_cycles"] = timing["train_c1"] - timing["train_c0"]
    out["train_wakes"] = timing["train_w1"] - timing["train_w0"]
    out["train_frontend_s"] = timing["busy1"] - timing["busy0"]
    out["train_waiting_s"] = timing["sim1"] - timing["sim0"]  # thread blocked in resume
    out["train_calls"] = timing["calls1"] - timing["calls0"]
    out["train_host_s"] = timing["host1"] - timing["host0"]  # the host-link monitor's Python
    out["train_io_s"] = timing["io1"] - timing["io0"]  # batch writes and response reads
    out.update(reads=[r for kind, r in backend.log if kind == "read"], bursts=monitor.burst_log,
               g=session.physics.conductances[0].tolist())
    return out
