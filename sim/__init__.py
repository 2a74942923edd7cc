"""Co-simulation of the controller's generated Verilog with cocotb (Verilator or Icarus).

The unchanged training loop drives the RTL through :class:`insitu.sim.backend.RtlBackend`;
the golden device physics answers behind the analog port
(:class:`insitu.sim.frontend.AnalogFrontEnd`); :mod:`insitu.sim.runner` builds (cached)
and runs; ``docs/cosim.md`` explains the pieces and the numbers.
"""
