"""Reading a page's form: its text fields, and one sentence for what is wrong in it."""

from __future__ import annotations

from fastapi import Request
from pydantic import ValidationError

from services.api.web.accounts.service import MIN_PASSWORD_CHARS

FIELD_NAMES = {
    "token": "The setup link",
    "email": "The e-mail address",
    "password": f"The password (at least {MIN_PASSWORD_CHARS} characters)",
    "current_password": "The current password",
    "new_password": f"The new password (at least {MIN_PASSWORD_CHARS} characters)",
    "domain": "The domain",
    "timezone": "The time zone",
}


def form_problem(error: ValidationError) -> str:
    """One sentence for the first thing wrong in a form (never the value sent)."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    if not field:  # a check across fields
        return (
            str(first.get("ctx", {}).get("error", "The form is not complete.")).capitalize() + "."
        )
    return f"{FIELD_NAMES.get(field, field)} is not right: please check it."


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}
