"""The local AWS's own structure (no server started):

- no import cycle among localaws modules (imports inside functions count too);
- every moto patch is declared in ``localaws.registry`` and goes through
  ``localaws.patching.replace``; nothing else assigns to moto;
- every patched moto attribute still exists in the installed moto (the moto-upgrade
  checklist);
- every ``localaws/...``, ``shims/...``, ``docs/...`` path and ``*.md`` file named in
  localaws's modules and tests and in docs/local-aws.md exists; no work-plan issue
  numbers.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from localaws import registry
from localaws.patching import Patch, missing

PKG = Path(__file__).resolve().parents[1]  # localaws/
REPO = PKG.parent
DOC = REPO / "docs" / "local-aws.md"
SHIMS_DIR = PKG / "shims"
HELPERS = {"__init__", "policy_eval", "cloudwatch_metrics"}  # modules of shims/ that are no behaviour


def sources() -> list[Path]:
    """Every module of localaws but its tests."""
    return sorted(p for p in PKG.rglob("*.py") if "tests" not in p.relative_to(PKG).parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def local_imports(path: Path) -> set[str]:
    """The localaws modules ``path`` imports, anywhere in it."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "localaws"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "localaws":
                continue
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}  # "from . import shim"
    return out


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in sources()}
    graph = {name: {m for m in local_imports(p) if m in modules and m != name}
             for name, p in modules.items()}
    # the registry imports the shims by name (importlib) when it installs them
    graph["localaws.registry"] |= {f"localaws.shims.{s.name}" for s in registry.SHIMS}
    graph["localaws.registry"] |= {f"localaws.shims.{m}" for m, _ in registry.HOOKS}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"], ["e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    graph = import_graph()
    assert "localaws.shims.s3_events" in graph["localaws.registry"]
    assert cycles(graph) == []


def test_types_and_patching_import_no_localaws_module() -> None:
    graph = import_graph()
    assert graph["localaws.hooks"] == set()     # Request, Response, Hook
    assert graph["localaws.patching"] == set()  # Patch, replace, missing
    for name, deps in graph.items():
        if name.startswith("localaws.shims."):
            bad = deps & {"localaws.registry", "localaws.control", "localaws.middleware",
                          "localaws.server"}
            assert not bad, f"{name} imports {bad}"


# ---- the registry and its inventory


def test_missing_reports_what_moto_lacks() -> None:
    bogus = [
        Patch("moto.s3.models", "S3Backend.no_such_method_localaws", "bogus"),
        Patch("moto.s3.models", "NoSuchClassLocalaws.get_bucket", "bogus"),
        Patch("moto.no_such_module_localaws", "anything", "bogus"),
        Patch("moto.s3.notifications", "no_such_function_localaws", "bogus"),
    ]
    out = missing(bogus)
    assert len(out) == 4
    assert out[0] == "moto.s3.models:S3Backend.no_such_method_localaws"
    assert missing([Patch("moto.s3.models", "S3Backend.get_bucket", "real")]) == []
    assert missing(list(registry.INVENTORY) + bogus[:1]) == out[:1]


def test_inventory_exists_in_installed_moto() -> None:
    import moto

    assert moto.__version__ == registry.MOTO_VERSION
    assert len(registry.INVENTORY) >= 50
    assert len({p.target for p in registry.INVENTORY}) == len(registry.INVENTORY)
    assert registry.missing() == []


def test_moto_pin_matches_registry() -> None:
    pins = re.findall(r"^moto\b.*?==\s*([\w.]+)", (REPO / "requirements-dev.txt").read_text(),
                      re.M)
    assert pins == [registry.MOTO_VERSION]


def test_every_shim_is_registered() -> None:
    files = {p.stem for p in SHIMS_DIR.glob("*.py")} - HELPERS
    patching = [s.name for s in registry.SHIMS]
    hooks = [m for m, _ in registry.HOOKS]
    assert len(set(patching)) == len(patching) and len(set(hooks)) == len(hooks)
    assert set(patching) | set(hooks) == files
    for shim in registry.SHIMS:
        assert shim.patches, shim.name
        for p in shim.patches:
            assert p.module.startswith("moto.") and p.attr and p.why, p
    import importlib

    for module, cls in registry.HOOKS:
        hook = getattr(importlib.import_module(f"localaws.shims.{module}"), cls)
        assert callable(hook.before) and callable(hook.after)


def replace_calls(path: Path) -> list[tuple[str, str]]:
    """(module, attr) of every ``replace(...)`` call in ``path``, in source order; a call
    whose module or attribute is not a string literal fails (the registry could not
    check it)."""
    out = []
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "replace":
            args = node.args[:2]
            assert len(args) == 2 and all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                          for a in args), \
                f"{path.name}:{node.lineno}: replace() needs literal module and attribute"
            out.append((node.lineno, args[0].value, args[1].value))
    return [(m, a) for _, m, a in sorted(out)]


def test_replace_calls_are_the_declared_patches() -> None:
    declared = {s.name: [p.target for p in s.patches] for s in registry.SHIMS}
    for path in sorted(SHIMS_DIR.glob("*.py")):
        assert replace_calls(path) == declared.get(path.stem, []), path.name
    for path in sources():
        if path.parent != SHIMS_DIR:
            assert replace_calls(path) == [], path.name


def direct_patches(source: str) -> list[str]:
    """Assignments to (or setattr / delattr on) names bound by an import from moto."""
    tree = ast.parse(source)
    moto_names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "moto":
            moto_names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            moto_names |= {(a.asname or a.name).split(".")[0] for a in node.names
                           if a.name.split(".")[0] == "moto"}

    def rooted_in_moto(expr: ast.expr) -> bool:
        while isinstance(expr, ast.Attribute):
            expr = expr.value
        return isinstance(expr, ast.Name) and expr.id in moto_names

    out = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("setattr", "delattr") and node.args \
                and rooted_in_moto(node.args[0]):
            out.append(f"{node.lineno}: {ast.unparse(node)}")
        for t in targets:
            if isinstance(t, ast.Attribute) and rooted_in_moto(t):
                out.append(f"{node.lineno}: {ast.unparse(t)}")
    return out


def test_direct_patch_finder() -> None:
    src = ("import moto.s3.models\n"
           "def install():\n"
           "    from moto.s3.models import S3Backend\n"
           "    from moto.core import responses as r\n"
           "    S3Backend.get_bucket = None\n"
           "    setattr(S3Backend, 'delete_bucket', None)\n"
           "    r.gen_amzn_requestid_long = None\n"
           "    moto.s3.models.S3Backend.x = 1\n"
           "    bucket = S3Backend()\n"
           "    bucket.name = 'fine: an instance'\n")
    assert len(direct_patches(src)) == 4


def test_no_direct_moto_patch_outside_patching() -> None:
    found = {p.relative_to(REPO).as_posix(): direct_patches(p.read_text())
             for p in sources() if p.name != "patching.py"}
    assert {k: v for k, v in found.items() if v} == {}


def test_install_replaces_exactly_the_inventory() -> None:
    # in a child process: the test process's moto stays unpatched
    code = ("import json\n"
            "from localaws import patching, registry\n"
            "from localaws.config import Config\n"
            "registry.install(None, Config())\n"
            "registry.install(None, Config())\n"  # a second call does nothing
            "hooks = registry.request_hooks(Config())\n"
            "print(json.dumps({'replaced': patching.replaced(),\n"
            "                  'hooks': [type(h).__name__ for h in hooks],\n"
            "                  'missing': registry.missing()}))\n")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True, timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    declared = [list(p.target) for s in registry.SHIMS for p in s.patches]
    assert got["replaced"] == declared
    assert got["hooks"] == [cls for _, cls in registry.HOOKS]
    assert got["missing"] == []  # a replaced attribute is still there


# ---- references in comments and docs

PATH_RE = re.compile(r"(?<![\w./-])((?:localaws|shims|docs)/[\w./-]*[\w/])")
PY_RE = re.compile(r"(?<![\w./-])([\w/]+\.py)\b")
MD_RE = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")


def _exists(ref: str, *bases: Path) -> bool:
    ref = ref.rstrip("/")
    return any((b / r).exists() for b in bases for r in (ref, ref + ".py"))


def test_referenced_paths_exist() -> None:
    bad = []
    # this file names missing paths on purpose
    tests = sorted(t for t in (PKG / "tests").glob("*.py") if t.name != Path(__file__).name)
    for path in sources() + tests + [DOC]:
        text = path.read_text()
        for ref in set(PATH_RE.findall(text)):
            base = PKG if ref.startswith("shims/") else REPO
            if not _exists(ref, base):
                bad.append(f"{path.relative_to(REPO)}: {ref}")
        for ref in set(MD_RE.findall(text)):  # DESIGN.md, consistency.md
            if not _exists(ref, REPO, REPO / "docs"):
                bad.append(f"{path.relative_to(REPO)}: {ref}")
    for ref in set(PY_RE.findall(DOC.read_text())):
        if not _exists(ref, REPO, PKG, SHIMS_DIR, PKG / "tests"):
            bad.append(f"docs/local-aws.md: {ref}")
    assert bad == []


@pytest.mark.parametrize("ref,ok", [("localaws/registry.py", True), ("shims/s3_events", True),
                                    ("localaws/shims/", True), ("docs/local-aws.md", True),
                                    ("shims/no_such_shim.py", False),
                                    ("localaws/hooks/install.py", False)])
def test_path_check(ref: str, ok: bool) -> None:
    assert PATH_RE.findall(f"see `{ref}`, not /_localaws/health") == [ref]
    assert _exists(ref, PKG if ref.startswith("shims/") else REPO) == ok


def test_no_work_plan_numbers() -> None:
    # a work plan's "issue" + number; "issue #4633" of another project is a source
    pattern = re.compile(r"\bissues? \d+", re.I)
    bad = [f"{p.relative_to(REPO)}: {m}" for p in sources() + sorted(PKG.glob("tests/*.py"))
           + [DOC] for m in pattern.findall(p.read_text())]
    assert bad == []
