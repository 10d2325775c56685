"""Hostile and careless input (issue 18): one clear line, exit 2, no traceback, nothing written.

Every case runs the real CLI entry point (``screening.cli.main``) in a working folder three levels
below ``tmp_path``; the whole of ``tmp_path`` is listed before and after, so a file written
anywhere around the folder (``../`` escapes included) fails the case. Network cases use
127.0.0.1 with a closed port only. The diffusion-CLI cases belong to the diffusion tests.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from potentials import registry
from potentials.trust import TRUST_ENV, trust_model
from screening.cli import main
from screening.errors import InputError
from screening.paths import id_path, id_slug
from screening.ranking import CRITERIA
from screening.safe_yaml import MAX_ALIASES, MAX_BYTES
from screening.store import ResultsStore

BASE = """\
name: t
references:
  - {element: Li, phase: {name: Li-bcc, role: reference}}
systems:
  - name: Li-Sb
    elements: [Li, Sb]
    phases:
      - {name: Sb, library: Sb-A7, role: host}
      - {name: Li3Sb, role: lithiated, md: true, supercell: {matrix: [1, 1, 1]}}
vacancies:
  - {count: 1, seeds: [0], mode: random}
temperatures: [548, 900]
"""
CANDIDATE = "Li-Sb/Li3Sb/1x1x1/vac1/seed0"
BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
NO_CUDA = pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has a CUDA GPU"
)


def _yaml(**changes: object) -> str:
    """BASE with top-level keys replaced (None deletes the key)."""
    data = yaml.safe_load(BASE)
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


def _system(**changes: object) -> str:
    data = yaml.safe_load(BASE)
    data["systems"][0].update(changes)
    return yaml.safe_dump(data, sort_keys=False)


def _phase(index: int, **changes: object) -> str:
    data = yaml.safe_load(BASE)
    data["systems"][0]["phases"][index].update(changes)
    return yaml.safe_dump(data, sort_keys=False)


def _preset_md(**md: object) -> str:
    return _yaml(
        presets={"p": {"md": {"production_ps": 1.0, "sample_interval_fs": 10.0, **md}}},
        default_preset="p",
    )


def _evil_pickle(path: Path, marker: Path) -> Path:
    """A 'model file' whose unpickling creates ``marker`` (any code could run instead)."""

    class Evil:
        def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
            return (Path.touch, (marker,))

    path.write_bytes(pickle.dumps(Evil()))
    return path


@dataclass
class Case:
    """One hostile input: files to create, the command line, fragments the error line must hold."""

    args: list[str]
    expect: list[str]
    files: dict[str, str | bytes] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    marks: list[pytest.MarkDecorator] = field(default_factory=list)


def _validate(text: str | bytes, *expect: str) -> Case:
    return Case(["validate", "c.yaml"], ["c.yaml", *expect], files={"c.yaml": text})


def _store_dir(root: Path) -> None:
    ResultsStore.open(root / "runs" / "store").close()


def _evil_in_root(root: Path) -> None:
    _evil_pickle(root / "evil.model", root / "MARKER")


CASES: dict[str, Case] = {
    # ---- YAML itself
    "alias bomb": _validate(BOMB, "nodes through aliases", "100000 allowed"),
    "too many aliases": _validate(
        "x: &x 1\ny: [" + ", ".join(["*x"] * (MAX_ALIASES + 1)) + "]\n",
        "more than 100 YAML aliases",
    ),
    "duplicate top-level key": _validate(
        BASE + "name: again\n", "duplicate key 'name' at line 13 (first at line 1)"
    ),
    "duplicate nested key": _validate(
        BASE.replace("    elements: [Li, Sb]\n", "    elements: [Li, Sb]\n    elements: [Li]\n"),
        "duplicate key 'elements' at line 7 (first at line 6)",
    ),
    "not UTF-8": _validate(BASE.replace("name: t", "name: t\xe9").encode("latin-1"), "not UTF-8"),
    "file too large": _validate("#" * (MAX_BYTES + 1), "larger than", f"{MAX_BYTES}-byte limit"),
    "unclosed bracket": _validate("systems: [\n", "malformed YAML at line"),
    "a list, not a mapping": _validate("- 1\n- 2\n", "must be a YAML mapping"),
    "empty file": _validate("", "must be a YAML mapping"),
    "missing file": Case(["validate", "nope.yaml"], ["nope.yaml", "not found"]),
    "a directory": Case(
        ["validate", "d.yaml"], ["d.yaml", "not found"], setup=lambda r: (r / "d.yaml").mkdir()
    ),
    # ---- names become folder names
    "system name ..": _validate(_system(name=".."), "field 'systems[0].name'", "'..' is not"),
    "phase name ../x": _validate(_phase(1, name="../x"), "systems[0].phases[1].name", "letters"),
    "name with rich markup": _validate(_system(name="Li[/]Sb"), "'Li[/]Sb' is not allowed"),
    "name with a space": _validate(_system(name="Li Sb"), "'Li Sb'", "digits"),
    "name like an option": _validate(_phase(0, name="-rf"), "'-rf'", "starting with"),
    "name too long": _validate(_system(name="L" * 101), "1-100 characters"),
    # ---- numbers outside physics
    "temperature inf": _validate(_yaml(temperatures=[float("inf")]), "field 'temperatures[0]'"),
    "temperature 1e9 K": _validate(_yaml(temperatures=[1e9]), "temperatures[0]", "3000"),
    "temperature negative": _validate(_yaml(temperatures=[-300]), "temperatures[0]", "greater"),
    "operating temperature 0": _validate(
        _yaml(operating_temperatures=[0]), "operating_temperatures[0]"
    ),
    "no temperatures": _validate(_yaml(temperatures=[]), "field 'temperatures'", "at least 1"),
    "production inf": _validate(_preset_md(production_ps=float("inf")), "md.production_ps"),
    "timestep 50 fs": _validate(_preset_md(timestep_fs=50), "md.timestep_fs", "less than or"),
    "timestep nan": _validate(_preset_md(timestep_fs=float("nan")), "md.timestep_fs"),
    "equilibration negative": _validate(_preset_md(equilibration_ps=-1), "md.equilibration_ps"),
    "weights negative": _validate(
        _yaml(ranking={"weights": {"potential": -1.0}}), "field 'ranking'", "weights must be >= 0"
    ),
    "weights all zero": _validate(
        _yaml(ranking={"weights": dict.fromkeys(CRITERIA, 0.0)}),
        "field 'ranking'",
        "at least one > 0",
    ),
    "ranking threshold inf": _validate(
        _yaml(ranking={"max_band_gap_eV": float("inf")}),
        "ranking",
        "max_band_gap_eV must be finite",
    ),
    "matrix negative determinant": _validate(
        _phase(1, supercell={"matrix": [[-1, 0, 0], [0, 1, 0], [0, 0, 1]]}),
        "systems[0].phases[1].supercell",
        "determinant -1",
    ),
    "matrix singular": _validate(
        _phase(1, supercell={"matrix": [[1, 0, 0], [1, 0, 0], [0, 0, 1]]}),
        "supercell",
        "positive determinant",
    ),
    "matrix zero multiple": _validate(
        _phase(1, supercell={"matrix": [0, 2, 2]}), "supercell", "3 positive integers"
    ),
    # ---- structure of the campaign
    "empty vacancy list": _validate(_yaml(vacancies=[]), "field 'vacancies'", "at least 1"),
    "empty system vacancy list": _validate(_system(vacancies=[]), "systems[0].vacancies"),
    "no host phase": _validate(_phase(0, role="lithiated"), "systems[0]", "no host phase"),
    "no Li reference": _validate(_yaml(references=None), "field 'references'", "no Li reference"),
    "misspelled key": _validate(
        _yaml(temperature=[300]), "unknown field 'temperature'", "allowed:", "temperatures"
    ),
    # ---- the engine: resolved at validation, not inside the screen
    "potential file missing": _validate(
        _yaml(engine={"potential": "mace:/nonexistent/x.model"}),
        "MACE model file not found",
        "mace:ilscreen-li-alloys",
    ),
    "potential scheme unknown": _validate(
        _yaml(engine={"potential": "nosuch:thing"}), "unknown potential scheme", "sevennet:"
    ),
    "potential untrusted pickle": Case(
        ["validate", "c.yaml"],
        ["evil.model", "untrusted model file", "--trust-model"],
        files={"c.yaml": _yaml(engine={"potential": "mace:evil.model"})},
        setup=_evil_in_root,
    ),
    "dtype float16": _validate(
        _yaml(engine={"dtype": "float16"}), "engine.dtype", "'float32' or 'float64'"
    ),
    "device cuda without a GPU": Case(
        ["validate", "c.yaml"],
        ["engine.device", "no CUDA GPU", "allowed: cpu"],
        files={"c.yaml": _yaml(engine={"device": "cuda"})},
        marks=[NO_CUDA],
    ),
    # ---- md: ids, temperatures, devices, models
    "md id escaping --out": Case(
        ["md", "../../1x1x1/vac1/seed0", "--candidates", "c.yaml", "--out", "mdout"],
        ["unknown candidate '../../1x1x1/vac1/seed0'", "CANDIDATE_ID", CANDIDATE],
        files={"c.yaml": BASE},
    ),
    "md temperature 1e9": Case(
        ["md", CANDIDATE, "--candidates", "c.yaml", "--temperatures", "1e9"],
        ["--temperatures", "(0, 3000]"],
        files={"c.yaml": BASE},
    ),
    "md temperature inf": Case(
        ["md", CANDIDATE, "--candidates", "c.yaml", "--temperatures", "548,inf"],
        ["bad temperature list '548,inf'"],
        files={"c.yaml": BASE},
    ),
    "md device tpu": Case(
        ["md", CANDIDATE, "--candidates", "c.yaml", "--device", "tpu"],
        ["unknown device 'tpu'", "cpu, cuda"],
        files={"c.yaml": BASE},
    ),
    "md device cuda without a GPU": Case(
        ["md", CANDIDATE, "--candidates", "c.yaml", "--device", "cuda"],
        ["field '--device'", "no CUDA GPU"],
        files={"c.yaml": BASE},
        marks=[NO_CUDA],
    ),
    "md untrusted pickle": Case(
        ["md", CANDIDATE, "--candidates", "c.yaml", "--potential", "mace:evil.model"],
        ["evil.model", "untrusted model file"],
        files={"c.yaml": BASE},
        setup=_evil_in_root,
    ),
    "md --out at a file": Case(
        ["md", CANDIDATE, "--candidates", "c.yaml", "--out", "f.txt"],
        ["f.txt", "field '--out'", "not a folder"],
        files={"c.yaml": BASE, "f.txt": "x"},
    ),
    # ---- candidates
    "candidates --write into a full folder": Case(
        ["candidates", "c.yaml", "--write", "full"],
        ["full", "field '--write'", "not empty"],
        files={"c.yaml": BASE, "full/keep.txt": "mine"},
    ),
    "candidates --format xml": Case(
        ["candidates", "c.yaml", "--format", "xml"],
        ["unknown format 'xml'", "table, json"],
        files={"c.yaml": BASE},
    ),
    # ---- the store: readers never create one
    "query, no store yet": Case(["query"], ["ilscreen-runs/store", "does not exist"]),
    "report, no store yet": Case(["report"], ["ilscreen-runs/store", "does not exist"]),
    "query a plain folder": Case(
        ["query", "--store", "data"],
        ["data", "is not a results store", "allowed: directory of an existing store"],
        files={"data/x.txt": "not a store"},
    ),
    "query a typo next to a store": Case(
        ["query", "--store", "runs/stor"], ["runs/stor", "nearest store is"], setup=_store_dir
    ),
    "query a file": Case(
        ["query", "--store", "notes.txt"], ["notes.txt", "is a file"], files={"notes.txt": "x"}
    ),
    "mongodb closed port": Case(
        ["query", "--store", "mongodb://user:secret@127.0.0.1:1/x"],
        ["mongodb://user:***@127.0.0.1:1/x", "ServerSelectionTimeoutError", "2 s"],
    ),
    "store config, closed port": Case(
        ["report", "--store", "s.yaml"],
        ["s.yaml", "127.0.0.1:1", "cannot use this MongoDB store"],
        files={"s.yaml": "type: mongo\nuri: mongodb://127.0.0.1:1/x\n"},
    ),
    "store config, bad uri": Case(
        ["query", "--store", "s.yaml"],
        ["s.yaml", "InvalidURI"],
        files={"s.yaml": "type: mongo\nuri: http://127.0.0.1:1\n"},
    ),
    "store config, unknown type": Case(
        ["query", "--store", "s.yaml"],
        ["s.yaml", "unknown store type 'redis'", "monty, mongo"],
        files={"s.yaml": "type: redis\n"},
    ),
    "store config, bad port": Case(
        ["query", "--store", "s.yaml"],
        ["field 'port'", "1-65535"],
        files={"s.yaml": "type: mongo\ndatabase: x\nport: abc\n"},
    ),
    "store config, malformed JSON": Case(
        ["query", "--store", "s.json"], ["s.json", "malformed JSON"], files={"s.json": "{type:"}
    ),
    "store config, duplicate key": Case(
        ["query", "--store", "s.yaml"],
        ["duplicate key 'type' at line 2 (first at line 1)"],
        files={"s.yaml": "type: monty\ntype: mongo\n"},
    ),
    "report --out at a file": Case(
        ["report", "--store", "runs/store", "--out", "f.txt"],
        ["f.txt", "field '--out'", "not a folder"],
        files={"f.txt": "x"},
        setup=_store_dir,
    ),
    "store config, path a number": Case(
        ["query", "--store", "s.yaml"],
        ["s.yaml: field 'path': 123: store does not exist"],
        files={"s.yaml": "type: monty\npath: 123\n"},
    ),
    "store config missing": Case(["query", "--store", "s.yaml"], ["s.yaml", "not found"]),
    # ---- potentials check
    "check untrusted pickle": Case(
        ["potentials", "check", "mace:evil.model"], ["untrusted model file"], setup=_evil_in_root
    ),
    "check device tpu": Case(["potentials", "check", "--device", "tpu"], ["'tpu'", "cpu, cuda"]),
    "check device cuda without a GPU": Case(
        ["potentials", "check", "--device", "cuda"], ["no CUDA GPU"], marks=[NO_CUDA]
    ),
    "check unknown scheme": Case(
        ["potentials", "check", "nosuch:x"], ["unknown potential scheme 'nosuch'", "chgnet"]
    ),
}


def _tree(base: Path) -> dict[str, int]:
    """Every path under ``base`` with its size (-1 for folders)."""
    return {
        str(p.relative_to(base)): p.stat().st_size if p.is_file() else -1
        for p in sorted(base.rglob("*"))
    }


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    sys.argv = ["ilscreen", *args]
    with pytest.raises(SystemExit) as ended:
        main()  # anything but InputError escapes here: a traceback fails the test
    out = capsys.readouterr()
    return int(ended.value.code or 0), out.out + out.err


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working folder, three levels down so escapes upwards stay inside ``tmp_path``."""
    folder = tmp_path / "outer" / "mid" / "root"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", sys.argv)
    monkeypatch.setenv(TRUST_ENV, "")  # no trust leaks in from other tests
    return folder


@pytest.mark.parametrize("case", [pytest.param(c, id=k, marks=c.marks) for k, c in CASES.items()])
def test_hostile_input_is_one_clear_error(
    case: Case, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, content in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if case.setup is not None:
        case.setup(root)
    before = _tree(tmp_path)
    start = time.perf_counter()
    code, output = _run(case.args, capsys)
    elapsed = time.perf_counter() - start
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert code == 2, output
    assert "Traceback" not in output
    assert len(errors) == 1, output
    for fragment in case.expect:
        assert fragment in errors[0], errors[0]
    assert len(errors[0]) < 600, "error text must not embed a huge input"
    assert _tree(tmp_path) == before, "something was written"
    assert not (root / "MARKER").exists(), "a model file ran code"
    assert elapsed < 30


def test_evil_pickle_never_runs_and_shipped_model_loads(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = root / "MARKER"
    evil = _evil_pickle(root / "evil.model", marker)
    spec = f"mace:{evil}"
    for call in (registry.describe, lambda s: registry.load_calculator(s, cache=False),
                 lambda s: registry.load_torchsim_model(s, cache=False)):  # fmt: skip
        with pytest.raises(InputError, match="untrusted model file"):
            call(spec)
    code, output = _run(["potentials", "check", spec, "--steps", "0"], capsys)
    assert code == 2 and "--trust-model" in output
    assert not marker.exists()
    # the shipped model: verified by its card's sha256, loads with no flag
    calc = registry.load_calculator(registry.DEFAULT_SPEC, cache=False)
    from ase.build import bulk

    atoms = bulk("Li", "bcc", a=3.44)
    atoms.calc = calc
    assert abs(atoms.get_potential_energy()) < 100
    # the test can fail: once trusted, the same file does run its code
    trust_model(evil)
    with pytest.raises(InputError):
        registry.describe(spec)
    assert marker.exists()


def test_tampered_shipped_model_is_refused(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = root / "models"
    models.mkdir()
    for suffix in (".model", ".card.json"):
        name = f"{registry.DEFAULT_SPEC.split(':')[1]}{suffix}"
        shutil.copy(registry.MODELS_DIR / name, models / name)
    with open(models / f"{registry.DEFAULT_SPEC.split(':')[1]}.model", "ab") as fh:
        fh.write(b"\0")
    monkeypatch.setattr(registry, "MODELS_DIR", models)
    with pytest.raises(InputError, match="does not match its card"):
        registry.load_calculator(registry.DEFAULT_SPEC, cache=False)


def test_campaign_trusted_models_and_flag_allow_a_model(root: Path) -> None:
    """engine.trusted_models (relative to the campaign) is the file's way to say --trust-model."""
    from potentials.testing import write_tiny_mace
    from screening.campaign import load_campaign

    model = write_tiny_mace(root / "sub" / "tiny.model", (3, 51))
    (root / "c.yaml").write_text(_yaml(engine={"potential": f"mace:{model}"}))
    (root / "t.yaml").write_text(
        _yaml(engine={"potential": f"mace:{model}", "trusted_models": ["sub/tiny.model"]})
    )
    os.environ[TRUST_ENV] = ""  # write_tiny_mace trusted it for this process: forget that
    with pytest.raises(InputError, match="untrusted"):
        registry.describe(f"mace:{model}")
    campaign = load_campaign(root / "t.yaml")
    assert campaign.settings_hash() == load_campaign(root / "c.yaml").settings_hash()
    registry.trust_campaign(campaign)
    assert registry.describe(f"mace:{model}").elements == ["Li", "Sb"]


@pytest.mark.parametrize(
    "identifier", ["../x", "a/../../b", "/etc/passwd", "a//b", ".hidden/x", "a/-rf", "a\\..\\b"]
)
def test_ids_never_leave_their_root(identifier: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be a folder name"):
        id_path(tmp_path, identifier)
    with pytest.raises(InputError):
        id_slug(identifier)


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "Li-Sb").symlink_to(tmp_path)
    with pytest.raises(InputError, match="outside"):
        id_path(tmp_path / "root", "Li-Sb/x")
    assert id_path(tmp_path, CANDIDATE) == tmp_path.joinpath(*CANDIDATE.split("/"))


def test_md_trajectory_path_refuses_an_escaping_id(tmp_path: Path) -> None:
    from workflows.md.maker import trajectory_path

    with pytest.raises(InputError, match="CANDIDATE_ID"):
        trajectory_path(tmp_path / "mdout", "../../2x2x2/vac1/seed0", 548.0)


def test_second_screen_on_one_folder_refuses(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock is an flock, so a second open file (as a second process has) is refused."""
    from workflows.screen import workdir_lock

    (root / "c.yaml").write_text(BASE)
    with workdir_lock(root / "runs"):
        before = _tree(tmp_path)
        code, output = _run(["screen", "c.yaml", "--workdir", "runs", "--quiet"], capsys)
        assert _tree(tmp_path) == before
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1, output
    assert f"another screen (pid {os.getpid()})" in errors[0] and "--workdir" in errors[0]


def test_screen_names_the_campaign_for_its_potential(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "c.yaml").write_text(_yaml(engine={"potential": "mace:gone.model"}))
    code, output = _run(["screen", "c.yaml", "--workdir", "runs"], capsys)
    assert code == 2 and "c.yaml: field 'engine.potential': gone.model: MACE model" in output
    assert not (root / "runs").exists()


def test_debug_shows_the_traceback(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _run(["--debug", "validate", "nope.yaml"], capsys)
    assert code == 2 and "Traceback" in output and "error: nope.yaml" in output
