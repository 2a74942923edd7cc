"""The Verilog test harness around the generated controller: transactors that keep Python off the clock.

:func:`write_harness` writes ``insitu_tb.v``, a thin top that instantiates the
generated ``insitu_controller`` (ports by name from the JSON sidecar of
:func:`insitu.rtl.verilog.write_verilog`), passes the analog port and the UART
pins straight through, and adds two small transactors so that cocotb only
wakes up on *events* (frames, update ends, conversions), never per clock:

* **byte-stream transactor** (``host == "stream"``): Python writes a batch of
  request bytes into the wide input ``rx_data`` (first byte in the low bits),
  its length into ``rx_len`` and bumps ``rx_seq``; the harness plays the bytes
  into ``host_rx`` one per tick, holding ``valid`` until taken and pausing at
  random when ``rx_pause`` (0..255, probability/256 per tick) is nonzero.
  Response bytes from ``host_tx`` (``ready`` dropped at random with
  probability ``tx_pause``/256) are shifted into ``tx_data`` (the newest byte
  on top) and counted in ``tx_count``; a tiny frame parser counts complete
  response frames in ``tx_frames`` and raises ``tx_done`` once it reaches
  ``tx_want``. A change of ``tx_clear`` empties the capture.
* **pulse-slot recorder**: every tick with ``analog__pulse__slot`` high (a new pulse
  slot) shifts ``{width, pulse.pol, pulse.col, pulse.row}`` into ``slot_log`` (newest on
  top) and counts it in ``slot_count``; ``width`` is the *previous* slot's pulse as driven:
  the ticks in which a row enable and a column enable were high together (a device moves
  only while both its lines are pulsed), counted on the pins; ``slot_width`` is that count
  for the newest slot so far (final once the burst has ended), so the analog model knows
  every pulse's width and scales its physics by it (``DeviceParams.width_scale``); ``slot_full`` rises when
  ``SLOT_DEPTH`` slots are waiting, so the analog model drains the log at most
  every ``SLOT_DEPTH`` slots and at every ``update_done``. A change of
  ``slot_clear`` empties it (``slot_status`` packs ``{slot_width, update_seq, slot_count}``
  into one read). ``update_seq`` counts ``update_done`` strobes; with
  ``defer_bursts`` high no ``update_done_ev`` is raised (the model takes the burst at the
  batch's response). ``pulse_fault`` latches if an enable is high
  while a read level is non-zero (pulses must never overlap reads).
* **conversion tables** (one per side): the analog model may load the answers
  of the remaining conversion events of a read (answers, count, a new
  sequence number: one write of ``*_tab_load``) when it answers the first one; the harness then answers
  each following ``adc_start`` from the table (``*_tab_served``, the mux
  positions in ``*_mux_log``, for the model to verify afterwards). An
  ``adc_start`` with an empty table raises ``*_adc_miss``: the model answers
  it on ``analog__adc__*__data`` itself. The model also gives the table (in the same write) the DAC
  levels (``{dac.col, dac.row}``) its answers are for; a conversion the table
  answers under other levels latches ``*_tab_bad``. ``*_tab_status`` packs what the model
  checks after a read into one access: ``{mux log, left, served, bad}``.
* **waveform monitor** (:data:`MONITOR_RULES`): checks the analog port every tick against
  the timing the physics assumes and latches the first violation: ``mon_fault``, the rule
  (``mon_rule``), the cycle (``mon_cycle``) and the line or side (``mon_index``).
* while a conversion runs (fewer than ``convert_ticks`` ticks since its start, or ``busy``
  high) the converters' data lines carry garbage (from the harness's random stream): a
  controller that takes its data early reads it, and the comparison with the golden model fails.
* ``busy_cycles`` counts the ticks the trainer engine is busy (the design's ``trainer_busy``;
  0 without a trainer): its busy fraction over a run of samples.
* ``dac_seq`` counts ``dac.strobe`` pulses, so the analog model re-reads the
  latched levels only when they changed, without waking on the strobe.

The random pauses come from a 32-bit xorshift seeded through ``tb_seed``, so a
run is reproducible. The harness is plain Verilog-2005 and is simulated by
Icarus and Verilator alike.
"""

from __future__ import annotations

from pathlib import Path

HARNESS_TOP = "insitu_tb"
HARNESS_VERSION = 14  # bump when the generated text changes (part of the build hash)


def sizes(config, host: str) -> dict:
    """Capacities of the transactors for one config (bytes of a batch, slots of the log)."""
    from insitu.golden import protocol as P
    from insitu.golden.controller import ControllerReference

    lines = max(config.rows, config.cols)
    max_request = P.max_request_frame(config)
    max_response = P.max_response_frame(config)
    positions = len(ControllerReference(config).adc_positions(0, lines))
    return {
        "RXB": max(256, 3 * max_request),
        "TXB": max(256, 2 * max_response + 64),
        "SLOT_DEPTH": 128,
        "SLOT_W": 1 + config.rows + config.cols + slot_width_bits(config),
        "WIDTH_BITS": slot_width_bits(config),
        # conversion table: every conversion event of one read (positions x averaging)
        "TAB_DEPTH": positions * config.adc_average,
        "ADCW": config.adcs * config.adc_bits,
        "MUXW": max(1, (max(2, positions) - 1).bit_length()),
        # the DAC levels of both sides as the port carries them: {dac.col, dac.row}
        "LEVW": (config.rows + config.cols) * config.dac_bits,
    }


def slot_width_bits(config) -> int:
    """Bits of a slot's measured pulse width: up to twice the nominal width plus one (a
    stuck enable saturates there, still not nominal)."""
    return (2 * config.pulse_width + 1).bit_length()


def write_harness(sidecar: dict, path) -> Path:
    """Write the harness Verilog for a generated controller described by ``sidecar``."""
    from insitu.golden.config import ControllerConfig

    cfg = ControllerConfig.from_dict(sidecar["config"])
    host = sidecar["host"]
    sz = sizes(cfg, host)
    R, C = cfg.rows, cfg.cols
    ports = [p for p in sidecar["ports"] if p["name"] not in ("clk", "rst")]
    analog = [p for p in ports if p["name"].startswith("analog__")]

    def decl(p):
        w = p["width"]
        rng = f"[{w - 1}:0] " if w > 1 else ""
        return f"    {p['direction']} wire {rng}{p['name']}"

    io = ["    input wire clk", "    input wire rst"]
    io += [decl(p) for p in analog]
    if host == "uart":
        io += ["    input wire uart_rx", "    output wire uart_tx"]
    else:
        io += [
            f"    input wire [{8 * sz['RXB'] - 1}:0] rx_data",
            "    input wire [15:0] rx_len",
            "    input wire [15:0] rx_seq",
            "    input wire [7:0] rx_pause",
            "    output wire rx_busy",
            "    input wire [7:0] tx_pause",
            "    input wire [15:0] tx_want",
            "    input wire [15:0] tx_clear",
            f"    output reg [{8 * sz['TXB'] - 1}:0] tx_data",
            "    output reg [15:0] tx_count",
            "    output reg [15:0] tx_frames",
            "    output reg tx_done",
        ]
    io += [
        "    input wire [31:0] tb_seed",
        f"    output reg [{sz['SLOT_W'] * sz['SLOT_DEPTH'] - 1}:0] slot_log",
        "    output reg [15:0] slot_count",
        f"    output reg [{sz['WIDTH_BITS'] - 1}:0] slot_width",
        "    output reg slot_full",
        "    output reg update_done_ev",
        "    input wire defer_bursts",
        "    output reg [15:0] update_seq",
        # what the model reads at a burst's end, in one access: {slot_width, update_seq, slot_count}
        f"    output wire [{sz['WIDTH_BITS'] + 31}:0] slot_status",
        "    output reg cmd_done_ev",
        "    input wire [15:0] slot_clear",
        "    output reg pulse_fault",
        "    output reg [15:0] dac_seq",
        "    output reg [31:0] busy_cycles",
        "    output wire mon_fault",
        "    output wire [7:0] mon_rule",
        "    output wire [31:0] mon_cycle",
        "    output wire [15:0] mon_index",
    ]
    for side in ("row", "col"):
        io += [
            # one write loads a table: {seq, n, levels, answers} (see _TABLE)
            f"    input wire [{sz['TAB_DEPTH'] * sz['ADCW'] + sz['LEVW'] + 31}:0] {side}_tab_load",
            f"    output reg {side}_adc_miss",
            f"    output reg [15:0] {side}_tab_served",
            f"    output reg [15:0] {side}_tab_left",
            f"    output reg [{sz['TAB_DEPTH'] * sz['MUXW'] - 1}:0] {side}_mux_log",
            f"    output reg {side}_tab_bad",
            f"    output wire [{sz['TAB_DEPTH'] * sz['MUXW'] + 32}:0] {side}_tab_status",
        ]
    tabbed = {"analog__adc__row__data": "row_adc_data_dut", "analog__adc__col__data": "col_adc_data_dut"}
    conns = [".clk(clk)", ".rst(rst)"] + [f".{p['name']}({tabbed.get(p['name'], p['name'])})"
                                          for p in analog]
    # whether a conversion runs, per side: computed once, by the monitor (its rules and the
    # tables' garbage on the data lines use it)
    body = ["    wire row_converting, col_converting;\n"]
    if any(p["name"] == "trainer_busy" for p in ports):
        conns.append(".trainer_busy(trainer_busy)")
        body.append("    wire trainer_busy;\n")
    else:
        body.append("    wire trainer_busy = 1'b0;\n")
    body.append("    always @(posedge clk)\n"
                "        if (rst) busy_cycles <= 0;\n"
                "        else if (trainer_busy) busy_cycles <= busy_cycles + 1;\n")
    if host == "uart":
        conns += [".uart_rx(uart_rx)", ".uart_tx(uart_tx)"]
    else:
        conns += [
            ".host_rx__valid(h_rx_valid)", ".host_rx__ready(h_rx_ready)",
            ".host_rx__payload(h_rx_payload)",
            ".host_tx__valid(h_tx_valid)", ".host_tx__ready(h_tx_ready)",
            ".host_tx__payload(h_tx_payload)",
        ]
        from insitu.golden import protocol as P

        body.append(_STREAM.format(RXB8=8 * sz["RXB"], TXB8=8 * sz["TXB"], SYNC=P.SYNC,
                                   LEN_LO=P.RESPONSE_LENGTH_AT, LEN_HI=P.RESPONSE_LENGTH_AT + 1,
                                   BODY=P.RESPONSE_PAYLOAD_AT, OVERHEAD=P.RESPONSE_OVERHEAD))
    for side in ("row", "col"):
        mux_w = next(p["width"] for p in analog if p["name"] == f"analog__adc__{side}__mux")
        body.append(_TABLE.format(s=side, TW=sz["TAB_DEPTH"] * sz["ADCW"], ADCW=sz["ADCW"],
                                  LEVW=sz["LEVW"],
                                  MUXW=sz["MUXW"], MLW=sz["TAB_DEPTH"] * sz["MUXW"],
                                  MUXIN=mux_w,
                                  GREP=(sz["ADCW"] + 31) // 32))
    monitored = [p for p in analog if p["direction"] == "output" or p["name"].endswith("__busy")]
    body.append("    insitu_monitor mon (.clk(clk), .rst(rst), "
                + "".join(f".{p['name']}({p['name']}), " for p in monitored)
                + ".mon_fault(mon_fault), .mon_rule(mon_rule), .mon_cycle(mon_cycle), "
                  ".mon_index(mon_index), .row_converting(row_converting), "
                  ".col_converting(col_converting));\n")
    body.append(_SLOTS.format(W=sz["SLOT_W"], D=sz["SLOT_DEPTH"], LOGW=sz["SLOT_W"] * sz["SLOT_DEPTH"],
                              R=R, C=C, WB=sz["WIDTH_BITS"]))
    text = (
        "// Generated by insitu.sim.harness: co-simulation harness (do not edit).\n"
        "`timescale 1ns/1ps\n"
        + monitor_verilog(cfg, analog)
        + f"module {HARNESS_TOP} (\n" + ",\n".join(io) + "\n);\n"
        "    reg [31:0] rnd;\n"
        "    wire [31:0] rnd1 = rnd ^ (rnd << 13);\n"
        "    wire [31:0] rnd2 = rnd1 ^ (rnd1 >> 17);\n"
        "    wire [31:0] rnd3 = rnd2 ^ (rnd2 << 5);\n"
        "    always @(posedge clk) begin\n"
        "        if (rst) rnd <= tb_seed | 32'h1;\n"
        "        else rnd <= rnd3;\n"
        "    end\n"
        + "\n".join(body)
        + f"    {sidecar['top']} dut (\n        " + ",\n        ".join(conns) + "\n    );\n"
        "endmodule\n"
    )
    path = Path(path)
    path.write_text(text)
    names = [line.split()[-1] for line in io]
    path.with_suffix(".vlt").write_text(
        "`verilator_config\n"
        "// only the harness ports are visible to cocotb: a design-wide --public-flat-rw\n"
        "// keeps Verilator from optimising the controller (about 20x slower)\n"
        + "".join(f'public_flat_rw -module "{HARNESS_TOP}" -var "{n}"\n' for n in names))
    return path


_STREAM = """
    // ---------------- byte-stream transactor
    wire h_rx_ready;
    wire h_tx_valid;
    wire [7:0] h_tx_payload;
    reg [{RXB8}-1:0] rx_sh;
    reg [15:0] rx_left;
    reg [15:0] rx_seen;
    reg rx_hold;
    wire rx_pause_now = rnd[7:0] < rx_pause;
    wire h_rx_valid = (rx_left != 0) && (rx_hold || !rx_pause_now);
    wire [7:0] h_rx_payload = rx_sh[7:0];
    assign rx_busy = (rx_left != 0) || (rx_seq != rx_seen);
    always @(posedge clk) begin
        if (rst) begin
            rx_left <= 0; rx_seen <= rx_seq; rx_hold <= 0;
        end else if (rx_seq != rx_seen) begin
            rx_seen <= rx_seq; rx_sh <= rx_data; rx_left <= rx_len; rx_hold <= 0;
        end else if (h_rx_valid) begin
            if (h_rx_ready) begin
                rx_sh <= rx_sh >> 8; rx_left <= rx_left - 1; rx_hold <= 0;
            end else begin
                rx_hold <= 1;
            end
        end
    end
    wire h_tx_ready = !(rnd[15:8] < tx_pause);
    reg [15:0] tx_seen;
    reg [15:0] tx_pos;
    reg [15:0] tx_total;
    reg [7:0] tx_len_lo;
    always @(negedge clk)
        tx_done <= !rst && (tx_want != 0) && (tx_frames >= tx_want) && (tx_clear == tx_seen);
    always @(posedge clk) begin
        if (rst || tx_clear != tx_seen) begin
            if (rst) tx_data <= 0;  // no X in the capture (Icarus)
            tx_seen <= tx_clear; tx_count <= 0; tx_frames <= 0; tx_pos <= 0;
        end else if (h_tx_valid && h_tx_ready) begin
            tx_data <= {{h_tx_payload, tx_data[{TXB8}-1:8]}};
            tx_count <= tx_count + 1;
            if (tx_pos == 0) begin
                if (h_tx_payload == 8'd{SYNC}) tx_pos <= 1;
            end else begin
                if (tx_pos == {LEN_LO}) tx_len_lo <= h_tx_payload;
                if (tx_pos == {LEN_HI}) tx_total <= {{h_tx_payload, tx_len_lo}} + 16'd{OVERHEAD};
                if (tx_pos >= {BODY} && tx_pos == tx_total - 1) begin
                    tx_pos <= 0; tx_frames <= tx_frames + 1;
                end else begin
                    tx_pos <= tx_pos + 1;
                end
            end
        end
    end
"""

_TABLE = """
    // ---------------- conversion table ({s} converters): answers loaded ahead by the model
    reg [{TW}-1:0] {s}_tab;
    // the model loads a table with one write of {s}_tab_load = {{seq, n, levels, answers}}
    wire [{TW}-1:0] {s}_tab_data = {s}_tab_load[{TW}-1:0];
    wire [{LEVW}-1:0] {s}_tab_levels = {s}_tab_load[{TW}+{LEVW}-1:{TW}];
    wire [15:0] {s}_tab_n = {s}_tab_load[{TW}+{LEVW}+15:{TW}+{LEVW}];
    wire [15:0] {s}_tab_seq = {s}_tab_load[{TW}+{LEVW}+31:{TW}+{LEVW}+16];
    reg [15:0] {s}_tab_seen;
    reg [{ADCW}-1:0] {s}_tab_out;
    reg {s}_use_tab;
    wire [{ADCW}-1:0] {s}_answer = {s}_use_tab ? {s}_tab_out : analog__adc__{s}__data;
    // while a conversion runs (the monitor's {s}_converting: fewer than convert_ticks ticks
    // since its start, or busy high) the converters' data lines carry garbage: a controller
    // that samples early reads it
    wire [{ADCW}-1:0] {s}_garbage = {{{GREP}{{rnd ^ 32'h5A5A_C3C3}}}};
    wire [{ADCW}-1:0] {s}_adc_data_dut = {s}_converting ? {s}_garbage : {s}_answer;
    // events for Python are registered on the falling edge: by then every signal of the
    // tick has settled (Icarus may show delta-cycle glitches of combinational strobes)
    always @(negedge clk) {s}_adc_miss <= !rst && analog__adc__{s}__start && ({s}_tab_left == 0);
    // what the model checks after a read, in one access: {{mux log, left, served, levels bad}}
    assign {s}_tab_status = {{{s}_mux_log, {s}_tab_left, {s}_tab_served, {s}_tab_bad}};
    always @(posedge clk) begin
        if (rst) begin
            {s}_tab_left <= 0; {s}_tab_seen <= {s}_tab_seq; {s}_use_tab <= 0; {s}_tab_served <= 0;
            {s}_mux_log <= 0; {s}_tab_bad <= 0;
        end else if ({s}_tab_seq != {s}_tab_seen) begin
            {s}_tab_seen <= {s}_tab_seq; {s}_tab <= {s}_tab_data; {s}_tab_left <= {s}_tab_n;
            {s}_tab_served <= 0; {s}_tab_bad <= 0;
            if (analog__adc__{s}__start) {s}_use_tab <= 0;
        end else if (analog__adc__{s}__start) begin
            if ({s}_tab_left != 0) begin
                // every conversion the table answers must see the levels the model answered for
                if ({{analog__dac__col, analog__dac__row}} != {s}_tab_levels) {s}_tab_bad <= 1;
                {s}_tab_out <= {s}_tab[{ADCW}-1:0];
                {s}_tab <= {s}_tab >> {ADCW};
                {s}_tab_left <= {s}_tab_left - 1;
                {s}_tab_served <= {s}_tab_served + 1;
                {s}_mux_log <= ({s}_mux_log << {MUXW}) | analog__adc__{s}__mux;
                {s}_use_tab <= 1;
            end else begin
                {s}_use_tab <= 0;
            end
        end
    end
"""

_SLOTS = """
    // ---------------- pulse-slot recorder
    reg [15:0] slot_seen;
    assign slot_status = {{slot_width, update_seq, slot_count}};
    // the pulse as driven: ticks of a slot with a row and a column enable high together
    wire coincide = (analog__pulse__row != 0) && (analog__pulse__col != 0);
    always @(posedge clk)
        if (rst) slot_width <= 0;
        else if (analog__pulse__slot) slot_width <= coincide ? {WB}'d1 : {WB}'d0;
        else if (coincide && slot_width != {{{WB}{{1'b1}}}}) slot_width <= slot_width + 1;
    always @(negedge clk) begin
        slot_full <= !rst && (slot_count >= {D}) && (slot_clear == slot_seen);
        // with defer_bursts the model takes the burst at the batch's response, not at its end
        update_done_ev <= !rst && analog__update_done && !defer_bursts;
        cmd_done_ev <= !rst && analog__cmd_done;
    end
    always @(posedge clk) begin
        if (rst) begin
            slot_count <= 0; slot_seen <= slot_clear; pulse_fault <= 0; dac_seq <= 0;
            slot_log <= 0; update_seq <= 0;
        end else begin
            if (analog__dac__strobe) dac_seq <= dac_seq + 1;
            if (analog__update_done) update_seq <= update_seq + 1;
            if (analog__pulse__slot)
                slot_log <= {{slot_width, analog__pulse__pol, analog__pulse__col, analog__pulse__row, slot_log[{LOGW}-1:{W}]}};
            if (slot_clear != slot_seen) begin
                slot_seen <= slot_clear;
                slot_count <= analog__pulse__slot ? 16'd1 : 16'd0;
            end else if (analog__pulse__slot) begin
                slot_count <= slot_count + 1;
            end
            if ((analog__pulse__row != 0 || analog__pulse__col != 0)
                && (analog__dac__row != 0 || analog__dac__col != 0))
                pulse_fault <= 1;
        end
    end
"""


#: the waveform monitor's rules: code -> (name, what ``mon_index`` names)
MONITOR_RULES = {
    1: ("pulse longer than pulse_width", "line"),
    2: ("pulse shorter than pulse_width", "line"),
    3: ("gap shorter than pulse_gap between two pulses", "line"),
    4: ("enable rose outside a pulse slot", "line"),
    5: ("enable high outside an update (update_active low)", "line"),
    6: ("pulse polarity changed during a pulse", "none"),
    7: ("pulse enable high while a read level is applied or a conversion starts", "none"),
    8: ("conversion started fewer than settle_ticks + 1 ticks after a DAC strobe", "side"),
    9: ("conversion started fewer than settle_ticks + 1 ticks after a mux change", "side"),
    10: ("DAC levels changed during a conversion", "side"),
    11: ("mux changed during a conversion", "side"),
    12: ("not at the safe idle state (levels 0, enables off) when a command was answered", "none"),
    13: ("conversion started while the last one still ran (data taken while busy was high)",
         "side"),
}


def monitor_message(config, rule: int, cycle: int, index: int) -> str:
    """One line naming the rule, the cycle and the signal of a monitor violation."""
    name, what = MONITOR_RULES.get(rule, (f"rule {rule}", "none"))
    if what == "line":
        signal = (f"analog__pulse__row[{index}]" if index < config.rows
                  else f"analog__pulse__col[{index - config.rows}]")
    elif what == "side":
        signal = f"analog__adc__{('row', 'col')[index]}__start"
    else:
        signal = "the analog port"
    return f"waveform monitor: {name} at cycle {cycle} ({signal})"


MONITOR_MODULE = "insitu_monitor"


def monitor_verilog(cfg, analog) -> str:
    """The waveform monitor, module ``insitu_monitor`` (Verilog-2005): the analog port's
    outputs and the converters' busy lines in (ports as named in the sidecar), the first
    violation out."""
    R, C = cfg.rows, cfg.cols
    n = R + C
    width = {p["name"]: p["width"] for p in analog}
    monitored = [p for p in analog if p["direction"] == "output" or p["name"].endswith("__busy")]
    lines = []
    add = lines.append
    add("// waveform monitor (rules: insitu.sim.harness.MONITOR_RULES)")
    add(f"module {MONITOR_MODULE} (")
    add("    input wire clk,")
    add("    input wire rst,")
    for p in monitored:
        w = p["width"]
        add(f"    input wire {f'[{w - 1}:0] ' if w > 1 else ''}{p['name']},")
    add("    output reg mon_fault,")
    add("    output reg [7:0] mon_rule,")
    add("    output reg [31:0] mon_cycle,")
    add("    output reg [15:0] mon_index,")
    add("    output wire row_converting,")
    add("    output wire col_converting")
    add(");")
    # a conversion whose busy stays high adc_timeout ticks past convert_ticks is given up on
    # (docs/protocol.md: the controller times out in the last of those ticks, and from the next
    # one may release the levels, move the mux and serve other frames); its busy may stay high
    give_up = cfg.convert_ticks + cfg.adc_timeout
    age_bits = max(16, (give_up + 1).bit_length())
    age_top = f"{age_bits}'h{(1 << age_bits) - 1:X}"
    for side in ("row", "col"):
        # a conversion runs from its start until convert_ticks have passed and busy is low
        add(f"    reg [{age_bits - 1}:0] {side}_conv_age;")
        add("    always @(posedge clk)")
        add(f"        if (rst) {side}_conv_age <= {age_top};")
        add(f"        else if (analog__adc__{side}__start) {side}_conv_age <= 1;")
        add(f"        else if ({side}_conv_age != {age_top}) {side}_conv_age <= {side}_conv_age + 1;")
        add(f"    assign {side}_converting = ({side}_conv_age < {cfg.convert_ticks}) || "
            f"(analog__adc__{side}__busy != 0) || analog__adc__{side}__start;")
    add(f"    wire [{n - 1}:0] en_all = {{analog__pulse__col, analog__pulse__row}};")
    add(f"    reg [{n - 1}:0] en_prev;")
    add(f"    reg [{n - 1}:0] pulsed;  // the line has had a pulse since reset")
    add("    reg pol_prev;")
    add(f"    reg [8:0] run [0:{n - 1}];")
    # the gap counter saturates above pulse_gap, so it never wraps into a false "gap too short"
    low_bits = max(9, (cfg.pulse_gap + 1).bit_length())
    low_top = f"{low_bits}'h{(1 << low_bits) - 1:X}"
    add(f"    reg [{low_bits - 1}:0] low [0:{n - 1}];")
    add("    reg [31:0] cyc;")
    add("    reg [15:0] since_dac;")
    for side in ("row", "col"):
        mw = width[f"analog__adc__{side}__mux"]
        add(f"    reg [{mw - 1}:0] {side}_mux_prev;")
        add(f"    reg [15:0] {side}_since_mux;")
        add(f"    reg {side}_in_conv;")
        add(f"    wire {side}_given_up = {side}_in_conv && ({side}_conv_age >= {give_up});")
        add(f"    reg [{width['analog__dac__row'] + width['analog__dac__col'] - 1}:0] {side}_levels_at;")
    levels = "{analog__dac__col, analog__dac__row}"
    add("    wire en_any = en_all != 0;")
    add("    wire levels_zero = (analog__dac__row == 0) && (analog__dac__col == 0);")
    add("    reg [7:0] rule_now;")
    add("    reg [15:0] index_now;")
    add("    integer i;")
    add("    always @* begin")
    add("        rule_now = 0; index_now = 0;")
    # later assignments win: put the more basic rules last
    add("        if (analog__cmd_done && (!levels_zero || en_any)) begin rule_now = 12; end")
    for k, side in enumerate(("row", "col")):
        # in_conv: the last conversion still ran in the ticks before this one (busy high and
        # not given up); the data of a conversion are taken in the tick busy is low
        add(f"        if ({side}_in_conv && !{side}_given_up && analog__adc__{side}__start) "
            f"begin rule_now = 13; index_now = {k}; end")
        add(f"        if ({side}_in_conv && !{side}_given_up && {side}_mux_prev != "
            f"analog__adc__{side}__mux && !analog__adc__{side}__start) "
            f"begin rule_now = 11; index_now = {k}; end")
        add(f"        if ({side}_in_conv && !{side}_given_up && !analog__adc__{side}__start && "
            f"({side}_levels_at != {levels} || analog__dac__strobe)) "
            f"begin rule_now = 10; index_now = {k}; end")
        add(f"        if (analog__adc__{side}__start && ({side}_mux_prev != analog__adc__{side}__mux "
            f"|| {side}_since_mux < {cfg.settle_ticks + 1})) begin rule_now = 9; "
            f"index_now = {k}; end")
        add(f"        if (analog__adc__{side}__start && (analog__dac__strobe || since_dac < "
            f"{cfg.settle_ticks + 1})) begin rule_now = 8; index_now = {k}; end")
    add("        if (en_any && (!levels_zero || analog__dac__strobe || analog__adc__row__start"
        " || analog__adc__col__start)) begin rule_now = 7; end")
    add("        if (en_any && !analog__pulse__slot && analog__pulse__pol != pol_prev) begin rule_now = 6; end")
    add(f"        for (i = {n - 1}; i >= 0; i = i - 1) begin")
    add("            if (en_all[i] && !analog__update_active) begin rule_now = 5; index_now = i; end")
    add("            if (en_all[i] && !en_prev[i] && !analog__pulse__slot) begin rule_now = 4; index_now = i; end")
    add(f"            if (en_all[i] && (!en_prev[i] || analog__pulse__slot) && pulsed[i] && "
        f"(en_prev[i] ? {int(cfg.pulse_gap > 0)} : (low[i] < {cfg.pulse_gap}))) "
        "begin rule_now = 3; index_now = i; end")
    add(f"            if (en_prev[i] && (!en_all[i] || analog__pulse__slot) && run[i] < {cfg.pulse_width}) "
        "begin rule_now = 2; index_now = i; end")
    add(f"            if (en_all[i] && en_prev[i] && !analog__pulse__slot && run[i] >= {cfg.pulse_width}) "
        "begin rule_now = 1; index_now = i; end")
    add("        end")
    add("    end")
    add("    always @(posedge clk) begin")
    add("        if (rst) begin")
    add("            mon_fault <= 0; mon_rule <= 0; mon_cycle <= 0; mon_index <= 0; cyc <= 0;")
    add("            en_prev <= 0; pulsed <= 0; pol_prev <= 0; since_dac <= 16'hFFFF;")
    for side in ("row", "col"):
        add(f"            {side}_mux_prev <= 0; {side}_since_mux <= 16'hFFFF; {side}_in_conv <= 0;")
    add(f"            for (i = 0; i < {n}; i = i + 1) begin run[i] <= 0; low[i] <= {low_top}; end")
    add("        end else begin")
    add("            cyc <= cyc + 1;")
    add("            if (rule_now != 0 && !mon_fault) begin")
    add("                mon_fault <= 1; mon_rule <= rule_now; mon_cycle <= cyc; mon_index <= index_now;")
    add("            end")
    add("            en_prev <= en_all; pulsed <= pulsed | en_all; pol_prev <= analog__pulse__pol;")
    add("            since_dac <= analog__dac__strobe ? 16'd1 : (since_dac == 16'hFFFF ? since_dac : since_dac + 1);")
    for side in ("row", "col"):
        add(f"            {side}_mux_prev <= analog__adc__{side}__mux;")
        add(f"            {side}_since_mux <= ({side}_mux_prev != analog__adc__{side}__mux) ? 16'd1 : "
            f"({side}_since_mux == 16'hFFFF ? {side}_since_mux : {side}_since_mux + 1);")
        add(f"            if (analog__adc__{side}__start) begin {side}_in_conv <= 1; "
            f"{side}_levels_at <= {levels}; end")
        add(f"            else if (!{side}_converting || {side}_given_up) {side}_in_conv <= 0;")
    add(f"            for (i = 0; i < {n}; i = i + 1) begin")
    add("                if (en_all[i]) run[i] <= (!en_prev[i] || analog__pulse__slot) ? 9'd1 : "
        "(run[i] == 9'h1FF ? run[i] : run[i] + 1);")
    add("                else run[i] <= 0;")
    add("                if (en_all[i]) low[i] <= 0;")
    add(f"                else if (low[i] != {low_top}) low[i] <= low[i] + 1;")
    add("            end")
    add("        end")
    add("    end")
    add("endmodule")
    return "\n".join(lines) + "\n"
