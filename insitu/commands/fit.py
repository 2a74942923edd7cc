"""``insitu fit``: fit a device family to a measured conductance-vs-pulse curve."""

from __future__ import annotations

from insitu.golden.fit import FIT_FAMILIES


def add_parser(sub):
    p = sub.add_parser(
        "fit",
        help="fit a device family to a measured curve (CSV: pulse, polarity, conductance_us)",
        description="Least-squares fit of a device family to a measured potentiation/depression "
        "curve. The output JSON is accepted by --device wherever a preset name is.",
    )
    p.add_argument("curve", nargs="+", help="CSV file with columns pulse, polarity (+1/-1, "
                   "0 = start), conductance_us; several files (one per device of an array) "
                   "fit the medians and the device-to-device spreads")
    p.add_argument("--reference", action="store_true",
                   help="the reference-device variant: also fit the spread of a mid-range "
                        "reference against the devices' symmetry points (ref_d2d; needs >= 2 "
                        "curves; use the result with insitu train --mapping reference)")
    p.add_argument("--family", default="power", choices=FIT_FAMILIES,
                   help="device family to fit (default power)")
    p.add_argument("-o", "--output", default="device.json", help="where to write the fit "
                   "(default device.json)")
    p.set_defaults(run=run)


def run(args) -> int:
    from insitu.golden.devices import read_curve_csv
    from insitu.golden.fit import fit_csv, fit_devices

    if len(args.curve) == 1 and not args.reference:
        r = fit_csv(args.curve[0], args.family)
    else:
        if len(args.curve) < 2:
            raise ValueError("--reference fits the reference spread over several devices: "
                             "give at least 2 curve files")
        r = fit_devices([read_curve_csv(c) for c in args.curve], args.family,
                        reference=args.reference)
    r.save(args.output)
    p = r.params
    print(f"{args.family} fit of {r.pulses} pulses: RMS residual {r.residual_rms:.4g} uS "
          f"({100 * r.residual_relative:.2f}% of the range)")
    print(f"  g_min {p.g_min:.4g} uS, g_max {p.g_max:.4g} uS, dw_min {p.dw_min:.4g} uS "
          f"({p.states:.0f} states), up_down {p.up_down:+.3f}"
          + (f", gamma_up {p.gamma_up:.3g}, gamma_down {p.gamma_down:.3g}"
             if p.family in ("power", "linear_step", "exp_step") else ""))
    if len(args.curve) > 1:
        print(f"  over {len(args.curve)} devices: d2d {p.d2d:.3g}, up_down_d2d "
              f"{p.up_down_d2d:.3g}, bounds_d2d {p.bounds_d2d:.3g}"
              + (f", ref_d2d {p.ref_d2d:.3g}" if args.reference else ""))
    print(f"wrote {args.output}")
    return 0
