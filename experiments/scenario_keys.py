"""Every scenario key with its type, default and documentation, read from the models.

:func:`scenario_keys` walks the pydantic models of a scenario (:class:`sim.scenario.Scenario`
and the section models it holds, :mod:`sim.traffic.config` included), so the list
``fargate-lab scenario keys`` prints is generated from the code and is never out of date.
A section is a nested model (``service``, ``traffic.synthetic``); a list of models
(``service.capacity_providers``, ``faults.az_outages``) is shown as ``key[]`` followed by
the keys of one item (``service.capacity_providers[].name``).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["scenario_keys"]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (a section), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """The item model of a ``list[Model]`` / ``tuple[Model, ...]`` field, or None."""
    if typing.get_origin(annotation) in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(args) == 1:
            return _model_of(args[0])
    return None


#: The validators that read a duration ("30s", "5m", "24h" or seconds) in sim/scenario.py.
_DURATION_PARSERS = ("parse_duration", "_positive_duration")


def _is_duration(metadata: list[Any]) -> bool:
    return any(
        getattr(getattr(m, "func", None), "__name__", "") in _DURATION_PARSERS for m in metadata
    )


def _type_name(annotation: Any, field: FieldInfo | None = None) -> str:
    """A short readable type: ``float``, ``duration``, ``int or None``, ``list[str]``,
    ``"x86_64" | "arm64"``."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return "duration" if _is_duration(meta) else _type_name(base)
    if field is not None and _is_duration(field.metadata):
        return "duration"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        names = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(names) + (" or None" if type(None) in args else "")
    if origin in (list, tuple, dict):
        args = ", ".join(
            "..." if a is Ellipsis else _type_name(a) for a in typing.get_args(annotation)
        )
        return f"{origin.__name__}[{args}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, list | tuple) and value and isinstance(value[0], BaseModel):
        return str([m.model_dump() for m in value])
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _walk(model: type[BaseModel], prefix: str, rows: list[dict[str, str]]) -> None:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        section = _model_of(field.annotation)
        if section is not None:
            _walk(section, f"{key}.", rows)
            continue
        item = _item_model(field.annotation)
        doc = (field.description or "").strip()
        if item is not None:
            rows.append(
                {
                    "key": f"{key}[]",
                    "type": f"list of {{{', '.join(item.model_fields)}}}",
                    "default": _default(field),
                    "doc": doc or _first_line(item),
                }
            )
            _walk(item, f"{key}[].", rows)
            continue
        rows.append(
            {
                "key": key,
                "type": _type_name(field.annotation, field),
                "default": _default(field),
                "doc": doc,
            }
        )
    if model.model_config.get("extra") == "allow":
        rows.append(
            {
                "key": f"{prefix}*",
                "type": "any",
                "default": "the policy's default",
                "doc": getattr(
                    model,
                    "EXTRA_DOC",
                    "any other key is a parameter of the named policy (fargate-lab policies)",
                ),
            }
        )


def _first_line(model: type[BaseModel]) -> str:
    return ((model.__doc__ or "").strip().splitlines() or [""])[0]


def scenario_keys() -> list[dict[str, str]]:
    """One row per scenario key, in file order: ``key`` (``section.key``), ``type``,
    ``default`` (as text) and ``doc`` (the field's description, may be empty)."""
    from sim.scenario import Scenario

    rows: list[dict[str, str]] = []
    _walk(Scenario, "", rows)
    return rows
