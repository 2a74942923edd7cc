"""Verilog output of the controller top, with a JSON sidecar describing its ports."""

from __future__ import annotations

import json
import os
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from ..golden.config import ControllerConfig
from ..golden import protocol
from .top import DEFAULT_UART_DIVISOR, ControllerTop

TOP_NAME = "insitu_controller"


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
                  name: str = TOP_NAME) -> dict:
    """Write ``path`` (Verilog) and ``path`` with suffix ``.json`` (ports and config).

    Returns the sidecar dict. The config is validated (ValueError) before
    anything is written.
    """
    if not isinstance(config, ControllerConfig):
        raise ValueError("config must be a ControllerConfig")
    top = ControllerTop(config, host=host, uart_divisor=uart_divisor, timeout_cycles=timeout_cycles)
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    text = verilog.convert(top, name=name, emit_src=False)
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
        "ports": port_list(top),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return sidecar
