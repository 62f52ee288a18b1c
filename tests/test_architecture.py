"""docs/architecture.md lists the layer order that pyproject.toml's import-linter contract
checks: the same units in the same layers, so the document cannot drift from the contract."""

import re
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contract(name: str) -> dict:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    return next(c for c in cfg if c["name"] == name)


def test_architecture_doc_matches_the_layers_contract():
    layers = [sorted(u.strip() for u in layer.split("|")) for layer in _contract("top-level layers")["layers"]]
    documented = defaultdict(list)
    for number, unit in re.findall(r"^\| (\d+) \| `([\w.]+)` \|", (ROOT / "docs/architecture.md").read_text(), re.M):
        documented[int(number)].append(unit)
    assert [sorted(documented[k]) for k in sorted(documented)] == layers



def test_architecture_doc_lists_every_unit_of_the_method_packages_contract():
    contract = _contract("one package per paper: the methods are independent of each other")
    units = {u.strip() for layer in contract["layers"] for u in layer.split("|")}
    documented = set(re.findall(r"^\| `methods\.(\w+)` \|", (ROOT / "docs/architecture.md").read_text(), re.M))
    assert documented == units
