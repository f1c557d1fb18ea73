"""docs/security.md's threat model names, for each threat, the tests that prove its defence: each must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def test_every_test_the_security_doc_names_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    model = text[text.index("## Threat model") :]
    named = sorted(set(NAMED.findall(model)))
    assert len(named) >= 20, "the threat model names the tests that prove each line"
    missing = []
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        if not any(isinstance(node, ast.FunctionDef) and node.name == name for node in ast.walk(tree)):
            missing.append(f"{path}::{name}")
    assert missing == []
