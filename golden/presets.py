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

# -- the leading simulator's fits (IBM aihwkit, simulator/presets/devices.py) ---------------
# Its weights live on [w_min, w_max] (a range of 2 for every preset below); they are mapped
# onto 0-100 uS here (assumed), so dw_min(uS) = dw_min(w) * 100 / (w_max - w_min) and the
# number of states is kept. Its relative bound spreads (w_max_dtod, in weight units) become
# fractions of the range (divided by 2). Its cycle-to-cycle step noise (dw_min_std) maps onto
# c2c; values above insitu's c2c bound of 2 are capped (marked). Its additive write noise
# (write_noise_std) and capacitor leakage have no counterpart here (not modelled).

li_ecram = DeviceParams(
    family="linear_step",
    g_min=0.0,
    g_max=100.0,
    dw_min=0.1,
    gamma_up=0.1153,
    gamma_down=0.5085,
    d2d=0.1,
    up_down_d2d=0.01,
    bounds_d2d=0.025,
    c2c=0.3,
    name="li_ecram",
    source="Lithium ECRAM (Tang et al., IEDM 2018) as fitted by IBM aihwkit's "
    "EcRamPresetDevice (LinearStep): dw_min 0.002 on a weight range of 2 (1000 states), "
    "gamma_up 0.1153, gamma_down 0.5085, dw_min_dtod 0.1, up_down_dtod 0.01, "
    "w_max/min_dtod 0.05, dw_min_std 0.3. Assumed: 0-100 uS range; the slopes referred to "
    "mid-range (aihwkit refers them to its asymmetric bounds 1.17/-0.83); its per-device "
    "gamma spread (0.05) not modelled.",
)

ecram_mo = DeviceParams(
    family="linear_step",
    g_min=0.0,
    g_max=100.0,
    dw_min=0.014107,
    gamma_up=0.4152,
    gamma_down=0.7342,
    d2d=0.1,
    up_down_d2d=0.01,
    bounds_d2d=0.025,
    c2c=2.0,
    name="ecram_mo",
    source="Metal-oxide ECRAM (Kim et al., IEDM 2019) as fitted by IBM aihwkit's "
    "EcRamMOPresetDevice (LinearStep): dw_min 2.8214e-4 on a weight range of 2 (about "
    "7090 states), gamma_up 0.4152, gamma_down 0.7342, dw_min_dtod 0.1, up_down_dtod 0.01, "
    "w_max/min_dtod 0.05, dw_min_std 2.0. Assumed: 0-100 uS range, slopes referred to "
    "mid-range, gamma spread not modelled.",
)

reram_es = DeviceParams(
    family="exp_step",
    g_min=0.0,
    g_max=100.0,
    dw_min=0.0675,
    up_down=0.259359,
    gamma_up=5.0,
    gamma_down=5.0,
    exp_a=-0.5,
    exp_b=-0.5,
    exp_A_up=-1.18445,
    exp_A_down=-0.081404,
    d2d=0.2,
    up_down_d2d=0.05,
    bounds_d2d=0.15,
    c2c=2.0,
    name="reram_es",
    source="HfOx ReRAM of Gong et al., Nat. Commun. 9:2102 (2018) as fitted by IBM "
    "aihwkit's ReRamESPresetDevice (ExpStep): dw_min 0.00135 on a weight range of 2 "
    "(about 1480 states), up_down 0.259359, a = b = -0.5, gamma_up = gamma_down = 5, "
    "A_up -1.18445, A_down -0.081404, dw_min_dtod 0.2, up_down_dtod 0.05, w_max/min_dtod "
    "0.3. Capped: its dw_min_std 5.0 to c2c 2.0 (insitu's bound). Not modelled: its write "
    "noise (write_noise_std 75 dw_min). Assumed: 0-100 uS range.",
)

reram_sb = DeviceParams(
    family="soft_bounds",
    g_min=0.0,
    g_max=100.0,
    dw_min=0.1,
    d2d=0.3,
    up_down_d2d=0.01,
    bounds_d2d=0.15,
    c2c=2.0,
    ref_d2d=0.025,
    name="reram_sb",
    source="The same ReRAM (Gong et al., Nat. Commun. 2018) as IBM aihwkit's looser "
    "ReRamSBPresetDevice (SoftBounds) fit: dw_min 0.002 on a weight range of 2 (1000 "
    "states), up_down 0, dw_min_dtod 0.3, up_down_dtod 0.01 (its note: symmetry point "
    "assumed corrected by a reference device), w_max/min_dtod 0.3 absolute. Capped: "
    "dw_min_std 3.75 to c2c 2.0. Not modelled: write noise 56 dw_min. Assumed: 0-100 uS. "
    "Reference-device variant (--mapping reference): one device per weight against a "
    "mid-range reference with ref_d2d 0.025 of the range, aihwkit's SoftBoundsReferenceDevice "
    "reference_std 0.05 of w_max (its ReRamArray presets); unused by differential pairs.",
)

capacitor = DeviceParams(
    family="linear_step",
    g_min=0.0,
    g_max=100.0,
    dw_min=0.25,
    gamma_up=0.05,
    gamma_down=0.05,
    d2d=0.1,
    up_down_d2d=0.06,
    bounds_d2d=0.035,
    c2c=0.3,
    name="capacitor",
    source="Idealised capacitor-like cell after IBM aihwkit's CapacitorPresetDevice "
    "(LinearStep fit to Li et al., VLSI 2018): dw_min 0.005 on a weight range of 2 (400 "
    "states), gamma_up = gamma_down = 0.05, dw_min_dtod 0.1, up_down_dtod 0.06, "
    "w_max/min_dtod 0.07, dw_min_std 0.3. Not modelled: leakage (its lifetime 1e6 "
    "mini-batches). Assumed: 0-100 uS range.",
)

taox_memristor = DeviceParams(
    family="soft_bounds",
    g_min=10.0,
    g_max=100.0,
    dw_min=1.5,
    up_down=0.1,
    d2d=0.2,
    up_down_d2d=0.05,
    bounds_d2d=0.05,
    c2c=0.2,
    read_noise=0.005,
    stuck_low=0.002,
    stuck_high=0.002,
    name="taox_memristor",
    source="Tantalum-oxide analogue memristor of the activity-difference experiments (Yi, "
    "Kendall, Williams, Kumar, Nat. Electron. 6:45 (2023)); the paper's device numbers were "
    "not read (REFERENCES.md marks them open), so every number here is ASSUMED: a "
    "soft-bounds response with 60 nominal steps over 10-100 uS (an ON/OFF ratio of 10), "
    "10% up/down asymmetry, 20% step spread and cycle-to-cycle noise, read noise 0.5% of "
    "the range, 0.2% of devices stuck at each bound.",
)

pcm_pair = DeviceParams(
    family="set_reset",
    g_min=0.0,
    g_max=100.0,
    dw_min=0.5,
    d2d=0.2,
    bounds_d2d=0.05,
    c2c=0.6,
    read_noise=0.01,
    name="pcm_pair",
    source="PCM-like unidirectional pair with refresh: two Ge2Sb2Te5 phase-change devices per "
    "weight, G+ - G- (Burr et al., IEEE Trans. Electron Devices 62:3498 (2015); Nandakumar et "
    "al., Front. Neurosci. 14:406 (2020)), each moved only by gradual SET pulses; RESET is "
    "abrupt (family set_reset) and used only by the controller's refresh (refresh.py: a pair "
    "with a device above 0.75 of the range is read, RESET and re-programmed; 0.75 is IBM "
    "aihwkit's OneSidedUnitCell refresh_upper_thres). From aihwkit's PCMPresetDevice fit "
    "(Nandakumar et al. 2020): dw_min 0.01 on a device range of 2 (200 states), dw_min_dtod "
    "0.2, w_max_dtod 0.1 (0.05 of the range), dw_min_std 0.6. ASSUMED: a soft-bounds "
    "(saturating) SET instead of its ExpStep shape, RESET exactly to g_min (its reset 0.01 "
    "with spread 0.02 not modelled), no conductance drift, read noise 1% of the range, "
    "0-100 uS per device.",
)

PRESETS = {p.name: p for p in (ideal, ecram_organic, rram_oxide, li_ecram, ecram_mo, reram_es,
                               reram_sb, capacitor, taox_memristor, pcm_pair)}


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
