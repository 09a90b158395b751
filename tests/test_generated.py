"""Generated files must match the code that generates them."""
from zhidu.docs import build
from zhidu.plugins import discover


def test_every_contract_service_is_installed_as_a_plugin():
    assert {"directory", "dormitory", "penalties", "notifications"} <= set(discover())


def test_generated_docs_and_manifests_are_current():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    stale = [rel for rel, content in build().items()
             if not (root / rel).exists() or (root / rel).read_text(encoding="utf-8") != content]
    assert stale == [], "run `.venv/bin/zhidu docs` and commit the result"
