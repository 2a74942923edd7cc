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
``fuzz``
    link fuzzing (:mod:`insitu.sim.fuzz`): many random and corrupted frames in batches, every
    response, the conversions and the arrays checked against the reference.
``converter_faults``
    stuck converters (:mod:`insitu.sim.converter_faults`): busy held high on chosen
    conversions; the converter-timeout answer, the safe idle state, the frames after it.
``uart_faults``
    faults on the UART pins (:mod:`insitu.sim.uart_faults`): framing errors, glitches, baud
    drift, receive FIFO overflow, a corrupted SYNC, truncated frames.
``replay``
    the host traffic a ``train`` run recorded (``record_traffic``), batch by batch, with no
    analog front-end, monitor or golden model attached (the free-running speed reference).
``onchip``
    TRAIN for every training sample, then INFER for the test set, through the trainer
    engine, with the golden on-chip reference in lockstep (:mod:`insitu.sim.onchip`).
``snn``
    a few samples of spiking in-the-loop training on :class:`RtlBackend` with the chip's
    neurons in the analog front-end (:mod:`insitu.sim.snn_training`).
``idle``
    the clock free-running for ``cycles`` ticks with no Python activity (speed baseline).
"""

from __future__ import annotations

import gc
import json
import os
import time

import cocotb
from cocotb.task import bridge
from cocotb.triggers import SimTimeoutError, Timer, with_timeout
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
    session = Session(dut, params)
    try:
        await with_timeout(_cosim(session, params), bound * session.clock_ns, "ns")
    except BaseException as e:
        # several checkers may fail at once (cocotb then says "Multiple exceptions in test"):
        # the first checker's verdict is the one the runner reports; a hang names what the
        # host was waiting for
        first = _first_assertion(e)
        if first is not None:
            _record_failure(params, str(first).splitlines()[0] if str(first) else repr(first))
        elif _contains(e, SimTimeoutError):
            _record_failure(params, f"hang: the run did not end within max_cycles = {bound} "
                                    f"cycles; {session.monitor.waiting_for()}")
        raise


def _contains(e: BaseException, kind: type) -> bool:
    return isinstance(e, kind) or any(_contains(s, kind) for s in getattr(e, "exceptions", ()))


def _first_assertion(e: BaseException) -> BaseException | None:
    """The first AssertionError (a checker's verdict) in ``e``, its causes or its group."""
    if isinstance(e, AssertionError):
        return e
    for sub in getattr(e, "exceptions", ()):
        found = _first_assertion(sub)
        if found is not None:
            return found
    if e.__cause__ is not None:
        return _first_assertion(e.__cause__)
    return None


def _record_failure(params: dict, message: str) -> None:
    """Leave ``message`` as the run's one-line verdict unless a checker already left one."""
    path = params.get("failure_file")
    if path and not os.path.exists(path):
        with open(path, "w") as f:
            f.write(message + "\n")


async def _cosim(session: Session, params: dict):
    task = params["task"]
    prof = None
    if os.environ.get("INSITU_COSIM_PROFILE"):
        import cProfile

        prof = cProfile.Profile(time.thread_time)  # CPU time: robust on a loaded machine
        prof.enable()
    if task == "replay":  # the recorded host traffic, nothing else in Python
        await session.start(attach=False)
    else:
        await session.start()
    t0 = time.perf_counter()
    c0 = session.cycles()
    if task == "replay":
        result = await _replay(session, params["traffic"])
    elif task == "idle":
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
    elif task == "fuzz":
        from insitu.sim.fuzz import run_fuzz

        result = await run_fuzz(session, params)
    elif task == "uart_faults":
        from insitu.sim.uart_faults import run_uart_faults

        result = await run_uart_faults(session, params)
    elif task == "onchip":  # TRAIN / INFER through the trainer engine (insitu.sim.onchip)
        from insitu.sim.onchip import run_onchip

        result = await bridge(run_onchip)(session, params)
    elif task == "converter_faults":  # stuck converters (insitu.sim.converter_faults)
        from insitu.sim.converter_faults import run_converter_faults

        result = await run_converter_faults(session, params)
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

    # each training step's updates go out with its next read: fewer round trips through the
    # bridge (``updates_ahead: false`` answers each update on its own, as a board does)
    backend = RtlBackend(session, updates_ahead=bool(params.get("updates_ahead", True)))
    transport, monitor = session.transport, session.monitor
    if session.host_kind == "stream":
        transport.bounded = False  # the whole run is bounded by max_cycles
    backend.log = []
    monitor.burst_log = []
    timing = {"python_s": 0.0}

    def mark():
        # the objects of the set-up (modules, compiled kernels, the programmed array) stay
        # alive to the end: out of the cyclic collector, whose full passes over them cost
        # tens of ms each (the replay's loop does the same before its clock starts)
        gc.freeze()
        timing["train_t0"] = time.perf_counter()
        timing["cpu0"] = time.process_time()  # the process's CPU time: robust to a loaded machine
        timing["thread_cpu0"] = time.thread_time()  # the training thread's own CPU time
        timing["train_c0"] = session.cycles()
        timing["train_w0"] = session.frontend.wakes
        timing["busy0"] = session.frontend.busy_s
        timing["host0"] = monitor.python_s
        timing["io0"] = getattr(transport, "io_s", 0.0)
        timing["sim0"] = transport.waiting_s
        timing["calls0"] = transport.exchanges
        if params.get("record_traffic"):
            monitor.traffic = []

    def run():
        t = time.perf_counter()
        prof = None
        if os.environ.get("INSITU_COSIM_PROFILE"):
            import cProfile

            prof = cProfile.Profile(time.thread_time)
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
        timing["cpu1"] = time.process_time()
        timing["thread_cpu1"] = time.thread_time()
        timing["train_c1"] = session.cycles()
        timing["train_w1"] = session.frontend.wakes
        timing["busy1"] = session.frontend.busy_s
        timing["host1"] = monitor.python_s
        timing["io1"] = getattr(transport, "io_s", 0.0)
        timing["sim1"] = transport.waiting_s
        timing["calls1"] = transport.exchanges
        timing["traffic"], monitor.traffic = monitor.traffic, None
        if prof is not None:
            prof.disable()
            prof.dump_stats(os.environ["INSITU_COSIM_PROFILE"] + ".thread")
        timing["python_s"] = time.perf_counter() - t
        return out

    if params.get("warm", True):
        from insitu.sim.training import warm_compiled

        warm_compiled(params)
    out = await bridge(run)()
    out["train_wall_s"] = timing["train_t1"] - timing["train_t0"]
    out["train_cpu_s"] = timing["cpu1"] - timing["cpu0"]
    out["train_thread_cpu_s"] = timing["thread_cpu1"] - timing["thread_cpu0"]
    out["train_cycles"] = timing["train_c1"] - timing["train_c0"]
    out["train_wakes"] = timing["train_w1"] - timing["train_w0"]
    out["train_frontend_s"] = timing["busy1"] - timing["busy0"]
    out["train_waiting_s"] = timing["sim1"] - timing["sim0"]  # thread blocked in resume
    out["train_calls"] = timing["calls1"] - timing["calls0"]
    out["train_host_s"] = timing["host1"] - timing["host0"]  # the host-link monitor's Python
    out["train_io_s"] = timing["io1"] - timing["io0"]  # batch writes and response reads
    if timing["traffic"] is not None:
        out["traffic"] = [[data.hex(), n] for data, n in timing["traffic"]]
    out.update(reads=[r for kind, r in backend.log if kind == "read"],
               bursts=list(monitor.burst_log), g=session.physics.conductances[0].tolist())
    if params.get("edges", True):
        # the run is recorded; now the edges training never visits (they may move the array)
        from insitu.sim.edges import probe_edges

        out["edge_requests"] = await probe_edges(session)
    return out


async def _replay(session: Session, traffic: list) -> dict:
    """Play recorded batches into the stream transactor: per batch one write of its ports and
    one wake when its responses are complete; nothing is parsed or checked."""
    from cocotb.triggers import FallingEdge, RisingEdge

    d = session.dut
    waits = 0
    batches = [(int.from_bytes(bytes.fromhex(h), "little"), len(h) // 2, n) for h, n in traffic]
    seq = clear = 0
    done, busy = RisingEdge(d.tx_done), d.rx_busy
    gc.freeze()  # as the training run does when its clock starts
    t0, c0, cpu0 = time.perf_counter(), session.cycles(), time.process_time()
    for value, length, n in batches:
        if int(busy.value):
            await FallingEdge(busy)
            waits += 1
        d.tx_want.value = n
        d.rx_data.value = value
        d.rx_len.value = length
        seq = (seq + 1) & 0xFFFF
        d.rx_seq.value = seq
        if n:
            await done
            clear = (clear + 1) & 0xFFFF
            d.tx_clear.value = clear
            d.tx_want.value = 0
    return {"replay_wall_s": time.perf_counter() - t0, "replay_cpu_s": time.process_time() - cpu0,
            "replay_cycles": session.cycles() - c0,
            "replay_batches": len(batches), "replay_busy_waits": waits}
