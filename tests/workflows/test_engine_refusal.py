"""`engine: vasp | dft` is valid campaign input; a command that does not run an engine refuses it
with one error naming the file, the field and what is allowed, before any work (never an MLIP run
in its place). `ilscreen screen` runs `dft` (GPAW, tests/workflows/test_dft_campaign.py) and
`vasp`, which `ilscreen submit` runs too (tests/workflows/test_vasp_campaign.py: without VASP both
end in one error naming the missing setting; `md` and `neb` refuse it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from screening.cli import main

MINI = Path(__file__).parent / "data" / "mini_campaign.yaml"


@pytest.mark.parametrize(
    ("engine", "command"),
    [("dft", ["submit", "--scheduler", "slurm"])],
)
def test_unsupported_engine_is_refused(
    engine: str, command: list[str], tmp_path: Path, monkeypatch, capsys
) -> None:
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(MINI.read_text() + f"\nengine:\n  engine: {engine}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ilscreen", *command, str(campaign)])
    with pytest.raises(SystemExit) as ended:
        main()
    out = capsys.readouterr()
    text = out.out + out.err
    assert ended.value.code == 2
    assert "engine.engine" in text and f"'{engine}'" in text and "allowed: mlip" in text
    assert "Traceback" not in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["campaign.yaml"]  # nothing written
