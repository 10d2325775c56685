"""Spec parsing, bad input, element coverage, cards and caching of the potentials registry."""

from __future__ import annotations

import hashlib
import json
import urllib.error

import pytest

from potentials import registry
from potentials.testing import write_tiny_mace
from screening.errors import InputError


@pytest.fixture(scope="module")
def tiny_mace(tmp_path_factory: pytest.TempPathFactory):
    return write_tiny_mace(tmp_path_factory.mktemp("tiny") / "tiny-lisb.model", (3, 51))


def test_unknown_scheme_lists_allowed_schemes() -> None:
    with pytest.raises(InputError) as err:
        registry.parse_spec("nequip:foo")
    text = str(err.value)
    assert "unknown potential scheme 'nequip'" in text
    for scheme in ("mace:", "mace-mp:", "sevennet:", "chgnet"):
        assert scheme in text
    assert err.value.field == "potential"


def test_missing_mace_file_names_the_file_and_shipped_names(tmp_path) -> None:
    missing = tmp_path / "nope.model"
    with pytest.raises(InputError) as err:
        registry.parse_spec(f"mace:{missing}")
    assert err.value.file == str(missing)
    assert "not found" in str(err.value)
    assert "mace:<existing .model file>" in str(err.value)


def test_mace_foundation_name_under_mace_scheme_gets_a_hint() -> None:
    with pytest.raises(InputError, match=r"use 'mace-mp:small'"):
        registry.parse_spec("mace:small")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("sevennet:7net-99", "sevennet:7net-0"),
        ("chgnet:9.9.9", "0.3.0"),
        ("mace-mp:gigantic", "medium-mpa-0"),
        ("", "mace:<path"),
    ],
)
def test_unknown_names_list_allowed(spec: str, fragment: str) -> None:
    with pytest.raises(InputError) as err:
        registry.parse_spec(spec)
    assert fragment in (err.value.allowed or "")


def test_canonical_specs() -> None:
    assert registry.parse_spec("sevennet:SevenNet-0").spec == "sevennet:7net-0"
    assert registry.parse_spec("chgnet").spec == "chgnet:0.3.0"
    assert registry.parse_spec(" chgnet:0.3.0 ").spec == "chgnet:0.3.0"


def test_bad_dtype_rejected(tiny_mace) -> None:
    with pytest.raises(InputError, match="dtype"):
        registry.load_calculator(f"mace:{tiny_mace}", dtype="float16")


def test_chgnet_has_no_batched_md() -> None:
    with pytest.raises(InputError, match=r"batched MD .* unavailable for chgnet"):
        registry.load_torchsim_model("chgnet")


def test_mace_mp_offline_fails_clearly(monkeypatch, tmp_path) -> None:
    """No cache and no network: one clear InputError that points at the offline potentials."""
    import mace.calculators.foundations_models as fm

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty mace cache

    def no_network(model=None):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(fm, "download_mace_mp_checkpoint", no_network)
    info = registry.describe("mace-mp:small")
    assert not info.offline_available
    assert info.path is None
    with pytest.raises(InputError) as err:
        registry.load_calculator("mace-mp:small", cache=False)
    text = str(err.value)
    assert "could not fetch MACE-MP weights 'small'" in text
    assert "sevennet:7net-0" in text
    with pytest.raises(InputError, match="not available locally"):
        registry.check_coverage("mace-mp:small", ["Li"])


def test_mace_mp_uses_mace_cache_when_present(monkeypatch, tmp_path, tiny_mace) -> None:
    """A file in mace's cache (named as mace names it) makes mace-mp usable offline."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "mace").mkdir()
    cached = tmp_path / "mace" / "20231210mace128L0_energy_epoch249model"
    cached.write_bytes(tiny_mace.read_bytes())
    info = registry.describe("mace-mp:small")
    assert info.offline_available
    assert info.path == str(cached)
    assert info.elements == ["Li", "Sb"]


def test_describe_tiny_mace(tiny_mace) -> None:
    info = registry.describe(f"mace:{tiny_mace}")
    assert info.kind == "mace"
    assert info.elements == ["Li", "Sb"]  # from model.atomic_numbers, not the file name
    assert info.sha256 == hashlib.sha256(tiny_mace.read_bytes()).hexdigest()
    assert info.offline_available and info.batched_md
    assert info.native_dtype == "float64"  # read from the module's parameters
    assert info.card == {} and info.card_sha256_ok is None


def test_card_summary_and_sha_check(tmp_path) -> None:
    model = write_tiny_mace(tmp_path / "carded.model", (3, 12))
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    card = {
        "name": "carded",
        "teacher": "sevennet:7net-0",
        "elements": ["Li", "Mg"],
        "sha256": sha,
        "license": "MIT",
        "metrics": {
            "train": {"force_mae_eV_per_A": 0.01},
            "test": {
                "overall": {"force_mae_eV_per_A": 0.042, "energy_mae_eV_per_atom": 0.003},
                "per_system": {"Li-Mg": {"force_mae_eV_per_A": 0.05}},
            },
        },
        "speed": {
            "teacher_atom_steps_per_s": 50.0,
            "student_atom_steps_per_s": 1234.0,
            "speedup_vs_teacher": 24.7,
        },
    }
    (tmp_path / "carded.card.json").write_text(json.dumps(card))
    info = registry.describe(f"mace:{model}")
    assert info.card["force_mae_eV_per_A"] == pytest.approx(0.042)  # held-out, not training
    assert info.card["energy_mae_eV_per_atom"] == pytest.approx(0.003)
    assert info.card["speed_atom_steps_per_s"] == pytest.approx(
        1234.0
    )  # the model's, not teacher's
    assert info.card["speedup_vs_teacher"] == pytest.approx(24.7)
    assert info.license == "MIT"
    assert info.card_sha256_ok is True
    card["sha256"] = "0" * 64
    (tmp_path / "carded.card.json").write_text(json.dumps(card))
    assert registry.describe(f"mace:{model}").card_sha256_ok is False


def test_coverage_failure_names_source_and_element(tiny_mace) -> None:
    spec = f"mace:{tiny_mace}"
    info = registry.check_coverage(spec, ["Li", "Sb"], source="system 'Li-Sb'")
    assert info.elements == ["Li", "Sb"]
    with pytest.raises(InputError) as err:
        registry.check_coverage(spec, ["Li", "Mg", "Sb"], source="system 'Li-Mg'")
    text = str(err.value)
    assert "does not cover element(s) Mg needed by system 'Li-Mg'" in text
    assert "Li, Sb" in (err.value.allowed or "")


def test_universal_coverage_read_from_checkpoints() -> None:
    seven = registry.describe("sevennet:7net-0")
    assert len(seven.elements) == 89 and {"Li", "Sb", "Mg", "Ag", "Si", "C"} <= set(seven.elements)
    chg = registry.describe("chgnet")
    assert len(chg.elements) == 94  # one embedding row per Z = 1..94
    assert chg.elements[0] == "H" and chg.elements[-1] == "Pu"  # sorted by Z
    assert not chg.batched_md


def test_calculators_are_cached_per_spec_device_dtype(tiny_mace) -> None:
    spec = f"mace:{tiny_mace}"
    a = registry.load_calculator(spec, dtype="float64")
    assert registry.load_calculator(spec, dtype="float64") is a
    b = registry.load_calculator(spec, dtype="float32")
    assert b is not a
    assert registry.load_calculator(spec, dtype="float64", cache=False) is not a


def test_shipped_name_resolves_in_models_dir(monkeypatch, tmp_path, tiny_mace) -> None:
    """`mace:<name>` finds models/<name>.model; the canonical spec stays the short name."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "ilscreen-li-alloys.model").write_bytes(tiny_mace.read_bytes())
    monkeypatch.setattr(registry, "MODELS_DIR", models)
    ps = registry.parse_spec("mace:ilscreen-li-alloys")
    assert ps.path == models / "ilscreen-li-alloys.model"
    assert ps.spec == "mace:ilscreen-li-alloys"
    assert registry.known_specs()[0] == "mace:ilscreen-li-alloys"
    assert registry.known_specs().count("mace:ilscreen-li-alloys") == 1
    with pytest.raises(InputError) as err:
        registry.parse_spec("mace:ilscreen-li-alloyz")
    assert "mace:ilscreen-li-alloys" in (err.value.allowed or "")
