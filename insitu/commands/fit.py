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
    p.add_argument("curve", help="CSV file with columns pulse, polarity (+1/-1, 0 = start), "
                   "conductance_us")
    p.add_argument("--family", default="power", choices=FIT_FAMILIES,
                   help="device family to fit (default power)")
    p.add_argument("-o", "--output", default="device.json", help="where to write the fit "
                   "(default device.json)")
    p.set_defaults(run=run)


def run(args) -> int:
    from insitu.golden.fit import fit_csv

    r = fit_csv(args.curve, args.family)
    r.save(args.output)
    p = r.params
    print(f"{args.family} fit of {r.pulses} pulses: RMS residual {r.residual_rms:.4g} uS "
          f"({100 * r.residual_relative:.2f}% of the range)")
    print(f"  g_min {p.g_min:.4g} uS, g_max {p.g_max:.4g} uS, dw_min {p.dw_min:.4g} uS "
          f"({p.states:.0f} states), up_down {p.up_down:+.3f}"
          + (f", gamma_up {p.gamma_up:.3g}, gamma_down {p.gamma_down:.3g}"
             if p.family == "power" else ""))
    print(f"wrote {args.output}")
    return 0
