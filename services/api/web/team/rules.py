"""Who may give, change or take which role on a site: pure decisions, no storage."""

from __future__ import annotations

from services.api.web.auth import Role


def grantable(actor: Role) -> list[Role]:
    """The roles `actor` may give (by invitation or change): an owner any, an admin below
    owner, a viewer none."""
    if actor is Role.owner:
        return [Role.owner, Role.admin, Role.viewer]
    if actor is Role.admin:
        return [Role.admin, Role.viewer]
    return []


def change_refused(*, actor: Role, current: Role, new: Role | None, owners: int) -> str | None:
    """Why `actor` may not move a member from `current` to `new` (None: remove), or None
    when they may. A site always keeps an owner."""
    if actor is Role.viewer:
        return "Viewers cannot change the team."
    if current is Role.owner and actor is not Role.owner:
        return "Only an owner can change or remove an owner."
    if new is not None and new not in grantable(actor):
        return "Only an owner can make someone an owner."
    if current is Role.owner and new is not Role.owner and owners <= 1:
        return "A site keeps at least one owner: make someone else owner first."
    return None
