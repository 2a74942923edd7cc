"""Verilog output of the controller top, with a JSON sidecar describing its ports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from ..golden.config import ControllerConfig
from ..golden import protocol
from .top import DEFAULT_UART_DIVISOR, ControllerTop, check_host_args

TOP_NAME = "insitu_controller"


# Yosys gives every module a zero-time trigger (`reg \$auto$verilog_backend...  = 0;`,
# read by each `always @*`) so combinational logic is evaluated once at time 0.
# Icarus in -g2012 mode (cocotb's default) runs declaration initialisers before
# any process waits, so the trigger never fires and outputs that depend only on
# registers (a stream's `ready` in an idle state) stay X until the state changes,
# which can be never. Initialising the trigger from an `initial` at the end of
# the module, after the `always` blocks, turns it back into an event.
_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$", re.M)


def fix_zero_time_triggers(text: str) -> str:
    modules = re.split(r"(?<=^endmodule\n)", text, flags=re.M)
    out = []
    for module in modules:
        names = [name for _, name in _TRIGGER.findall(module)]
        if names:
            module = _TRIGGER.sub(r"\1reg \2;", module)
            inits = "".join(f"  initial {name} = 1'h0;\n" for name in names)
            head, sep, tail = module.rpartition("endmodule\n")
            module = head + inits + sep + tail
        out.append(module)
    return "".join(out)


def port_list(top: wiring.Component) -> list[dict]:
    """Ports as Verilog names them: signature paths joined with ``__``, plus clk and rst."""
    ports = [
        {"name": "clk", "direction": "input", "width": 1},
        {"name": "rst", "direction": "input", "width": 1},
    ]
    for path, member, value in top.signature.flatten(top):
        ports.append({
            "name": "__".join(str(p) for p in path),
            "direction": "input" if member.flow == wiring.In else "output",
            "width": len(value.as_value()) if hasattr(value, "as_value") else len(value),
        })
    return ports


def write_verilog(config: ControllerConfig, path, *, host: str = "stream",
                  uart_divisor: int = DEFAULT_UART_DIVISOR, timeout_cycles: int | None = None,
                  name: str = TOP_NAME, trainer=None) -> dict:
    """Write ``path`` (Verilog) and ``path`` with suffix ``.json`` (ports and config).

    Returns the sidecar dict. The config is validated (ValueError) before
    anything is written. ``trainer``: an ``OnChipConfig`` to build the trainer engine with.
    """
    if not isinstance(config, ControllerConfig):
        raise ValueError("config must be a ControllerConfig")
    check_host_args(host, uart_divisor, timeout_cycles)  # before an Elaboratable exists to be left unused
    top = ControllerTop(config, host=host, uart_divisor=uart_divisor, timeout_cycles=timeout_cycles,
                        trainer=trainer)
    text = fix_zero_time_triggers(verilog.convert(top, name=name, emit_src=False))
    path = Path(path)
    sidecar = {
        "top": name,
        "verilog": path.name,
        "host": host,
        "uart_divisor": uart_divisor if host == "uart" else None,
        "timeout_cycles": top.timeout_cycles,
        "protocol_version": protocol.VERSION,
        "max_payload": protocol.max_payload(config),
        "config": config.to_dict(),
        "trainer": None if trainer is None else trainer.to_dict(),
        "ports": port_list(top),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return sidecar
