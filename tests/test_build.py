"""Guards on the layout of the code base (ARCHITECTURE.md §7.7): unique kernel stems, every op
schema has a wrapper/reference/test, the build never forces -std=, imports point downward."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Rank of each top-level package of hold (docs/DEVELOPING.md). A module may import its own
# package and strictly lower ranks.
RANKS = {
    "io": 0, "utils": 0, "config": 0, "data": 0, "assets": 0,
    "ops": 1,
    "models": 2,
    "render": 3, "export": 3,
    "train": 4, "refine": 4,
    "eval": 5, "synth": 5, "preprocess": 5,
    "pipeline": 6,
    "bench": 7,  # times the kernels and, end to end, the pipeline
    "cli": 8,
}


def test_cpp_and_cuda_sources_have_unique_stems():
    files = list((ROOT / "csrc").rglob("*.cpp")) + list((ROOT / "csrc").rglob("*.cu"))
    stems = [f.stem for f in files]
    assert len(stems) == len(set(stems)), sorted(s for s in stems if stems.count(s) > 1)


def test_every_kernel_family_is_compiled_for_both_backends():
    cpu = {p.name[: -len("_cpu.cpp")] for p in (ROOT / "csrc/kernels").glob("*_cpu.cpp")}
    cuda = {p.name[: -len("_cuda.cu")] for p in (ROOT / "csrc/kernels").glob("*_cuda.cu")}
    impl = {p.name[: -len("_impl.h")] for p in (ROOT / "csrc/kernels").glob("*_impl.h")}
    assert cpu == cuda == impl
    for family in impl:  # each unit is the one-line include of its shared implementation
        for unit in (f"{family}_cpu.cpp", f"{family}_cuda.cu"):
            text = (ROOT / "csrc/kernels" / unit).read_text().strip()
            assert text == f'#include "kernels/{family}_impl.h"', unit


def test_core_and_kernels_never_include_torch():
    for path in list((ROOT / "csrc/core").rglob("*")) + list((ROOT / "csrc/kernels").rglob("*")):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"#include\s*[<\"](torch|ATen|c10|pybind11|Python)", text), path


def test_every_schema_has_a_wrapper_reference_and_test():
    registry = (ROOT / "csrc/torch/registry.cpp").read_text()
    names = re.findall(r'm\.def\("(\w+)\(', registry)
    assert names
    wrappers = "\n".join(p.read_text() for p in (ROOT / "hold/ops").glob("*.py"))
    tests = "\n".join(p.read_text() for p in (ROOT / "tests/ops").glob("test_*.py"))
    for name in names:
        assert f"hold::{name}" in wrappers or f"torch.ops.hold.{name}" in wrappers, name
        assert f"torch.ops.hold.{name}" in tests or name.rsplit("_", 1)[0] in tests, name
    families = {p.stem for p in (ROOT / "hold/ops/reference").glob("*.py")} - {"__init__"}
    for family in {p.stem for p in (ROOT / "hold/ops").glob("*.py")} - {"__init__"}:
        if not family.startswith("_"):
            assert family in families, f"hold/ops/{family}.py has no reference twin"


def test_setup_py_never_forces_a_language_standard():
    assert "-std=" not in (ROOT / "setup.py").read_text()


def test_setup_py_and_cmake_glob_the_same_kernel_sources():
    setup = (ROOT / "setup.py").read_text()
    cmake = (ROOT / "cmake/HoldSources.cmake").read_text()
    for pattern in ("csrc/kernels/*_cpu.cpp", "csrc/kernels/*_cuda.cu"):
        assert pattern in setup and pattern in cmake, pattern


def _imported_hold_packages(path: pathlib.Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    module_parts = path.relative_to(ROOT).with_suffix("").parts  # ("hold", pkg, ...)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "hold" and len(parts) > 1:
                    yield parts[1], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module_parts[: len(module_parts) - node.level]
                parts = list(base) + (node.module.split(".") if node.module else [])
            else:
                parts = (node.module or "").split(".")
            if parts and parts[0] == "hold" and len(parts) > 1:
                yield parts[1], node.lineno
            elif parts == ["hold"]:
                for alias in node.names:
                    yield alias.name, node.lineno


def test_imports_point_downward_only():
    bad = []
    for path in (ROOT / "hold").rglob("*.py"):
        rel = path.relative_to(ROOT / "hold").parts
        if len(rel) == 1:  # hold/__init__.py
            continue
        package = rel[0]
        assert package in RANKS, f"hold/{package} is not in the layer table"
        for imported, line in _imported_hold_packages(path):
            if imported == package or imported == "__version__":
                continue
            assert imported in RANKS, f"{path}:{line} imports unknown hold.{imported}"
            if RANKS[imported] >= RANKS[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports hold.{imported}")
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)
