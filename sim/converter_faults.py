"""A converter whose busy never falls, co-simulated: the controller gives up and keeps serving.

The analog front-end plants a stuck converter on a chosen conversion
(:meth:`~insitu.sim.frontend.AnalogFrontEnd.arm_hang`: its side's ``busy`` stays high and it
converts nothing, until that side's next conversion starts), and the reference's analog
(:class:`~insitu.sim.checks.GoldenAnalog`, the same ``arm_hang``) raises
:class:`~insitu.golden.protocol.ConverterTimeout` on the same conversion. For each planted
fault (a read's first conversion, one in the middle of a read, a single-device read, the
second read of a write-verify loop):

* the answer is what :class:`~insitu.golden.protocol.ProtocolReference` says, byte for byte
  (``ADC_TIMEOUT``, or a body ending in ``no_code``), and it comes no earlier than
  ``convert_ticks + adc_timeout`` ticks after the stuck conversion started;
* ``TIMEOUT_IDLE_TICKS`` ticks after the tick the controller must give up, and when it
  answers, the port is at the safe idle state (DAC codes 0, enables off);
* the frames after it are answered as the reference says, and at the end every conversion,
  both buffers, STATUS (its ``frame_errors``) and the conductances are the reference's: the
  aborted commands left the array as predicted.

The waveform monitor stays on: its rules for conversions end a conversion when the controller
has given up on it (docs/cosim.md), so a controller that takes data while busy is high, or
gives up early, still fails.
"""

from __future__ import annotations

import random

from cocotb.triggers import ClockCycles
from insitu.golden import protocol as P

from .checks import Checker
from .session import Session


def _port_idle(dut) -> bool:
    return all(int(getattr(dut, n).value.to_unsigned()) == 0
               for n in ("analog__dac__row", "analog__dac__col", "analog__pulse__row",
                         "analog__pulse__col"))


async def run_converter_faults(session: Session, params: dict) -> dict:
    """The planted converter faults above, one after another, with good frames between."""
    cfg, fe = session.config, session.frontend
    rng = random.Random(int(params.get("cmd_seed", 4)))
    ck = Checker(session, params)
    m = cfg.dac_max
    window = {"row0": 0, "nrows": cfg.rows, "col0": 0, "ncols": cfg.cols}
    forward = P.encode_request(P.Opcode.FORWARD, **window)
    transpose = P.encode_request(P.Opcode.TRANSPOSE, **window)
    loads = [P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0,
                              codes=[rng.randint(-m, m) for _ in range(cfg.rows)]),
             P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=0,
                              codes=[rng.randint(-m, m) for _ in range(cfg.cols)])]
    update = P.encode_request(P.Opcode.UPDATE, mode=1, flags=0, row_gain=cfg.prob_max,
                              col_gain=cfg.prob_max, **window)
    device = P.encode_request(P.Opcode.READ_DEVICE, row=1, col=2, read_code=m)
    program = P.encode_request(P.Opcode.PROGRAM, row=0, col=1, target=cfg.adc_max // 2,
                               tolerance=0, shift=0, read_code=m)
    # (name, frame, conversion of it that sticks); the frames between are served normally
    a = cfg.adc_average
    faults = [("first conversion of a FORWARD", forward, 0),
              ("second mux position of a TRANSPOSE", transpose, a),
              ("READ_DEVICE", device, 0),
              ("second read of a PROGRAM", program, 1)]
    statuses, timings = {}, {}
    give_up = cfg.convert_ticks + cfg.adc_timeout
    for f in loads + [forward, update]:
        await ck.exchange(f)
    for name, frame, k in faults:
        fe.arm_hang(k)
        ck.ref.analog.arm_hang(k)
        logged = len(fe.hang_log)
        before = len(ck.errors)
        await ck.exchange(frame)
        answered = session.cycles()
        if not _port_idle(session.dut):
            ck.errors.append(f"{name}: not at the safe idle state when answered")
        for _ in range(100):  # the idle check at the give-up tick is recorded by now
            if len(fe.hang_log) > logged:
                break
            await ClockCycles(session.dut.clk, 1)
        if len(fe.hang_log) != logged + 1:
            ck.errors.append(f"{name}: the planted stuck conversion never started")
            continue
        side, start, idle = fe.hang_log[-1]
        if not idle:
            ck.errors.append(f"{name}: port not idle {give_up - 1} + TIMEOUT_IDLE_TICKS ticks "
                             f"after the stuck conversion started (cycle {start})")
        if answered - start < give_up:
            ck.errors.append(f"{name}: answered {answered - start} ticks after the stuck "
                             f"conversion started, before the converter timed out ({give_up})")
        resp = P.ResponseDecoder().feed(session.transport.last_raw)
        statuses[name] = [P.Status(r.status).name for r in resp]
        timings[name] = answered - start
        if len(ck.errors) > before:
            raise AssertionError("; ".join(ck.errors[before:before + 3]))
        # the frames after a fault: a good read and an update, answered as the reference says
        await ck.exchange(forward)
        await ck.exchange(update)
    for side, n in ((0, cfg.rows), (1, cfg.cols)):
        await ck.exchange(P.encode_request(P.Opcode.READ_VECTOR, side=side, offset=0, count=n))
    await ck.exchange(P.encode_request(P.Opcode.STATUS))
    ck.final_checks()
    return {"statuses": statuses, "ticks_to_answer": timings, "frames": ck.frames,
            "frame_errors": ck.ref.frame_errors, "adc_transactions": len(ck.events),
            "idle_after_timeout": [idle for _, _, idle in fe.hang_log]}
