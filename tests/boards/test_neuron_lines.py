"""The neuron lines on a board: the adapter (:class:`NeuronLines`) and the board tops' pins.

The pins' behaviour through the UART (NEURON_CONTROL in, the pins at every ADC sampling
instant out) is ``cocotb_host.neuron_pins_follow_neuron_control`` (tests/boards/test_host.py).
"""

from __future__ import annotations

import random
import re

import pytest
from amaranth.hdl import Fragment
from amaranth.lib import io
from amaranth.sim import Simulator
from insitu.boards.converters import NeuronLines, ticks
from insitu.boards.core import BoardCore, board_config
from insitu.boards import tops
from insitu.golden.config import ControllerConfig

CLK_HZ = 25e6


def run_adapter(dut: NeuronLines, ticks_: int = 400, seed: int = 0) -> list[tuple]:
    """Random strobes, read line and safe requests; per tick (strobe, read, safe, reset pin,
    read pin), the pins sampled after the tick's clock edge."""
    rng = random.Random(seed)
    trace = []

    async def bench(ctx):
        read = safe = 0
        for _ in range(ticks_):
            strobe = int(rng.random() < 0.04)
            if rng.random() < 0.1:
                read ^= 1
            if rng.random() < 0.03:
                safe ^= 1
            ctx.set(dut.neuron.reset, strobe)
            ctx.set(dut.neuron.read, read)
            ctx.set(dut.safe, safe)
            await ctx.tick()
            trace.append((strobe, read, safe, ctx.get(dut.reset), ctx.get(dut.read)))

    sim = Simulator(dut)
    sim.add_clock(1 / CLK_HZ)
    sim.add_testbench(bench)
    sim.run()
    return trace


def pin_errors(trace, reset_ticks: int) -> list[str]:
    """Where the pins leave their definition: the reset pin high for ``reset_ticks`` ticks from
    each strobe on (a strobe restarts it), the read pin the read line gated by ``~safe``."""
    errors = []
    for t, (_, read, safe, reset_pin, read_pin) in enumerate(trace):
        want_reset = any(trace[k][0] for k in range(max(0, t - reset_ticks + 1), t + 1))
        if reset_pin != want_reset:
            errors.append(f"tick {t}: reset pin {reset_pin}, want {int(want_reset)}")
        if read_pin != (read & ~safe & 1):
            errors.append(f"tick {t}: read pin {read_pin}, want {read & ~safe & 1}")
    return errors


def test_adapter_stretches_the_reset_and_gates_the_read_line():
    dut = NeuronLines(CLK_HZ, reset_s=1e-6)
    assert dut.reset_ticks == ticks(CLK_HZ, 1e-6) == 25
    trace = run_adapter(dut)
    assert sum(s for s, *_ in trace) >= 5 and any(r and s for _, r, s, *_ in trace)
    assert pin_errors(trace, dut.reset_ticks) == []
    # planted fault: the controller's one-tick strobe straight on the pin (no adapter)
    short = NeuronLines(CLK_HZ, reset_s=1e-6)
    short.reset_ticks = 1
    assert pin_errors(run_adapter(short), dut.reset_ticks)


def test_reset_width_is_checked():
    with pytest.raises(ValueError, match="reset_s"):
        NeuronLines(CLK_HZ, reset_s=0.0)
    cfg = board_config(ControllerConfig(rows=4, cols=4), CLK_HZ)
    with pytest.raises(ValueError, match="neuron_reset_s must be at most one host-link byte"):
        BoardCore(cfg, CLK_HZ, baud=115200, neuron_reset_s=100e-6)  # a byte is 87 us


def top_pins(board: str, config: ControllerConfig, top=None) -> dict[str, tuple[str, str]]:
    """From the elaborated top: board core port -> (pin resource, FPGA site in the constraint
    file) of every header pin, the port found by what the top assigns to the pin's buffer."""
    platform = tops.platform_of(board)
    tops.add_pin_resources(platform, board, config)
    top = top or tops.Top(board, config)
    constraints = platform.prepare(top, name="top").files
    constraints = constraints.get("top.pcf") or constraints["top.lpf"]
    sites = dict(re.findall(r"set_io (\S+) (\S+)", constraints))
    sites.update(re.findall(r'LOCATE COMP "(\S+)" SITE "(\S+)"', constraints))
    platform = tops.platform_of(board)  # elaborated again on a fresh platform: the
    tops.add_pin_resources(platform, board, config)  # top's pin_buffers are this netlist's
    frag = Fragment.get(top, platform)
    ports = {id(getattr(top.core, name)): name for name in top.core.signature.members}

    def port(value) -> str:
        """The core port (or chip-select bit) ``value`` is."""
        if getattr(value, "start", None) is not None:  # one bit of the chip selects
            return f"{ports[id(value.value)]}[{value.start}]"
        return ports[id(value)]

    comb = list(frag.statements["comb"])
    out = {}
    for k, buf in enumerate(top.pin_buffers):
        if buf.direction == io.Direction.Input:
            name = next(port(st.lhs) for st in comb if st.rhs is buf.i)
        else:
            name = next(port(st.rhs) for st in comb if st.lhs is buf.o)
        out[name] = (f"insitu_{k}", sites[f"insitu_{k}_0__io"])
    return out


def documented_site(board: str, conn: str, pin: str) -> str:
    spec = tops.BOARDS[board]
    name = next(c for c, n, _ in spec.pins if f"{c}{n}" == conn)
    return tops.platform_of(board).connectors[(name, int(conn[len(name):]))].mapping[pin]


@pytest.mark.parametrize("board", sorted(tops.BOARDS))
def test_board_tops_drive_the_neuron_lines_on_their_pins(board):
    """Every header pin of the elaborated top is the board core port the pin map names, at
    the FPGA site of the header pin; the neuron lines sit on the header's last two pins."""
    cfg = board_config(ControllerConfig(rows=4, cols=4), tops.BOARDS[board].clk_hz)
    pins = tops.pin_map(board, cfg)
    last = {"icebreaker": [("pmod2", "9"), ("pmod2", "10")],
            "ulx3s": [("gpio0", "27+"), ("gpio0", "27-")]}[board]
    assert [(p["signal"], p["conn"], p["pin"]) for p in pins[-2:]] == \
        [("neu_reset", *last[0]), ("neu_read", *last[1])]
    got = top_pins(board, cfg)
    want = {p["signal"]: documented_site(board, p["conn"], p["pin"]) for p in pins}
    assert {k: v[1] for k, v in got.items()} == want
    assert got["neu_reset"][0] == f"insitu_{len(pins) - 2}"

    # planted fault: a top that swaps the two neuron lines on their pins
    class Swapped(tops.Top):
        def elaborate(self, platform):
            real = tops.pin_map

            def swapped(b, c):
                p = real(b, c)
                p[-2]["signal"], p[-1]["signal"] = p[-1]["signal"], p[-2]["signal"]
                return p

            tops.pin_map = swapped
            try:
                return super().elaborate(platform)
            finally:
                tops.pin_map = real

    bad = top_pins(board, cfg, Swapped(board, cfg))
    assert bad["neu_reset"][1] == want["neu_read"] and bad["neu_read"][1] == want["neu_reset"]
