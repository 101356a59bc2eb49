"""Role checks as strawberry permission classes: `IsViewer`, `IsPlanner`, `IsApprover`, `IsAdmin`.

Query fields use them through `permission_classes=[...]`: a refused caller gets a FORBIDDEN error.
Mutations use `typed_permission(...)`: a refused caller gets a `PermissionDenied` result in the
mutation's result union instead of a top-level error.
"""

from __future__ import annotations

from typing import Any, ClassVar

import strawberry
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.utils.await_maybe import await_maybe

from api.auth import Role
from api.context import RequestContext
from api.errors import ForbiddenError

Info = strawberry.Info[RequestContext, None]


@strawberry.type(description="The caller's API key lacks the role this operation needs.")
class PermissionDenied:
    message: str = strawberry.field(description="What the operation needs.")
    required_role: str = strawberry.field(
        description="The least role that may do this: `viewer`, `planner`, `approver` or `admin`."
    )
    your_role: str | None = strawberry.field(description="The caller's role; null without an API key.")


class RolePermission(BasePermission):
    required_role: ClassVar[Role] = Role.ADMIN

    @classmethod
    def explanation(cls) -> str:
        return f"this needs an API key with the `{cls.required_role.value}` role or higher"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and principal.role.includes(self.required_role)

    def on_unauthorized(self) -> None:
        raise ForbiddenError(self.explanation())


class IsViewer(RolePermission):
    required_role = Role.VIEWER


class IsPlanner(RolePermission):
    required_role = Role.PLANNER


class IsApprover(RolePermission):
    required_role = Role.APPROVER


class IsAdmin(RolePermission):
    required_role = Role.ADMIN


class TypedPermissionExtension(PermissionExtension):
    """Like strawberry's permission extension, but a refusal is a `PermissionDenied` result."""

    def __init__(self, permission: type[RolePermission]) -> None:
        super().__init__(permissions=[permission()], use_directives=True)
        self._permission = permission

    async def resolve_async(self, next_: Any, source: Any, info: Info, **kwargs: Any) -> Any:
        for permission in self.permissions:
            if not await await_maybe(permission.has_permission(source, info, **kwargs)):
                principal = info.context.principal
                return PermissionDenied(
                    message=self._permission.explanation(),
                    required_role=self._permission.required_role.value,
                    your_role=principal.role.value if principal is not None else None,
                )
        return await next_(source, info, **kwargs)


def typed_permission(permission: type[RolePermission]) -> TypedPermissionExtension:
    return TypedPermissionExtension(permission)
