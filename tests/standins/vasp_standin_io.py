"""VASP's files for the STAND-IN ``vasp_std`` (this folder; not VASP): inputs read, outputs written.

Inputs: INCAR tags with VASP's types, POSCAR with its velocity block, the KPOINTS mesh, the POTCAR
symbols and valences (POTCAR, or POTCAR.spec with :data:`ZVAL`). Outputs:
``vasprun.xml`` in VASP's XML schema (generator, incar, kpoints, parameters, atominfo, one
``calculation`` per ionic step with SCF steps, structure, forces, stress and energies; eigenvalues
and DOS in the last one) and ``OUTCAR`` with the lines pymatgen's ``Outcar``, custodian's handlers
and emmet read. The electronic structure is the empty-lattice model: free-electron bands on the
KPOINTS mesh filled with NELECT electrons, so every phase is a metal.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

VERSION = "6.4.2"
HBAR2_2ME = 3.80998212  # ħ²/2mₑ, eV Å²
MUFFIN_TIN_ZERO_EV = -10.0  # the empty lattice's band bottom (arbitrary, stated)
#: valence electrons (ZVAL) of the PBE_54 POTCARs the project's input sets choose, for POTCAR.spec
ZVAL = {
    "Li_sv": 3,
    "Li": 1,
    "Mg": 2,
    "Mg_pv": 8,
    "Mg_sv": 10,
    "Sb": 5,
    "Ag": 11,
    "Ag_pv": 17,
    "Si": 4,
    "C": 4,
    "Al": 3,
    "Sn_d": 14,
    "Bi": 5,
    "Bi_d": 15,
    "Zn": 12,
    "Na_pv": 7,
    "In_d": 13,
    "Ga_d": 13,
    "Ge_d": 14,
    "Au": 11,
    "Cu": 11,
    "Cu_pv": 17,
    "Ca_sv": 10,
    "K_sv": 9,
}


# ----------------------------------------------------------------------------- inputs
def potcar_symbols() -> list[tuple[str, float, str]]:
    """(symbol, ZVAL, TITEL) per type, from POTCAR or POTCAR.spec."""
    if Path("POTCAR").is_file():
        text = Path("POTCAR").read_text(errors="replace")
        titles = re.findall(r"TITEL\s*=\s*(.+)", text)
        zvals = [float(z) for z in re.findall(r"ZVAL\s*=\s*([\d.]+)", text)]
        return [(t.split()[1], z, t.strip()) for t, z in zip(titles, zvals, strict=True)]
    if Path("POTCAR.spec").is_file():
        out = []
        for sym in Path("POTCAR.spec").read_text().split():
            if sym not in ZVAL:
                sys.exit(f"stand-in vasp_std: no valence known for POTCAR symbol {sym}")
            out.append((sym, float(ZVAL[sym]), f"PAW_PBE {sym} (stand-in: no POTCAR)"))
        return out
    sys.exit("stand-in vasp_std: neither POTCAR nor POTCAR.spec in the run directory")


def read_incar() -> dict[str, object]:
    """INCAR tags (``KEY = value``, ``!``/``#`` comments, ``;`` separators) with VASP's types."""

    def value(text: str) -> object:
        words = text.split()
        out = []
        for w in words:
            low = w.lower().strip(".")
            if low in ("t", "true"):
                out.append(True)
            elif low in ("f", "false"):
                out.append(False)
            else:
                try:
                    out.append(int(w))
                except ValueError:
                    try:
                        out.append(float(w))
                    except ValueError:
                        out.append(w)
        return out[0] if len(out) == 1 else out

    tags: dict[str, object] = {}
    for raw in Path("INCAR").read_text().splitlines():
        for part in re.split(r"[;]", re.split(r"[!#]", raw)[0]):
            if "=" in part:
                key, val = part.split("=", 1)
                tags[key.strip().upper()] = value(val)
    return tags


def read_poscar():
    """POSCAR → ASE atoms, plus its velocity block (Å/fs, Cartesian) when there is one."""
    from ase.io.vasp import read_vasp

    atoms = read_vasp("POSCAR")
    lines = Path("POSCAR").read_text().splitlines()
    start = (
        next(i for i, ln in enumerate(lines) if ln.strip()[:1].lower() in ("d", "c") and i > 6) + 1
    )
    rest = [ln for ln in lines[start + len(atoms) :] if ln.strip()]
    if rest and rest[0].strip()[:1].lower() in ("c", "d"):  # an optional "Cartesian" line
        rest = rest[1:]
    vel = None
    if len(rest) >= len(atoms):
        try:
            vel = np.array([[float(x) for x in ln.split()[:3]] for ln in rest[: len(atoms)]])
        except ValueError:
            vel = None
    return atoms, vel


def kpoint_mesh() -> tuple[np.ndarray, str, tuple[int, int, int]]:
    """The full (unreduced, as ISYM = 0) mesh of KPOINTS: fractional k points, style, divisions."""
    path = Path("KPOINTS")
    lines = path.read_text().splitlines() if path.is_file() else []
    if len(lines) < 4 or lines[1].split()[0] != "0" or lines[2].strip()[:1].lower() not in "gm":
        return np.zeros((1, 3)), "Gamma", (1, 1, 1)
    style = "Gamma" if lines[2].strip()[:1].lower() == "g" else "Monkhorst"
    mesh = tuple(int(n) for n in lines[3].split()[:3])
    shift = 0.0 if style == "Gamma" else 0.5
    axes = [(np.arange(n) + (shift if n % 2 == 0 else 0.0)) / n for n in mesh]
    grid = np.array(np.meshgrid(*axes, indexing="ij")).reshape(3, -1).T
    grid = grid - np.round(grid)  # into (-1/2, 1/2]
    return grid, style, mesh  # type: ignore[return-value]


# ----------------------------------------------------------------------------- electronic model
def free_electron(cell: np.ndarray, kpts: np.ndarray, nelect: float, nbands: int):
    """Empty-lattice eigenvalues (n_k, nbands), occupations and E_F (T = 0 filling)."""
    rec = 2 * np.pi * np.linalg.inv(cell).T
    n = np.arange(-4, 5)
    g = np.array(np.meshgrid(n, n, n, indexing="ij")).reshape(3, -1).T
    kc = (kpts[:, None, :] + g[None, :, :]) @ rec
    eig = np.sort(HBAR2_2ME * np.sum(kc * kc, axis=-1), axis=1)[:, :nbands] + MUFFIN_TIN_ZERO_EV
    w = np.full(len(kpts), 1.0 / len(kpts))
    order = np.argsort(eig.ravel())
    filled = np.cumsum(2 * np.repeat(w, nbands)[order])
    i = int(np.searchsorted(filled, nelect - 1e-9))
    levels = eig.ravel()[order]
    efermi = float(levels[i] if i + 1 >= len(levels) else 0.5 * (levels[i] + levels[i + 1]))
    occ = (eig <= efermi).astype(float)
    return eig, occ, efermi, w


# ----------------------------------------------------------------------------- xml pieces
def _i(name: str, value: object) -> str:
    if isinstance(value, bool):
        return f'<i type="logical" name="{name}"> {"T" if value else "F"}  </i>'
    if isinstance(value, int):
        return f'<i type="int" name="{name}">{value:6d}</i>'
    if isinstance(value, float):
        return f'<i name="{name}">{value:16.8f}</i>'
    if isinstance(value, list):
        typ = ' type="int"' if all(isinstance(v, int) for v in value) else ""
        return f'<v{typ} name="{name}">' + " ".join(str(v) for v in value) + " </v>"
    return f'<i type="string" name="{name}">{escape(str(value))}</i>'


def _varray(name: str, rows) -> str:
    body = "".join("<v>" + "".join(f"{x:16.8f}" for x in r) + " </v>\n" for r in rows)
    return f'<varray name="{name}" >\n{body}</varray>'


def _structure(name: str | None, cell: np.ndarray, frac: np.ndarray) -> str:
    head = f'<structure name="{name}" >' if name else "<structure>"
    rec = np.linalg.inv(cell).T
    vol = abs(float(np.linalg.det(cell)))
    return (
        f'{head}\n<crystal>\n{_varray("basis", cell)}\n<i name="volume">{vol:16.8f} </i>\n'
        f"{_varray('rec_basis', rec)}\n</crystal>\n{_varray('positions', frac)}\n</structure>"
    )


def _array(fields: list[str], dims: list[str], body: str) -> str:
    d = "".join(f'<dimension dim="{i + 1}">{x}</dimension>' for i, x in enumerate(dims))
    f = "".join(f"<field>{x}</field>" for x in fields)
    return f"<array>\n{d}\n{f}\n{body}</array>"


def _energy(e: float, md: dict[str, float] | None = None) -> str:
    rows = [("e_fr_energy", e), ("e_wo_entrp", e), ("e_0_energy", e), *((md or {}).items())]
    return "<energy>\n" + "".join(f'<i name="{k}">{v:16.8f} </i>\n' for k, v in rows) + "</energy>"


def _scsteps(e: float) -> str:
    """Four SCF iterations converging onto ``e`` (what custodian's handlers count)."""
    out = ""
    for n in (1, 2, 3, 5):
        en = e + 10.0**-n
        out += f"<scstep>\n{_energy(en)}\n</scstep>\n"
    return out


class VaspWriters:
    """``vasprun.xml`` and ``OUTCAR`` of a run (mixed into the stand-in's ``Run``)."""

    def write_vasprun(self, final) -> None:
        inc = self.incar
        eig, occ, efermi, w = free_electron(
            np.array(final.cell), self.kpts, self.nelect, self.nbands
        )
        grid = np.linspace(eig.min() - 2, eig.max() + 2, int(inc.get("NEDOS", 301)))
        width = max(float(inc.get("SIGMA", 0.05)), 0.05)
        g = np.exp(-0.5 * ((grid[:, None] - eig.ravel()[None, :]) / width) ** 2)
        dos = 2 * g @ np.repeat(w, eig.shape[1]) / (width * np.sqrt(2 * np.pi))
        idos = np.concatenate([[0.0], np.cumsum(0.5 * (dos[1:] + dos[:-1]) * np.diff(grid))])
        params = {
            "general": {"SYSTEM": final.get_chemical_formula(mode="reduce"), "LCOMPAT": False},
            "electronic": {
                "PREC": str(inc.get("PREC", "normal")).lower(),
                "ENMAX": float(inc.get("ENCUT", 400.0)),
                "NELECT": float(self.nelect),
                "NBANDS": self.nbands,
                "ISPIN": int(inc.get("ISPIN", 1)),
                "NELM": int(inc.get("NELM", 60)),
                "EDIFF": float(inc.get("EDIFF", 1e-4)),
                "ISMEAR": int(inc.get("ISMEAR", 1)),
                "SIGMA": float(inc.get("SIGMA", 0.2)),
                "LSORBIT": False,
                "GGA": str(inc.get("GGA", "--")).upper(),
                "METAGGA": str(inc.get("METAGGA", "--")),
                "LHFCALC": False,
                "LUSE_VDW": False,
                "AEXX": 0.0,
                "LDAU": False,
            },
            "ionic": {
                "NSW": int(inc.get("NSW", 0)),
                "IBRION": int(inc.get("IBRION", -1)),
                "ISIF": int(inc.get("ISIF", 2)),
                "EDIFFG": float(inc.get("EDIFFG", 1e-3)),
                "POTIM": float(inc.get("POTIM", 0.5)),
            },
            "dos": {
                "LORBIT": int(inc.get("LORBIT", 0)),
                "NEDOS": len(grid),
                "EMIN": float(grid[0]),
                "EMAX": float(grid[-1]),
                "EFERMI": efermi,
            },
        }
        params_xml = "\n".join(
            f'<separator name="{sep}" >\n'
            + "\n".join(_i(k, v) for k, v in vals.items())
            + "\n</separator>"
            for sep, vals in params.items()
        )
        species = self.symbols
        atoms_rc = "".join(
            f"<rc><c>{s:2s}</c><c>{self.types.index(s) + 1:4d}</c></rc>\n" for s in species
        )
        from ase.data import atomic_masses, atomic_numbers

        types_rc = "".join(
            f"<rc><c>{n:4d}</c><c>{t:2s}</c><c>{atomic_masses[atomic_numbers[t]]:16.8f}</c>"
            f"<c>{z:16.8f}</c><c>  {title}</c></rc>\n"
            for t, n, (_, z, title) in zip(self.types, self.counts, self.potcars, strict=True)
        )
        calcs = []
        for k, st in enumerate(self.steps):
            md_terms = {n: v for n, v in (st["md"] or {}).items() if n != "temperature"}
            body = (
                f"{_scsteps(st['energy'])}{_structure(None, st['cell'], st['frac'])}\n"
                f"{_varray('forces', st['forces'])}\n{_varray('stress', st['stress'])}\n"
                f"{_energy(st['energy'], md_terms)}\n"
                '<time name="totalsc">    0.01    0.01</time>\n'
            )
            if k == len(self.steps) - 1:
                sets = "".join(
                    f'<set comment="kpoint {ik + 1}">\n'
                    + "".join(
                        f"<r>{e:10.4f}{o:10.4f} </r>\n"
                        for e, o in zip(eig[ik], occ[ik], strict=True)
                    )
                    + "</set>\n"
                    for ik in range(len(self.kpts))
                )
                spin = '<set>\n<set comment="spin 1">\n{}</set>\n</set>\n'
                rows = "".join(
                    f"<r>{e:11.4f}{d:12.4f}{n:12.4f} </r>\n"
                    for e, d, n in zip(grid, dos, idos, strict=True)
                )
                body += (
                    "<eigenvalues>\n"
                    + _array(["eigene", "occ"], ["band", "kpoint", "spin"], spin.format(sets))
                    + f'\n</eigenvalues>\n<dos>\n<i name="efermi">{efermi:16.8f} </i>\n<total>\n'
                    + _array(
                        ["energy", "total", "integrated"], ["gridpoints", "spin"], spin.format(rows)
                    )
                    + "\n</total>\n</dos>\n"
                )
            calcs.append(f"<calculation>\n{body}</calculation>")
        zeros = "".join(f"{0.0:16.8f}" for _ in range(3))
        genvec = "".join(
            f'<v name="genvec{i + 1}">' + "".join(f"{x:16.8f}" for x in row) + " </v>\n"
            for i, row in enumerate(np.diag(1.0 / np.array(self.mesh)))
        )
        init = _structure(
            "initialpos", np.array(self.atoms0.cell), self.atoms0.get_scaled_positions()
        )
        incar_xml = "\n".join(_i(k, v) for k, v in inc.items())
        now = time.localtime()
        xml = f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<modeling>
<generator>
<i name="program" type="string">vasp </i>
<i name="version" type="string">{VERSION} stand-in (not VASP) </i>
<i name="subversion" type="string">{escape(self.label)} </i>
<i name="platform" type="string">stand-in </i>
<i name="date" type="string">{time.strftime("%Y %m %d", now)} </i>
<i name="time" type="string">{time.strftime("%H:%M:%S", now)} </i>
</generator>
<incar>
{incar_xml}
</incar>
<kpoints>
<generation param="{self.kstyle}">
<v type="int" name="divisions">{"".join(f"{n:8d}" for n in self.mesh)} </v>
<v name="usershift">{zeros} </v>
{genvec}<v name="shift">{zeros} </v>
</generation>
{_varray("kpointlist", self.kpts)}
{_varray("weights", w[:, None])}
</kpoints>
<parameters>
{params_xml}
</parameters>
<atominfo>
<atoms>{len(species):8d} </atoms>
<types>{len(self.types):8d} </types>
<array name="atoms" >
<dimension dim="1">ion</dimension>
<field type="string">element</field>
<field type="int">atomtype</field>
<set>
{atoms_rc}</set>
</array>
<array name="atomtypes" >
<dimension dim="1">type</dimension>
<field type="int">atomspertype</field>
<field type="string">element</field>
<field>mass</field>
<field>valence</field>
<field type="string">pseudopotential</field>
<set>
{types_rc}</set>
</array>
</atominfo>
{init}
{chr(10).join(calcs)}
{_structure("finalpos", self.steps[-1]["cell"], self.steps[-1]["frac"])}
</modeling>
"""
        Path("vasprun.xml").write_text(xml, encoding="ISO-8859-1")
        self.efermi = efermi

    def write_outcar(self, converged: bool) -> None:
        inc = self.incar
        lines = [
            f" vasp.{VERSION} stand-in (ilscreen tests/standins/vasp_std; {self.spec}) - not VASP",
            " running on    1 total cores",
        ]
        lines += [f" POTCAR:    {title}" for _, _, title in self.potcars]
        lines += [
            f"   IBRION = {int(inc.get('IBRION', -1)):5d}",
            f"   ISPIN  = {int(inc.get('ISPIN', 1)):5d}",
            f"   number of bands    NBANDS= {self.nbands:6d}",
            f"   total plane-waves  NPLWV = {1000 * len(self.atoms0):6d}",
        ]
        for k, st in enumerate(self.steps, start=1):
            e = st["energy"]
            lines += [
                f"--------------------------------------- Iteration {k:6d}(   4)  ---------------",
                "  total drift:                "
                + "".join(f"{x:13.6f}" for x in np.sum(st["forces"], axis=0)),
                f" E-fermi : {self.efermi:10.4f}     XC(G=0):  -1.0000     alpha+bet : -1.0000",
                f" number of electron {self.nelect:15.7f} magnetization       0.0000000",
                "",
                "  FREE ENERGIE OF THE ION-ELECTRON SYSTEM (eV)",
                "  ---------------------------------------------------",
                f"  free  energy   TOTEN  = {e:18.8f} eV",
                "",
                f"  energy  without entropy= {e:18.8f}  energy(sigma->0) = {e:18.8f}",
                "  entropy T*S    EENTRO =        -0.00000000",
            ]
        if self.incar.get("IBRION", -1) in (1, 2, 3) and converged:
            lines.append(" reached required accuracy - stopping structural energy minimisation")
        elapsed = time.time() - self.t0
        lines += [
            "",
            " General timing and accounting informations for this job:",
            " ========================================================",
            "",
            f"                  Total CPU time used (sec):  {elapsed:12.3f}",
            f"                            User time (sec):  {elapsed:12.3f}",
            "                          System time (sec):         0.000",
            f"                         Elapsed time (sec):  {elapsed:12.3f}",
            "",
            "                   Maximum memory used (kb):      100000.",
            "                   Average memory used (kb):          N/A",
        ]
        Path("OUTCAR").write_text("\n".join(lines) + "\n")
