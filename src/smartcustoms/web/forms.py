"""Which fields of a form are required, read from the Pydantic schema the form is checked against.

A template marks its ``<form data-required="{{ required_fields('declaration') }}">``; ``static/a11y.js`` then sets
``aria-required`` on those controls and shows the required marker beside their labels, so the markers always
say what the server enforces. ``items[*].hs_code`` stands for the field in every goods item row.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, Union

from pydantic import BaseModel

from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.enterprises.schemas import EnterpriseIn, UserIn
from smartcustoms.risk.targeting.schemas import RuleIn

#: the schemas the web forms are checked against, by the name templates use
FORMS: dict[str, type[BaseModel]] = {"declaration": DeclarationIn, "rule": RuleIn, "user": UserIn,
                                     "enterprise": EnterpriseIn}
#: set by the server, never typed in (the form sends them hidden or not at all)
NOT_TYPED = frozenset({"client_message_id", "declared_at"})


def _nested(annotation: Any) -> type[BaseModel] | None:
    """The model of a ``list[Model]`` field (through ``Annotated`` and ``| None``), else None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _nested(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _nested(arg)
            if found is not None:
                return found
        return None
    if origin is list:
        (arg,) = typing.get_args(annotation) or (None,)
        return arg if isinstance(arg, type) and issubclass(arg, BaseModel) else None
    return None


def required_names(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The form names of ``model``'s required fields (``items[*].name`` for the rows of a required list)."""
    out = []
    for name, info in model.model_fields.items():
        if name in NOT_TYPED or not info.is_required():
            continue
        row = _nested(info.annotation)
        if row is not None:
            out.extend(required_names(row, f"{prefix}{name}[*]."))
        else:
            out.append(prefix + name)
    return out


@functools.cache
def required_fields(form: str) -> str:
    """The required names of the form called ``form`` (see :data:`FORMS`), space-separated for ``data-required``."""
    return " ".join(required_names(FORMS[form]))
