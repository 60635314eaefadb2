"""Reading the console's forms: the API's input models check them, and their errors become messages
next to the fields, in the user's language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response

from resguardo.api.auth import Principal
from resguardo.core.errors import Conflict, ResguardoError
from resguardo.web.i18n import gettext, mark
from resguardo.web.pages import render, see_other

ModelT = TypeVar("ModelT", bound=BaseModel)

_MESSAGES = {
    "missing": mark("This field is required."),
    "string_too_short": mark("This field is required."),
    "string_too_long": mark("This text is too long."),
    "string_pattern_mismatch": mark("This value has characters or a form that is not allowed."),
    "int_parsing": mark("Write a whole number."),
    "int_type": mark("Write a whole number."),
    "greater_than_equal": mark("This number is too small."),
    "less_than_equal": mark("This number is too large."),
    "enum": mark("Choose one of the options."),
    "too_long": mark("Too many values."),
}
_DEFAULT = mark("This value is not valid.")


class FormInvalid(Exception):
    """A form's fields are not valid: ``errors`` maps each field to a message already translated."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(sorted(errors)))
        self.errors = errors


@dataclass
class FormState:
    """The values to show again in a form and the errors to show next to its fields."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""


def checked(model: type[ModelT], values: dict[str, Any]) -> ModelT:
    """Return ``values`` checked by the API's input ``model``.

    Raises:
        FormInvalid: some fields are not valid (the values sent are never part of the messages).
    """
    try:
        return model.model_validate(values)
    except ValidationError as error:
        errors: dict[str, str] = {}
        for problem in error.errors():
            location = [str(part) for part in problem.get("loc", ())]
            name = location[0] if location else "form"
            errors.setdefault(name, gettext(_MESSAGES.get(problem.get("type", ""), _DEFAULT)))
        raise FormInvalid(errors) from None


def catalog_message(error: ResguardoError) -> str:
    """Return a catalog error as shown above a form: a translated lead and the catalog's message."""
    lead = gettext("The change was not saved:")
    return f"{lead} {error.message}"


def submit(  # noqa: PLR0917 (each argument is a part of the form's page)
    request: Request,
    session: Session,
    principal: Principal,
    template: str,
    context: dict[str, Any],
    save: Callable[[], str],
) -> Response:
    """Run ``save`` (which checks the form, changes the catalog, audits and commits, and returns where
    to go next); on a bad field or a refusal of the catalog, roll back and show the form again with
    the errors (422, or 409 for a conflict).
    """
    state: FormState = context["form"]
    try:
        target = save()
    except FormInvalid as invalid:
        session.rollback()
        state.errors.update(invalid.errors)
        state.message = state.message or gettext("Some fields need your attention.")
        return render(request, template, context, principal, status=422)
    except ResguardoError as error:
        session.rollback()
        state.message = catalog_message(error)
        name = getattr(error, "api_field", None) or getattr(error, "field", None)
        if name:  # a job's source fields are the form's own (source.paths → paths)
            state.errors[str(name).removeprefix("source.")] = gettext("This value is not valid.")
        return render(
            request, template, context, principal, status=409 if isinstance(error, Conflict) else 422
        )
    return see_other(target)


def flag(fields: dict[str, str], name: str) -> bool:
    """Return whether a checkbox was ticked."""
    return fields.get(name, "") in ("on", "true", "1", "yes")


def optional_int(value: str) -> int | str | None:
    """Return the text of a number field as an int, None when empty, or the text (for the checker)."""
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value
