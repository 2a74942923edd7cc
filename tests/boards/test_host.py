"""The host driver against the simulated board core (cocotb, end to end), and its error paths."""

from __future__ import annotations

import pytest
from boards_simrun import run_cocotb, simulators
from insitu.boards.core import BoardCore, board_config
from insitu.host import HostInterface, LinkError, ReferenceTransport
from insitu.golden.config import ControllerConfig

CLK_HZ = 25e6
BAUD = 25e6 / 16  # fast UART in simulation: 16 ticks per bit


@pytest.mark.parametrize("sim", [
    pytest.param(s, marks=pytest.mark.slow) if s == "verilator" else s  # Verilator: ~1.5 min compile
    for s in simulators()
])
def test_host_end_to_end_cocotb(tmp_path, sim):
    cfg = board_config(ControllerConfig(rows=4, cols=5, max_program_iters=8, settle_ticks=2), CLK_HZ)
    dut = BoardCore(cfg, CLK_HZ, baud=int(BAUD), dac_part="ad5686r", watchdog_s=4e-3)
    run_cocotb(dut, "board_core", "cocotb_host", tmp_path, sim=sim,
               params={"config": cfg.to_dict(), "clk_hz": CLK_HZ, "baud": BAUD,
                       "dac_part": "ad5686r", "watchdog_s": 4e-3})


class Silent:
    def exchange(self, data, responses, timeout):
        self.last = data
        return b""


class Corrupting:
    """Answers every request with its response, corrupted ``bad`` times first."""

    def __init__(self, bad):
        self.fake = ReferenceTransport(ControllerConfig(rows=2, cols=2))
        self.bad = bad

    def exchange(self, data, responses, timeout):
        resp = self.fake.exchange(data, responses, timeout)
        if self.bad:
            self.bad -= 1
            resp = resp[:-1] + bytes([resp[-1] ^ 1])
        return resp


def test_lost_response_is_a_clear_error():
    c = HostInterface(Silent(), timeout=0.05, retries=1)
    with pytest.raises(LinkError, match="no response within"):
        c.status()


def test_corrupted_response_of_a_read_is_retried():
    c = HostInterface(Corrupting(bad=1), timeout=0.05, retries=2)
    assert c.status()["rows"] == 2 and c.retried == 1


def test_corrupted_response_of_an_update_is_not_retried():
    c = HostInterface(Corrupting(bad=1), config=ControllerConfig(rows=2, cols=2), timeout=0.05,
                      retries=2)
    with pytest.raises(LinkError, match="may have changed"):
        c.update("deterministic", 1, 1, row0=0, nrows=2, col0=0, ncols=2)


def test_serial_port_missing_is_value_error():
    with pytest.raises(ValueError, match="cannot open serial port"):
        HostInterface("/dev/does-not-exist-insitu")
