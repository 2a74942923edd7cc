"""The three converter adapters side by side, with every port at the top (for cocotb)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from insitu.boards.converters import Ads8688Reader, DacChain, PulseEnables
from insitu.golden.config import ControllerConfig


class ConverterHarness(wiring.Component):
    """Ports: ``dac_*``, ``adc_*`` and ``en_*`` plus the adapter's own names."""

    def __init__(self, config: ControllerConfig, clk_hz: float, dac_part: str):
        self.config = config
        self.dac = DacChain(config, clk_hz, part=dac_part)
        self.adc = Ads8688Reader(config, clk_hz)
        self.en = PulseEnables(config, clk_hz)
        members = {}
        for prefix, comp in (("dac", self.dac), ("adc", self.adc), ("en", self.en)):
            for name, member in comp.signature.members.items():
                members[f"{prefix}_{name}"] = member
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for prefix, comp in (("dac", self.dac), ("adc", self.adc), ("en", self.en)):
            m.submodules[prefix] = comp
            for name, member in comp.signature.members.items():
                outer = getattr(self, f"{prefix}_{name}")
                inner = getattr(comp, name)
                if not member.is_port:  # a member of the analog port: same signature outside
                    wiring.connect(m, wiring.flipped(outer), inner)
                elif member.flow == wiring.In:
                    m.d.comb += inner.eq(outer)
                else:
                    m.d.comb += outer.eq(inner)
        return m
