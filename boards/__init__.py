"""FPGA boards: the controller on real boards with real converter parts.

* :mod:`.converters` - adapters from the controller's analog port to an
  AD5676/AD5686R DAC daisy chain, ADS8688 ADCs and 74HC595 enable chains;
* :mod:`.core` - :class:`~.core.BoardCore`: controller, UART host link,
  adapters, watchdog and safe state, platform independent;
* :mod:`.tops` - iCEBreaker and ULX3S tops, pin maps, YoWASP builds and reports;
* :mod:`.models` - behavioural models of the parts for cocotb testbenches;
* :mod:`.host` - :class:`~.host.BoardBackend`, the link backend of
  :mod:`insitu.host` on a serial port.

``docs/boards.md`` has the wiring, the parts and how to build and load.
"""
