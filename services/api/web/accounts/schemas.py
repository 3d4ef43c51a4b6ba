"""What the sign-in forms send, parsed (outside data: every field bounded and checked)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.api.web.accounts.service import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS

# Enough of an address to tell a typo from an e-mail; the mail server decides the rest.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")
HOME = "/app/"
MAX_NEXT_CHARS = 2048


def check_email(raw: str) -> str:
    address = raw.strip().lower()
    if not _EMAIL.match(address) or "." not in address.rsplit("@", 1)[1].strip("."):
        raise ValueError("not an e-mail address")
    return address


def local_page(raw: str | None) -> str:
    """Where to go after signing in: a path of the web app on this origin, else home (an
    open redirect would make Overt's sign-in page a phishing tool)."""
    if (
        not raw
        or len(raw) > MAX_NEXT_CHARS
        or not raw.startswith("/app/")
        or raw.startswith("//")
        or "\\" in raw
        or any(ord(char) < 0x21 or ord(char) == 0x7F for char in raw)
    ):
        return HOME
    return raw


Email = Annotated[str, Field(min_length=3, max_length=320), AfterValidator(check_email)]


class LoginForm(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    email: Email
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
    next: Annotated[str, AfterValidator(local_page)] = HOME


# The tokens of setup and invitation links as the service makes them (token_urlsafe(32)).
LINK_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def check_link_token(raw: str) -> str:
    """A link's token, or ValueError for anything that cannot be one (never looked up)."""
    if not LINK_TOKEN.match(raw):
        raise ValueError("not a link token")
    return raw


Password = Annotated[str, Field(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)]


class NewAccountForm(BaseModel):
    """An account made by its owner: e-mail and the password typed twice."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    email: Email
    password: Password
    password_again: str = Field(max_length=MAX_PASSWORD_CHARS)

    @model_validator(mode="after")
    def same_password(self) -> NewAccountForm:
        if self.password != self.password_again:
            raise ValueError("the two passwords differ")
        return self


class PasswordChangeForm(BaseModel):
    """A signed-in user's new password: the current one, and the new one typed twice."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
    new_password: Password
    new_password_again: str = Field(max_length=MAX_PASSWORD_CHARS)

    @model_validator(mode="after")
    def same_password(self) -> PasswordChangeForm:
        if self.new_password != self.new_password_again:
            raise ValueError("the two new passwords differ")
        return self
