"""A small evaluator for the expressions of a Bicep template as pycep-parser parses them (tests only).

It runs main.bicep's variables on a set of parameter values, so tests can compare what the deployment grants and
writes with what the app computes, and can see a deployment check's ``fail()`` fire, all offline. It knows the
functions and operators infra/ uses and raises ``NotImplementedError`` on anything else, so a template change it
cannot follow makes the tests fail instead of passing by accident.

pycep gives identifiers and string literals both as Python strings; a string is read as a name when it is a lambda
variable, a variable or a parameter of the template, else as a literal (infra/ has no literal equal to a name).
Interpolated strings (``'a-${b}'``) are parsed again, segment by segment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

_PARSER = BicepParser()  # building the grammar is the slow part: one parser for every file and expression


def parse(path: Path) -> dict[str, Any]:
    """The syntax tree of one .bicep file."""
    parsed: dict[str, Any] = _PARSER.parse(file_path=path)
    return parsed


@cache
def _expression(text: str) -> Any:
    return _PARSER.parse(text=f"var x = {text}\n")["variables"]["x"]["value"]


class BicepFail(Exception):
    """``fail(message)`` was evaluated: the deployment would stop with this message."""


@dataclass(frozen=True)
class Symbol:
    """A resource or module symbol (or something read from one): a value known only at deployment time."""

    path: str

    def get(self, name: str) -> Symbol:
        return Symbol(f"{self.path}.{name}")

    def __getitem__(self, index: Any) -> Symbol:
        return Symbol(f"{self.path}[{index}]")


def body(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The declaration body of a resource or module, unwrapped from its loop and condition."""
    config: dict[str, Any] = dict(entry["config"])
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = dict(config["config"])
    return config


def loop(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``for`` of a resource or module declaration (item, index and array names), if it has one."""
    loop_type = entry["config"].get("loop_type")
    return dict(loop_type["detail"]) if loop_type else None


def _interpolation_segments(text: str) -> list[tuple[bool, str]]:
    """Split ``'a-${b}-c'`` into literal and expression segments (braces and quotes inside expressions kept)."""
    segments: list[tuple[bool, str]] = []
    i = 0
    while i < len(text):
        start = text.find("${", i)
        if start < 0:
            segments.append((False, text[i:]))
            break
        segments.append((False, text[i:start]))
        depth, j, quoted = 1, start + 2, False
        while depth:
            ch = text[j]
            if ch == "'":
                quoted = not quoted
            elif not quoted and ch == "{":
                depth += 1
            elif not quoted and ch == "}":
                depth -= 1
            j += 1
        segments.append((True, text[start + 2 : j - 1]))
        i = j
    return [s for s in segments if s[1] or s[0]]


class Evaluator:
    """Evaluates the variables and parameter defaults of one parsed template for given parameter values."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, Any]) -> None:
        self.template = template
        self.given = dict(parameters)
        unknown = set(self.given) - set(template.get("parameters", {}))
        if unknown:
            raise KeyError(f"not parameters of the template: {sorted(unknown)}")
        self._variables: dict[str, Any] = {}
        self._symbols = set(template.get("resources", {})) | set(template.get("modules", {}))

    # ----------------------------------------------------------------------------------------------- names

    def parameter(self, name: str) -> Any:
        if name in self.given:
            return self.given[name]
        default = self.template["parameters"][name].get("default")
        if default is None:  # pycep gives None for "no default"
            raise KeyError(f"parameter {name} has no value and no default")
        return self.eval(default)

    def variable(self, name: str) -> Any:
        if name not in self._variables:
            self._variables[name] = self.eval(self.template["variables"][name]["value"])
        return self._variables[name]

    def _name(self, text: str, scope: Mapping[str, Any]) -> Any:
        if text in scope:
            return scope[text]
        if text in self.template.get("variables", {}):
            return self.variable(text)
        if text in self.template.get("parameters", {}):
            return self.parameter(text)
        if text in self._symbols:
            return Symbol(text)
        return text  # a string literal

    def _interpolate(self, text: str, scope: Mapping[str, Any]) -> str:
        parts = []
        for is_expression, segment in _interpolation_segments(text):
            if not is_expression:
                parts.append(segment)
                continue
            parts.append(str(self.eval(_expression(segment), scope)))
        return "".join(parts)

    # ------------------------------------------------------------------------------------------ evaluation

    def eval(self, node: Any, scope: Mapping[str, Any] | None = None) -> Any:
        scope = scope or {}
        if isinstance(node, str):
            return self._interpolate(node, scope) if "${" in node else self._name(node, scope)
        if node is None or isinstance(node, bool | int | float):
            return node
        if isinstance(node, list):
            return [self.eval(item, scope) for item in node]
        if "function" in node:
            return self._function(node["function"], scope)
        if "operator" in node:
            return self._operator(node["operator"], scope)
        if node.get("type") == "lambda_expression":
            return self._lambda(node["detail"], scope)
        return {key.strip("'"): self.eval(value, scope) for key, value in node.items()}

    def _lambda(self, detail: Mapping[str, Any], scope: Mapping[str, Any]) -> Callable[..., Any]:
        names = [detail[k] for k in sorted(k for k in detail if k.startswith("var_"))]

        def call(*args: Any) -> Any:
            return self.eval(detail["expression"], {**scope, **dict(zip(names, args, strict=False))})

        return call

    def _operator(self, operator: Mapping[str, Any], scope: Mapping[str, Any]) -> Any:
        kind, operands = operator["type"], operator["operands"]
        if kind == "conditional":  # short-circuits, as fail() relies on
            branch = "true_value" if self.eval(operands["condition"], scope) else "false_value"
            return self.eval(operands[branch], scope)
        if kind == "and":
            return bool(self.eval(operands["operand_1"], scope)) and bool(self.eval(operands["operand_2"], scope))
        if kind == "or":
            return bool(self.eval(operands["operand_1"], scope)) or bool(self.eval(operands["operand_2"], scope))
        if kind == "coalesce":
            first = self.eval(operands["operand_1"], scope)
            return first if first is not None else self.eval(operands["operand_2"], scope)
        if kind == "not":
            return not self.eval(operands["bool_value"], scope)
        a = self.eval(operands["operand_1"], scope)
        if kind == "property_accessor":  # a.b.c arrives as a.(b.c)
            name = operands["operand_2"]
            return self._chain(a, name) if isinstance(name, dict) else _get(a, name)
        b = self.eval(operands["operand_2"], scope)
        if kind == "equals":
            return a == b
        if kind == "not_equals":
            return a != b
        if kind == "index_accessor":
            return a[b]
        comparisons = {
            "less_than": lambda x, y: x < y,
            "less_than_or_equals": lambda x, y: x <= y,
            "greater_than": lambda x, y: x > y,
            "greater_than_or_equals": lambda x, y: x >= y,
        }
        if kind in comparisons:
            return comparisons[kind](a, b)
        raise NotImplementedError(f"operator {kind}")

    def _chain(self, value: Any, node: Mapping[str, Any]) -> Any:
        """Follow ``b.c.d`` (nested property accessors whose operands are names) from ``value``."""
        operands = node["operator"]["operands"]
        value = _get(value, operands["operand_1"])
        rest = operands["operand_2"]
        return self._chain(value, rest) if isinstance(rest, dict) else _get(value, rest)

    def _function(self, function: Mapping[str, Any], scope: Mapping[str, Any]) -> Any:
        kind = function["type"]
        args = [self.eval(value, scope) for value in function.get("parameters", {}).values()]
        if kind == "fail":
            raise BicepFail(args[0])
        implementation = _FUNCTIONS.get(kind)
        if implementation is None:
            raise NotImplementedError(f"function {kind}")
        return implementation(*args)


def _get(value: Any, name: str) -> Any:
    if isinstance(value, Symbol):
        return value.get(name)
    if isinstance(value, Mapping):
        return value[name]
    raise NotImplementedError(f"property {name} of {value!r}")


def _union(*values: Any) -> Any:
    if all(isinstance(v, Mapping) for v in values):
        merged: dict[str, Any] = {}
        for value in values:
            merged.update(value)
        return merged
    result: list[Any] = []
    for value in values:
        for item in value:
            if item not in result:
                result.append(item)
    return result


def _contains(container: Any, item: Any) -> bool:
    return item in container


def _stub_hash(*parts: Any) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:13]


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "split": lambda text, sep: text.split(sep),
    "to_lower": lambda text: text.lower(),
    "trim": lambda text: text.strip(),
    "replace": lambda text, old, new: text.replace(old, new),
    "contains": _contains,
    "empty": lambda value: len(value) == 0,
    "union": _union,
    "map": lambda array, fn: [fn(item) for item in array],
    "filter": lambda array, fn: [item for item in array if fn(item)],
    "flatten": lambda arrays: [item for array in arrays for item in array],
    "first": lambda array: array[0],
    "last": lambda array: array[-1],
    "join": lambda array, sep: sep.join(array),
    "string": lambda value: str(value).lower() if isinstance(value, bool) else str(value),
    "take": lambda value, count: value[:count],
    "length": len,
    "unique_string": lambda *parts: _stub_hash(*parts),
    "guid": lambda *parts: _stub_hash(*parts),
    "tenant": lambda: {"tenantId": "11111111-2222-4333-8444-555555555555"},
    "subscription": lambda *ids: {
        "subscriptionId": ids[0] if ids else "<deployment subscription>",
        "id": f"/subscriptions/{ids[0] if ids else '<deployment subscription>'}",
        "tenantId": "11111111-2222-4333-8444-555555555555",
    },
}
