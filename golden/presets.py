"""Device presets: instances of :class:`DeviceParams` with their sources.

Conductances are in microsiemens. Where a number is assumed rather than read
from a source, the ``source`` text says so.
"""

from __future__ import annotations

from pathlib import Path

from .devices import DeviceParams

ideal = DeviceParams(
    family="constant",
    g_min=0.0,
    g_max=100.0,
    dw_min=0.1,
    name="ideal",
    source="Idealised constant-step device, 1000 states, no variation or noise "
    "(in the spirit of Gokmen and Vlasov, Front. Neurosci. 2016, without their "
    "variations). Conductance range 0-100 uS assumed.",
)

ecram_organic = DeviceParams(
    family="constant",
    g_min=0.0,
    g_max=100.0,
    dw_min=0.2,
    up_down=0.02,
    d2d=0.1,
    up_down_d2d=0.01,
    bounds_d2d=0.05,
    c2c=0.05,
    read_noise=0.002,
    name="ecram_organic",
    source="Organic PEDOT:PSS ECRAM of the TU/e group (van de Burgt et al., Nat. Mater. "
    "2017: >500 distinguishable non-volatile states, near-linear and near-symmetric "
    "potentiation/depression; van Doremaele, Stevens et al., Sci. Adv. 2024 train it "
    "in situ). 500 states -> dw_min = range/500. Device-to-device spreads (step 0.1, "
    "asymmetry 0.01, bounds 0.05) from the ECRAM LinearStep fits of IBM aihwkit "
    "(EcRamPresetDevice: dw_min_dtod 0.1, up_down_dtod 0.01, w_max/min_dtod 0.05). "
    "Assumed: 2% up/down asymmetry, cycle-to-cycle noise 5% per pulse (organic ECRAM is "
    "reported as low-noise; no figure was found), read noise 0.2% of the range, "
    "conductance range 0-100 uS.",
)

rram_oxide = DeviceParams(
    family="power",
    g_min=0.0,
    g_max=100.0,
    dw_min=2.0,
    up_down=0.26,
    gamma_up=2.0,
    gamma_down=1.0,
    d2d=0.3,
    up_down_d2d=0.05,
    bounds_d2d=0.1,
    c2c=0.3,
    read_noise=0.01,
    stuck_low=0.005,
    stuck_high=0.005,
    name="rram_oxide",
    source="Metal-oxide (HfOx/TaOx) analog memristor: strongly nonlinear and asymmetric, "
    "noisy. up_down 0.26 and d2d 0.3 from the IBM aihwkit ReRamESPresetDevice fit to "
    "Gong et al., Nat. Commun. 2018; c2c 0.3 is the field's typical default "
    "(REFERENCES.md). Assumed: power-law step with gamma_up 2 / gamma_down 1 (the "
    "potentiation step falls towards g_max, depression towards g_min), 50 nominal "
    "steps at the bottom of the range, read noise 1% of the range, 0.5% of devices "
    "stuck at each bound (Yi et al., Nat. Electron. 2023 used TaOx crossbars; their "
    "level count and defect rate were not read).",
)

PRESETS = {p.name: p for p in (ideal, ecram_organic, rram_oxide)}


def get_device(name_or_path: str) -> DeviceParams:
    """A preset by name, or a fitted device saved as JSON (``insitu`` fit output)."""
    if name_or_path in PRESETS:
        return PRESETS[name_or_path]
    path = Path(name_or_path)
    if path.suffix == ".json" and path.exists():
        import json

        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"device file {path} is not valid JSON: {e}") from None
        return DeviceParams.from_dict(data.get("params", data))
    raise ValueError(
        f"device must be one of {', '.join(PRESETS)} or a fitted-device .json file; "
        f"got {name_or_path!r}"
    )
