"""The generated Verilog itself answers frames like the protocol reference (Icarus; Verilator slow)."""

from __future__ import annotations

import subprocess

import pytest

from insitu.golden import protocol as P
from insitu.golden.config import ControllerConfig
from insitu.rtl.toolchain import VERILATOR_BUILD_FLAGS, iverilog_bin, verilator_bin, verilator_env
from insitu.rtl.verilog import TOP_NAME, write_verilog

CFG = ControllerConfig(rows=4, cols=3, dac_bits=6, adc_bits=8, count_bits=2, bl=5, prob_bits=4, seed=3)
CYCLES = 4000

TESTBENCH = """\
`timescale 1ns/1ns
module tb;
  reg clk = 0;
  reg rst = 1;
  always #5 clk = ~clk;
  reg [7:0] frames [0:{n}-1];
  integer i = 0;
  integer fd;
  integer cycle = 0;
  wire rx_ready;
  wire [7:0] tx_byte;
  wire tx_valid;
  wire [7:0] rx_byte = (i < {n}) ? frames[i] : 8'h00;
  {top} dut (
    .clk(clk), .rst(rst),
    .host_rx__payload(rx_byte), .host_rx__valid(i < {n}), .host_rx__ready(rx_ready),
    .host_tx__payload(tx_byte), .host_tx__valid(tx_valid), .host_tx__ready(1'b1),
    .analog__adc__row__busy({{{adcs}{{1'b0}}}}), .analog__adc__row__data({{{adc_width}{{1'b0}}}}),
    .analog__adc__col__busy({{{adcs}{{1'b0}}}}), .analog__adc__col__data({{{adc_width}{{1'b0}}}})
  );
  initial begin
    $readmemh("frames.hex", frames);
    fd = $fopen("out.hex", "w");
    #22 rst = 0;
  end
  always @(posedge clk) begin
    cycle <= cycle + 1;
    if (!rst) begin
      if (i < {n} && rx_ready) i <= i + 1;
      if (tx_valid) $fwrite(fd, "%02x\\n", tx_byte);
    end
    if (cycle == {cycles}) begin
      $fclose(fd);
      $finish;
    end
  end
endmodule
"""


def session():
    m = CFG.dac_max
    frames = [
        P.encode_request(P.Opcode.STATUS),
        P.encode_request(P.Opcode.LOAD_VECTOR, side=0, offset=0, codes=[m, -3, 17, -m]),
        P.encode_request(P.Opcode.LOAD_VECTOR, side=1, offset=0, codes=[-m, 9, m]),
        P.encode_frame(P.Opcode.FORWARD, b"\x00"),  # wrong length
        P.encode_request(P.Opcode.READ_VECTOR, side=0, offset=0, count=4),
        P.encode_request(P.Opcode.UPDATE, mode=0, flags=1, row_gain=3, col_gain=3,
                         row0=0, nrows=4, col0=0, ncols=3),
        P.encode_request(P.Opcode.UPDATE, mode=1, flags=0, row_gain=16, col_gain=16,
                         row0=1, nrows=3, col0=0, ncols=3),
        P.encode_request(P.Opcode.FORWARD, row0=0, nrows=4, col0=0, ncols=3),
        P.encode_request(P.Opcode.STATUS),
    ]
    ref = P.ProtocolReference(CFG)
    expected = b"".join(r for f in frames for r in ref.feed(f))
    return b"".join(frames), expected


def prepare(tmp_path):
    data, expected = session()
    write_verilog(CFG, tmp_path / f"{TOP_NAME}.v")
    (tmp_path / "frames.hex").write_text("".join(f"{b:02x}\n" for b in data))
    (tmp_path / "tb.v").write_text(TESTBENCH.format(
        n=len(data), top=TOP_NAME, cycles=CYCLES, adcs=CFG.adcs, adc_width=CFG.adcs * CFG.adc_bits))
    return expected


def read_output(tmp_path) -> bytes:
    return bytes(int(line, 16) for line in (tmp_path / "out.hex").read_text().split())


@pytest.mark.icarus
def test_icarus_answers_like_reference(tmp_path):
    iverilog = iverilog_bin()
    expected = prepare(tmp_path)
    # -g2012 as cocotb's Icarus runner uses (see verilog.fix_zero_time_triggers)
    subprocess.run([iverilog, "-g2012", "-o", "sim.vvp", "-s", "tb", "tb.v", f"{TOP_NAME}.v"],
                   cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["vvp", "-n", "sim.vvp"], cwd=tmp_path, check=True, capture_output=True)
    assert read_output(tmp_path) == expected


@pytest.mark.slow
def test_verilator_answers_like_reference(tmp_path):
    expected = prepare(tmp_path)
    subprocess.run(
        [verilator_bin(), "--binary", *VERILATOR_BUILD_FLAGS, "-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC",
         "--top-module", "tb", "-o", "sim", "tb.v", f"{TOP_NAME}.v"],
        cwd=tmp_path, check=True, capture_output=True, env=verilator_env(),
    )
    subprocess.run([str(tmp_path / "obj_dir" / "sim")], cwd=tmp_path, check=True, capture_output=True)
    assert read_output(tmp_path) == expected
