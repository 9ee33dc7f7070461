"""The built wheel carries sql/, dashboards/ and the catalog, and finds them installed."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from divergence.alerts.rules import load_default_rules

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
from pathlib import Path
import divergence
from divergence.content import content_dir, default_catalog_path
from divergence.catalog import load_catalog
from divergence.alerts.rules import load_default_rules
pkg = Path(divergence.__file__).resolve().parent
out = {
    "inside_package": all(str(content_dir(n)).startswith(str(pkg)) for n in
                          ("sql", "dashboards", "ingest")),
    "schema": sorted(p.name for p in (content_dir("sql") / "schema").glob("*.sql")),
    "queries": sorted(p.name for p in (content_dir("sql") / "queries").glob("*.sql")),
    "dashboards": sorted(p.name for p in content_dir("dashboards").glob("*.toml")),
    "tokens": len(load_catalog(default_catalog_path()).token),
    "default_rules": len(load_default_rules().rules),
}
print(json.dumps(out))
"""


def _run(args: list[str], cwd: Path) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args[:3]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _share_dependencies(py: Path) -> None:
    """Let the fresh venv import this environment's dependencies, but not its divergence.

    A ``.pth`` line that is a plain directory only appends it to ``sys.path`` (the
    editable install's own ``.pth`` there is not processed), so ``divergence`` still
    resolves to the installed wheel, which comes first.
    """
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], ROOT)
    ours = [p for p in sys.path if p.endswith("site-packages")]
    (Path(site.strip()) / "shared-deps.pth").write_text("\n".join(ours) + "\n")


@pytest.mark.slow
def test_packaging_wheel_finds_bundled_content(tmp_path: Path) -> None:
    import json

    dist = tmp_path / "dist"
    # No build isolation and no dependency install: the test environment already holds
    # hatchling and every dependency, so nothing is downloaded and the test stays fast.
    build = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)]
    _run([*build, str(ROOT)], ROOT)
    wheel = next(dist.glob("divergence-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    _share_dependencies(py)
    pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps"]
    _run([*pip, str(wheel)], tmp_path)
    found = json.loads(_run([str(py), "-c", PROBE], tmp_path))
    assert found["inside_package"] is True
    assert found["default_rules"] == len(load_default_rules().rules)  # the rules file ships
    assert found["schema"] == sorted(p.name for p in (ROOT / "sql" / "schema").glob("*.sql"))
    assert found["queries"] == sorted(p.name for p in (ROOT / "sql" / "queries").glob("*.sql"))
    assert found["dashboards"] == sorted(p.name for p in (ROOT / "dashboards").glob("*.toml"))
    assert found["tokens"] == len(
        [
            line
            for line in (ROOT / "ingest" / "instruments.toml").read_text().splitlines()
            if line.strip() == "[[token]]"
        ]
    )
    db = tmp_path / "installed.duckdb"
    cli = env_dir / "bin" / "divergence"
    _run(
        [
            str(cli),
            "backfill",
            "--db",
            str(db),
            "--start",
            "2025-10-10T00:00:00Z",
            "--end",
            "2025-10-11T00:00:00Z",
        ],
        tmp_path,
    )
    names = _run(
        [
            str(cli),
            "sql",
            "--db",
            str(db),
            "--format",
            "csv",
            "SELECT name FROM schema_migrations ORDER BY version",
        ],
        tmp_path,
    )
    assert names.split() == ["name", *found["schema"][1:]]
