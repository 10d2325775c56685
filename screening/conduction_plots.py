"""σ_e vs σ_ion map of the ranked candidates with the conduction-class bands (report figure)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from screening.atomic import atomic_path
from screening.results import CandidateResult

#: the 2024 Nature Energy study's LNI-x%CNT layers (σ_ion, σ_e) S/cm, drawn as reference points
REFERENCE_LAYERS = {
    "ionic (LNI-0.5%CNT)": (3.0e-4, 6.7e-8),
    "mixed (LNI-5%CNT)": (2.9e-4, 2.8e-5),
    "electronic (LNI-50%CNT)": (2.4e-5, 5.0e-2),
}


def plot_conduction_map(
    docs: Sequence[CandidateResult], path: str | Path
) -> tuple[Path, list[str]]:
    """Draw the map; returns the PNG and the ids left off it (σ_ion or σ_e unknown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    placed, left_out = [], []
    lo, hi = 1e-2, 10.0
    for d in docs:
        c3 = d.criterion("mixed_conduction")
        if c3 is None:
            continue
        lo, hi = c3.values["class_bound_low"], c3.values["class_bound_high"]
        s_ion, s_e = c3.values["sigma_ion_S_cm"], c3.values["sigma_e_S_cm"]
        if s_ion is None or s_e is None:
            left_out.append(d.candidate_id)
            continue
        placed.append(
            (d, s_ion, s_e, c3.values["sigma_e_low_S_cm"], c3.values["sigma_e_high_S_cm"])
        )
    x = np.logspace(-14, 2, 50)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.fill_between(x, x * lo, x * hi, color="tab:green", alpha=0.15, label="mixed conductor")
    ax.plot(x, x * lo, "g--", lw=0.8)
    ax.plot(x, x * hi, "g--", lw=0.8)
    ax.text(1e-13, 1e3, "electronic conductor", fontsize=8)  # above the band
    ax.text(1e-4, 1e-12, "ionic conductor", fontsize=8)  # below it
    for label, (s_ion, s_e) in REFERENCE_LAYERS.items():
        ax.plot(s_ion, s_e, "k^", ms=5)
        ax.annotate(label, (s_ion, s_e), fontsize=6, xytext=(3, 3), textcoords="offset points")
    for d, s_ion, s_e, s_lo, s_hi in placed:
        yerr = None
        if s_lo is not None and s_hi is not None:
            yerr = [[s_e - s_lo], [s_hi - s_e]]
        ax.errorbar(s_ion, s_e, yerr=yerr, fmt="o", capsize=3)
        ax.annotate(
            d.formula, (s_ion, s_e), fontsize=8, xytext=(4, -10), textcoords="offset points"
        )
    ax.set(xscale="log", yscale="log", xlabel="σ_ion(T_op) (S/cm)", ylabel="σ_e(T_op) (S/cm)",
           xlim=(1e-14, 1e2), ylim=(1e-14, 1e7))  # fmt: skip
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("conduction class (triangles: Nature Energy 2024 layers)", fontsize=9)
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out, left_out
