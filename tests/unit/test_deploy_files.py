"""The files that deploy ppg-dr the way Azure users deploy: azd (azure.yaml and its hook), the GitHub Actions
example, the Function App package (.funcignore) and what it installs (requirements.txt).

The second-pass hook is run for real, with a stand-in ``az`` on PATH that records its calls.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.unit.bicep_eval import parse

ROOT = Path(__file__).resolve().parents[2]
AZURE_YAML = ROOT / "azure.yaml"
HOOK = ROOT / "infra" / "hooks" / "event-subscriptions.sh"
WORKFLOW = ROOT / "examples" / "github-actions" / "deploy.yml"

# ----------------------------------------------------------------------------------------------------- azd


def test_azure_yaml_deploys_the_function_app_named_by_mains_outputs() -> None:
    text = AZURE_YAML.read_text(encoding="utf-8")
    assert re.search(r"^infra:\n  provider: bicep\n  path: infra\n  module: main$", text, re.M)
    service = text[text.index("services:") : text.index("hooks:")]
    assert "host: function" in service and "language: python" in service and "project: ." in service
    referenced = set(re.findall(r"\$\{(\w+)\}", service))
    outputs = set(parse(ROOT / "infra" / "main.bicep")["outputs"])
    assert referenced == {"AZURE_FUNCTION_APP_NAME", "AZURE_RESOURCE_GROUP"} <= outputs


def test_the_postdeploy_hooks_exist_and_the_posix_one_is_executable() -> None:
    text = AZURE_YAML.read_text(encoding="utf-8")
    hooks = text[text.index("hooks:") :]
    assert "postdeploy:" in hooks
    runs = re.findall(r"run: (\S+)", hooks)
    assert runs == ["infra/hooks/event-subscriptions.sh", "infra/hooks/event-subscriptions.ps1"]
    for run in runs:
        assert (ROOT / run).is_file(), run
    assert HOOK.stat().st_mode & stat.S_IXUSR, "azd runs the posix hook directly"


FAKE_AZ = """#!/bin/sh
echo "$*" >> "$AZ_LOG"
case "$1 $2" in
  "account show") exit "${AZ_LOGGED_OUT:-0}" ;;
  "functionapp function") echo "$@" | grep -q -- "--function-name" && exit 0 ;;
  "deployment sub")
    while [ $# -gt 0 ]; do
      case "$1" in --parameters) case "$2" in @*) cp "${2#@}" "$AZ_PARAMETERS_SEEN" ;; esac ;; esac
      shift
    done
    exit 0 ;;
esac
exit 1
"""


def _run_hook(tmp_path: Path, parameters: dict[str, object], **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The hook in a copy of the tree (its parameters file beside it), with a stand-in az on PATH."""
    tree = tmp_path / "repo"
    (tree / "infra" / "hooks").mkdir(parents=True)
    shutil.copy2(HOOK, tree / "infra" / "hooks" / HOOK.name)
    (tree / "infra" / "main.bicep").write_text("targetScope = 'subscription'\n")
    (tree / "infra" / "main.parameters.json").write_text(json.dumps({"parameters": parameters}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(FAKE_AZ)
    (bin_dir / "az").chmod(0o755)
    log = tmp_path / "az.log"
    azd_env = {
        "AZURE_ENV_NAME": "prod",
        "AZURE_LOCATION": "northeurope",
        "AZURE_SUBSCRIPTION_ID": "sub-1",
        "AZURE_RESOURCE_GROUP": "rg-ppgdr",
        "AZURE_FUNCTION_APP_NAME": "ppgdr-func-x",
    }
    full_env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "AZ_LOG": str(log),
        "AZ_PARAMETERS_SEEN": str(tmp_path / "seen.json"),
        "TMPDIR": str(tmp_path),
        **azd_env,
        **env,
    }
    done = subprocess.run(
        ["sh", str(tree / "infra" / "hooks" / HOOK.name)], env=full_env, capture_output=True, text=True, timeout=30, check=False
    )
    return done, log


def test_the_second_pass_waits_for_the_functions_then_redeploys_with_event_subscriptions(tmp_path: Path) -> None:
    parameters = {"location": {"value": "${AZURE_LOCATION}"}, "dryRun": {"value": "${PPGDR_DRY_RUN=true}"}}
    done, log = _run_hook(tmp_path, parameters)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "account show --only-show-errors"
    assert [c.split("--function-name ")[1].split()[0] for c in calls if c.startswith("functionapp function show")] == [
        "resource_events",
        "health_events",
    ]
    deploy = calls[-1]
    assert deploy.startswith("deployment sub create --subscription sub-1 --name prod-event-subscriptions --location northeurope")
    assert deploy.endswith("--parameters deployEventSubscriptions=true --only-show-errors --output none")
    seen = json.loads((tmp_path / "seen.json").read_text())["parameters"]
    assert seen == {"location": {"value": "northeurope"}, "dryRun": {"value": "true"}}, "azd placeholders expanded"
    assert not list(tmp_path.glob("ppgdr-parameters.*")), "the expanded copy is removed"


def test_the_second_pass_says_what_to_do_when_the_azure_cli_is_not_signed_in(tmp_path: Path) -> None:
    done, log = _run_hook(tmp_path, {}, AZ_LOGGED_OUT="1")
    assert done.returncode == 1
    assert "az login" in done.stderr and "azd hooks run postdeploy" in done.stderr
    assert "deployment" not in log.read_text()


def test_the_second_pass_can_be_skipped(tmp_path: Path) -> None:
    done, log = _run_hook(tmp_path, {}, PPGDR_SKIP_EVENT_SUBSCRIPTIONS="true")
    assert done.returncode == 0 and "not deployed" in done.stdout
    assert not log.exists()


def test_an_unset_placeholder_stops_the_second_pass(tmp_path: Path) -> None:
    done, log = _run_hook(tmp_path, {"recoveryVaultId": {"value": "${PPGDR_VAULT_ID}"}})
    assert done.returncode != 0 and "PPGDR_VAULT_ID" in done.stderr
    assert "deployment sub create" not in log.read_text()


# ------------------------------------------------------------------------------------------ GitHub Actions


def test_the_ci_example_cannot_run_in_this_repository_and_uses_oidc() -> None:
    workflows = ROOT / ".github" / "workflows"
    assert not (workflows.exists() and any(workflows.iterdir())), "an example must not be an active workflow here"
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "id-token: write" in text and "uses: azure/login@v2" in text
    assert "client-secret" not in text and "creds:" not in text and "secrets." not in text, "OIDC only, no secret"
    assert "run: make test" in text and "needs: test" in text
    assert "azd up --no-prompt" in text and "auth.useAzCliAuth true" in text
    assert "environment: production" in text


# ---------------------------------------------------------------------------------------- the guides

DEPLOY_GUIDE = ROOT / "docs" / "deploy.md"
# How the deployment files cite a section of a guide: `docs/deploy.md, Costs)`, `docs/deploy.md, "Deploy from GitHub
# Actions")` or `docs/deploy.md (Alert authentication)`. A bare `docs/deploy.md` names no section.
SECTION_REFERENCE = re.compile(
    r"""(docs/(?:deploy|infra)\.md)(?:,\s*["']?([A-Za-z][^"'()\n]*?)["']?\)|\s+\(([A-Za-z][^()\n]*?)\))"""
)


def _section_references(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), (m.group(2) or m.group(3)).strip()) for m in SECTION_REFERENCE.finditer(text)]


def _headings(doc: Path) -> set[str]:
    """Markdown headings of ``doc`` (case-folded), ignoring `#` lines inside fenced code blocks."""
    found: set[str] = set()
    fenced = False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6}\s+(.+?)\s*$", line)):
            found.add(heading.group(1).casefold())
    return found


def _deployment_files() -> list[Path]:
    nested = [p for folder in ("infra", "examples") for p in sorted((ROOT / folder).rglob("*")) if p.is_file()]
    return [AZURE_YAML, *nested]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("defaults (docs/deploy.md, Costs).", [("docs/deploy.md", "Costs")]),
        ('needs (docs/deploy.md, "Deploy from GitHub Actions"):', [("docs/deploy.md", "Deploy from GitHub Actions")]),
        ("see docs/deploy.md (Alert authentication) first", [("docs/deploy.md", "Alert authentication")]),
        ("(see docs/infra.md, 'Identity, roles and scopes')", [("docs/infra.md", "Identity, roles and scopes")]),
        ("(a Key Vault reference, docs/deploy.md), or", []),
        ("(see docs/deploy.md); never commit it", []),
        ("Step by step: docs/deploy.md.", []),
    ],
)
def test_section_references_are_read_in_every_form_the_files_use(text: str, expected: list[tuple[str, str]]) -> None:
    assert _section_references(text) == expected


def test_the_deploy_guide_has_every_section_the_deployment_files_cite() -> None:
    assert DEPLOY_GUIDE.is_file(), "infra/, azure.yaml and the CI example point to docs/deploy.md"
    cited = [
        (str(path.relative_to(ROOT)), doc, section)
        for path in _deployment_files()
        for doc, section in _section_references(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert any(doc == "docs/deploy.md" for _, doc, _ in cited), "no section reference found: has the citation form changed?"
    missing = [f"{where}: {doc}, {section!r}" for where, doc, section in cited if section.casefold() not in _headings(ROOT / doc)]
    assert not missing, f"cited sections with no such heading: {missing}"


# -------------------------------------------------------------------------------------- the package


def _ignored(path: str, patterns: list[str]) -> bool:
    """gitignore semantics for the simple patterns .funcignore uses: a name or glob matching any path component."""
    parts = path.split("/")
    return any(fnmatch.fnmatch(part, pattern) for pattern in patterns for part in parts)


def _funcignore() -> list[str]:
    lines = (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert all("/" not in p and not p.startswith("!") for p in patterns), "keep patterns simple (names and globs)"
    return patterns


def test_funcignore_keeps_development_code_out_of_the_package() -> None:
    patterns = _funcignore()
    for path in ("tests", "bench", "localdev", "emulator", "docs", "infra", "node_modules", ".venv", ".venv-checkov", "examples"):
        assert _ignored(path, patterns), f"{path} would be deployed"
    for path in ("requirements-dev.txt", "requirements-local.txt", "local.settings.json", "azure.yaml", "shared/x/__pycache__"):
        assert _ignored(path, patterns), f"{path} would be deployed"
    for path in ("function_app.py", "host.json", "requirements.txt", "functions/timers.py", "shared/operator/templates/x.j2"):
        assert not _ignored(path, patterns), f"{path} would be left out of the package"


def test_everything_the_function_app_imports_is_in_the_package() -> None:
    script = (
        "import json, sys, function_app; "
        "print(json.dumps([m.__file__ for m in list(sys.modules.values()) if getattr(m, '__file__', None)]))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    loaded = [Path(f).resolve() for f in json.loads(done.stdout.splitlines()[-1])]
    ours = [str(f.relative_to(ROOT)) for f in loaded if f.is_relative_to(ROOT) and ".venv" not in f.parts]
    assert "function_app.py" in ours and any(p.startswith("shared/") for p in ours)
    patterns = _funcignore()
    assert not [p for p in ours if _ignored(p, patterns)], "imported by the app but left out of the package"


# ---------------------------------------------------------------------------------------- requirements


def _requirements(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-r"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]+\])?==(\S+)", line)
        assert match, f"{name}: {line!r} is not pinned with =="
        pins[_normal(match.group(1))] = match.group(3)
    return pins


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _app_imports() -> set[str]:
    """Dotted names of the third-party modules the deployed code imports (shared/, functions/, function_app.py)."""
    files = [ROOT / "function_app.py", *(ROOT / "shared").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    names: set[str] = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    first_party = {"shared", "functions", "function_app", "__future__"}
    return {n for n in names if n.split(".")[0] not in first_party | set(sys.stdlib_module_names)}


def _distribution(module: str, runtime: set[str]) -> str | None:
    """The requirement that provides ``module``: namespace packages by name (azure.mgmt.compute is
    azure-mgmt-compute), the others through the installed distributions' top-level names."""
    hyphenated = _normal(module)
    candidates = [r for r in runtime if hyphenated == r or hyphenated.startswith(r + "-")]
    if candidates:
        return max(candidates, key=len)
    for dist in metadata.packages_distributions().get(module.split(".")[0], []):
        if _normal(dist) in runtime:
            return _normal(dist)
    return None


def test_requirements_txt_holds_what_runs_in_azure_and_nothing_else() -> None:
    runtime = _requirements("requirements.txt")
    for other in ("requirements-dev.txt", "requirements-local.txt"):
        assert not set(runtime) & set(_requirements(other)), f"{other} repeats a runtime pin"
    imported = {module: _distribution(module, set(runtime)) for module in _app_imports()}
    missing = sorted(m for m, dist in imported.items() if dist is None)
    assert not missing, f"the app imports {missing}, which requirements.txt does not provide"
    used = set(imported.values())
    for dist in set(runtime) - used:  # pinned on purpose only as a dependency of what the app imports
        requirers = [d for d in used if any(_normal(re.split(r"[ ;<>=!~\[(]", r)[0]) == dist for r in metadata.requires(d) or [])]
        assert requirers, f"requirements.txt installs {dist} in Azure, but the app neither imports nor needs it"


@pytest.mark.parametrize("name", ["requirements-dev.txt", "requirements-local.txt"])
def test_dev_and_local_requirements_are_pinned(name: str) -> None:
    assert _requirements(name)
