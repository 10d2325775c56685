"""MD throughput of each usable potential on the reference cell, side by side.

Cell: Li3Sb Fm-3m (a = 6.5445 Å), 2x2x2 conventional supercell with one Li vacancy (127 atoms), the
cell of the reference MD study. Engine: ASE Langevin NVT (2 fs, 548 K), timed after warm-up steps.
Reports atom-steps/s and the ratio to SevenNet-0. Measured, not asserted; results go to
BENCHMARKS.md.

    OMP_NUM_THREADS=1 python benchmarks/potential_speed.py --steps 20
    python benchmarks/potential_speed.py --device cuda --steps 200
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time

from rich.console import Console
from rich.table import Table

from potentials.checks import li3sb_vacancy_supercell, md_speed
from potentials.registry import describe, load_calculator, shipped_models
from screening.errors import InputError

BASELINE = "sevennet:7net-0"


def default_specs() -> list[str]:
    """Shipped MACE models (when built), SevenNet-0 and CHGNet: everything usable offline."""
    return [*(f"mace:{name}" for name in shipped_models()), BASELINE, "chgnet:0.3.0"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--potentials", nargs="+", default=None, help="specs (default: offline)")
    parser.add_argument("--steps", type=int, default=20, help="timed MD steps per potential")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="float64", help="MACE dtype (SevenNet/CHGNet: float32)")
    parser.add_argument("--temperature", type=float, default=548.0, help="K")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    console = Console()

    import torch

    cell = li3sb_vacancy_supercell(n_vacancies=1)
    rows = []
    for spec in args.potentials or default_specs():
        try:
            info = describe(spec)
            start = time.perf_counter()
            calc = load_calculator(spec, device=args.device, dtype=args.dtype)
            load_s = time.perf_counter() - start
        except InputError as exc:
            console.print(f"[yellow]skip[/] {spec}: {exc}")
            continue
        with console.status(f"{info.spec}: {args.warmup}+{args.steps} Langevin steps"):
            speed = md_speed(
                calc,
                cell,
                steps=args.steps,
                warmup=args.warmup,
                temperature_K=args.temperature,
                ensemble="langevin",
            )
        dtype = args.dtype if info.kind.startswith("mace") else "float32"
        rows.append(
            {
                "spec": info.spec,
                "dtype": dtype,
                "load_s": round(load_s, 2),
                "n_atoms": speed.n_atoms,
                "steps": speed.steps,
                "seconds": round(speed.seconds, 3),
                "atom_steps_per_s": round(speed.atom_steps_per_s, 1),
                "ms_per_step": round(1000 * speed.seconds / speed.steps, 1),
            }
        )
    base = next((r["atom_steps_per_s"] for r in rows if r["spec"] == BASELINE), None)
    for row in rows:
        row["vs_sevennet0"] = round(row["atom_steps_per_s"] / base, 2) if base else None
    meta = {
        "cell": f"Li3Sb 2x2x2 - 1 Li ({len(cell)} atoms)",
        "engine": f"ASE Langevin NVT {args.temperature:.0f} K, 2 fs",
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    if args.json:
        console.print_json(json.dumps({"meta": meta, "results": rows}))
        return 0
    table = Table(title=f"{meta['cell']}, {meta['engine']}, {args.device}")
    for col in ("spec", "dtype", "load s", "ms/step", "atom-steps/s", "× SevenNet-0"):
        table.add_column(col, justify="right" if col != "spec" else "left")
    for r in rows:
        ratio = "–" if r["vs_sevennet0"] is None else f"{r['vs_sevennet0']:.2f}"
        table.add_row(
            r["spec"],
            r["dtype"],
            f"{r['load_s']:.1f}",
            f"{r['ms_per_step']:.0f}",
            f"{r['atom_steps_per_s']:.0f}",
            ratio,
        )
    console.print(table)
    console.print(
        f"torch threads {meta['torch_threads']}, OMP_NUM_THREADS={meta['OMP_NUM_THREADS']}, "
        f"torch {meta['torch']}, {args.warmup} warm-up + {args.steps} timed steps"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
