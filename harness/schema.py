"""The base of every model read from a user's YAML file: unknown keys and booleans-as-numbers refused.

pydantic's lax mode turns ``true`` into 1 (or 1.0) for a number field, so ``rounds: true``
would quietly mean one round. A YAML boolean is accepted only where the field is a bool.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _allows_bool(annotation: Any) -> bool:
    """True when a bool is a legitimate value of ``annotation`` (bool itself, Any, or a union holding one)."""
    if annotation is bool or annotation is Any or annotation is object:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_allows_bool(arg) for arg in typing.get_args(annotation))
    if origin is typing.Literal:
        return any(isinstance(arg, bool) for arg in typing.get_args(annotation))
    return False


def _item_annotation(annotation: Any) -> Any | None:
    """The element type of ``list[X]`` (also inside ``list[X] | None``), else None."""
    origin = typing.get_origin(annotation)
    if origin is list:
        args = typing.get_args(annotation)
        return args[0] if args else None
    if origin is typing.Union or origin is types.UnionType:
        for arg in typing.get_args(annotation):
            found = _item_annotation(arg)
            if found is not None:
                return found
    return None


def _is_number(annotation: Any) -> bool:
    """True for int/float (or a union of them with None), the fields a stray boolean would sneak into."""
    if annotation in (int, float):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_number(arg) for arg in typing.get_args(annotation))
    return False


class StrictModel(BaseModel):
    """A section of a user's file: unknown keys are errors; a YAML true/false is never a number."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is None:
            return value
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and _is_number(annotation) and not _allows_bool(annotation):
            raise ValueError(f"expected a number, got {str(value).lower()} (a YAML boolean)")
        item = _item_annotation(annotation)
        if isinstance(value, list) and item is not None and _is_number(item) and not _allows_bool(item):
            for i, element in enumerate(value):
                if isinstance(element, bool):
                    raise ValueError(  # noqa: TRY004 - pydantic reports ValueError as a field error
                        f"item {i}: expected a number, got {str(element).lower()} (a YAML boolean)")
        return value
