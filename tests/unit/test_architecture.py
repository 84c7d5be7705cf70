"""Architecture rules checked by import-linter: the core imports no infrastructure, services
never import each other, the layers services/CLI > jdl_pipeline > jdl_infra > jdl_events hold;
and no module builds settings at import time."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout
    assert "Layers: entry points over the stage runner" in r.stdout   # jdl_pipeline's place is checked


def test_services_import_without_settings_or_secrets_in_the_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith("JDL_")}
    code = ("import services.intake.app, services.intake.api, services.linkage.app, "
            "services.matching.app, services.reporting.app, services.purge.app")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_every_service_has_the_same_few_files():
    for name in ("intake", "linkage", "matching", "reporting", "purge"):
        d = ROOT / "services" / name
        for f in ("app.py", "handlers.py", "settings.py", "__main__.py", "README.md"):
            assert (d / f).exists(), f"services/{name}/{f} missing"


def test_individual_level_data_is_encrypted_only_through_the_guarded_helpers():
    """crypto.put_encrypted/get_encrypted refuse keys outside submissions/<id>/, where purge
    looks; calling the key ring directly would skip that guard (as intake and jdl_infra.ports
    once did)."""
    crypto = ROOT / "shared" / "jdl_infra" / "crypto.py"
    bypasses = [f"{p.relative_to(ROOT)}:{n}" for d in ("shared", "services")
                for p in sorted((ROOT / d).rglob("*.py")) if p != crypto
                for n, line in enumerate(p.read_text().splitlines(), 1)
                if ".encrypt(" in line or ".decrypt(" in line]
    assert bypasses == []
