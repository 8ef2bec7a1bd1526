"""The component conventions, enforced: one ComponentResource per module, typed args,
`slipway:index:<Class>` type tokens, children parented, `register_outputs` last."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pulumi
import pytest

from tests.unit.harness import run_program
from tests.unit.stackfiles import SECRETS, project_dir, raw_config

COMPONENTS = Path(__file__).resolve().parents[2] / "components"
# outputs.py and rollout.py are the Pipeline's helpers (outputs, each server's resources), no component.
MODULES = sorted(p.stem for p in COMPONENTS.glob("*.py")
                 if p.stem not in ("__init__", "outputs", "rollout"))


def component_classes(module_name: str) -> list[type]:
    module = importlib.import_module(f"components.{module_name}")
    return [c for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, pulumi.ComponentResource) and c.__module__ == module.__name__]


@pytest.mark.parametrize("module_name", MODULES)
def test_one_component_per_module_with_typed_args(module_name: str) -> None:
    classes = component_classes(module_name)
    assert len(classes) == 1, f"components/{module_name}.py must define exactly one component"
    cls = classes[0]
    params = list(inspect.signature(vars(cls)["__init__"]).parameters)
    assert params[:2] == ["self", "name"] and params[-1] == "opts"
    if cls.__name__ != "Pipeline":
        args_type = getattr(importlib.import_module(f"components.{module_name}"),
                            f"{cls.__name__}Args")
        assert dataclasses.is_dataclass(args_type)
        assert getattr(args_type, "__dataclass_params__").frozen  # noqa: B009


@pytest.mark.parametrize("module_name", MODULES)
def test_type_token_and_register_outputs_last(module_name: str) -> None:
    cls = component_classes(module_name)[0]
    tree = ast.parse(inspect.getsource(cls))
    methods = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    init = methods["__init__"]
    # The Pipeline declares in two steps: the builds in __init__, the rest in declare_release.
    first, last = init.body[0], methods.get("declare_release", init).body[-1]
    assert isinstance(first, ast.Expr) and "super().__init__" in ast.unparse(first)
    assert f"'slipway:index:{cls.__name__}'" in ast.unparse(first)
    assert isinstance(last, ast.Expr) and ast.unparse(last).startswith("self.register_outputs(")


def test_every_resource_is_parented_to_a_component(tmp_path: Path) -> None:
    result = run_program("dev", raw_config("dev"), set(SECRETS), project_dir(tmp_path))
    components = {r.urn for r in result.registrations if r.typ.startswith("slipway:index:")}
    for reg in result.registrations:
        if reg.typ == "slipway:index:Pipeline":
            continue
        assert reg.parent in components, f"{reg.typ} {reg.name} is not a child of a component"
