"""Boundary requests at the end of the whole-run contract: the edges training never visits.

A training run only sends windows, gains and devices inside the array, so a decoder that
accepts one line too many, or a gain one step past its limit, trains exactly like a correct
one. :func:`edge_requests` lists, for a controller config, requests that touch the last line
or the gain limit (accepted) and the same one past it (``BAD_ARG``). :func:`probe_edges`
sends them one by one after the training run and compares every response with the host-link
monitor, which is a :class:`~insitu.golden.protocol.ProtocolReference` that has parsed every
byte of the run (so it holds the run's x and d buffers, LFSR and error count): error
responses and every response without ADC codes byte for byte, reads by their header (the
front-end checks their conversions), then the state: STATUS (LFSR draws, error count) and
both buffers read back in full.
"""

from __future__ import annotations

from insitu.golden import protocol as P

Op = P.Opcode

#: opcodes whose OK response carries ADC codes of the array (compared by header only)
READS = (Op.FORWARD, Op.TRANSPOSE, Op.READ_DEVICE)


def edge_requests(cfg) -> list[tuple[str, bytes]]:
    """(name, frame) pairs: at the edge (accepted) and one past it (rejected)."""
    R, C, m = cfg.rows, cfg.cols, cfg.dac_max
    out = []

    def add(name, op, codes=None, **f):
        out.append((name, P.encode_request(op, codes, **f)))

    for side, n, s in ((0, R, "rows"), (1, C, "cols")):
        add(f"READ_VECTOR {s} last line", Op.READ_VECTOR, side=side, offset=n - 1, count=1)
        add(f"READ_VECTOR {s} one past the last line", Op.READ_VECTOR, side=side, offset=n - 1,
            count=2)
        add(f"READ_VECTOR {s} offset one past", Op.READ_VECTOR, side=side, offset=n, count=1)
        add(f"READ_VECTOR {s} all lines", Op.READ_VECTOR, side=side, offset=0, count=n)
        add(f"READ_VECTOR {s} one line too many", Op.READ_VECTOR, side=side, offset=0,
            count=n + 1)
        add(f"LOAD_VECTOR {s} last line at +dac_max", Op.LOAD_VECTOR, side=side, offset=n - 1,
            codes=[m])
        add(f"LOAD_VECTOR {s} one past the last line", Op.LOAD_VECTOR, side=side, offset=n - 1,
            codes=[1, 1])
        add(f"LOAD_VECTOR {s} code one past -dac_max", Op.LOAD_VECTOR, side=side, offset=0,
            codes=[-m - 1])
        add(f"LOAD_VECTOR {s} first line at -dac_max", Op.LOAD_VECTOR, side=side, offset=0,
            codes=[-m])
    for op in (Op.FORWARD, Op.TRANSPOSE):
        name = op.name
        add(f"{name} last row and column", op, row0=R - 1, nrows=1, col0=C - 1, ncols=1)
        add(f"{name} rows one past", op, row0=R - 1, nrows=2, col0=0, ncols=C)
        add(f"{name} columns one past", op, row0=0, nrows=R, col0=C - 1, ncols=2)
        add(f"{name} all rows, one column too many", op, row0=0, nrows=R, col0=0, ncols=C + 1)
        add(f"{name} row0 one past", op, row0=R, nrows=1, col0=0, ncols=1)
    win = {"row0": R - 1, "nrows": 1, "col0": C - 1, "ncols": 1}
    for mode, gmax in ((P.Mode.DETERMINISTIC, cfg.count_max), (P.Mode.STOCHASTIC, cfg.prob_max)):
        name = f"UPDATE {mode.name.lower()}"
        add(f"{name} gains at the limit, last device", Op.UPDATE, mode=mode, flags=1,
            row_gain=gmax, col_gain=gmax, **win)
        add(f"{name} row gain one past the limit", Op.UPDATE, mode=mode, flags=0,
            row_gain=gmax + 1, col_gain=gmax, **win)
        add(f"{name} column gain one past the limit", Op.UPDATE, mode=mode, flags=0,
            row_gain=gmax, col_gain=gmax + 1, **win)
        add(f"{name} rows one past", Op.UPDATE, mode=mode, flags=0, row_gain=1, col_gain=1,
            row0=R - 1, nrows=2, col0=0, ncols=1)
        add(f"{name} columns one past", Op.UPDATE, mode=mode, flags=0, row_gain=1, col_gain=1,
            row0=0, nrows=1, col0=C - 1, ncols=2)
    add("READ_DEVICE last device", Op.READ_DEVICE, row=R - 1, col=C - 1, read_code=m)
    add("READ_DEVICE row one past", Op.READ_DEVICE, row=R, col=0, read_code=m)
    add("READ_DEVICE column one past", Op.READ_DEVICE, row=0, col=C, read_code=m)
    add("READ_DEVICE read code one past", Op.READ_DEVICE, row=0, col=0, read_code=m + 1)
    add("PROGRAM row one past", Op.PROGRAM, row=R, col=0, target=0, tolerance=1, shift=3,
        read_code=m)
    add("PROGRAM column one past", Op.PROGRAM, row=0, col=C, target=0, tolerance=1, shift=3,
        read_code=-m - 1)
    add("STATUS after the edges", Op.STATUS)
    add("READ_VECTOR rows after the edges", Op.READ_VECTOR, side=0, offset=0, count=R)
    add("READ_VECTOR cols after the edges", Op.READ_VECTOR, side=1, offset=0, count=C)
    return out


def _header(frame: bytes) -> str:
    if len(frame) < P.RESPONSE_PAYLOAD_AT:
        return f"{len(frame)} bytes ({frame.hex() or 'nothing'})"
    head = P.unpack_fields(P.RESPONSE_HEADER, frame[1:P.RESPONSE_PAYLOAD_AT])
    try:
        status = P.Status(head["status"]).name
    except ValueError:
        status = str(head["status"])
    return f"{status} with {head['length']} payload bytes"


def difference(name: str, frame: bytes, want: bytes, got: bytes) -> str | None:
    """One line naming how ``got`` differs from ``want`` for the request ``frame``, or None."""
    op = frame[P.REQUEST_OPCODE_AT]
    ok = len(want) > P.RESPONSE_PAYLOAD_AT and want[1 + 1] == P.Status.OK
    if op in READS and ok and len(got) == len(want):
        same = got[:P.RESPONSE_PAYLOAD_AT] == want[:P.RESPONSE_PAYLOAD_AT]
    else:
        same = got == want
    if same:
        return None
    if _header(got) != _header(want):
        return f"edge request {name!r}: expected {_header(want)}, got {_header(got)}"
    return f"edge request {name!r}: expected {want.hex()}, got {got.hex()}"


async def probe_edges(session, timeout_cycles: int = 400_000) -> int:
    """Send :func:`edge_requests` one by one; fail the run at the first difference.

    Returns the number of requests sent.
    """
    t, monitor = session.transport, session.monitor
    t.bounded = True
    bound = timeout_cycles * session.clock_ns * 1e-9
    requests = edge_requests(session.config)
    for name, frame in requests:
        got = await t.aexchange(frame, 1, bound)
        want = b"".join(monitor.last_answers)  # what the monitor, a reference, answered
        text = difference(name, frame, want, got)
        if text is not None:
            session.fail(text)
    return len(requests)
