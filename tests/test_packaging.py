"""The wheel ships everything the package reads at run time: templates, static files, the
published contracts, schemas, migrations. The suite runs from an editable install, which
reads them from the source tree, so without this a file left out of `package-data` is
found only by whoever installs the wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")


@pytest.mark.slow
def test_the_wheel_holds_every_file_of_the_package(tmp_path: Path) -> None:
    # Built from a copy, so the build leaves nothing in the checkout.
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src", ignore=SKIPPED)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("uec_booking-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    package = tree / "src"
    files = [p for p in (package / "uec_booking").rglob("*") if p.is_file()]
    missing = sorted(
        str(p.relative_to(package)) for p in files if str(p.relative_to(package)) not in shipped
    )
    assert len(files) > 200 and not missing, missing
