"""Errors a client may see. Anything else raised while resolving is masked (see `api.extensions`)."""

from __future__ import annotations

from graphql import GraphQLError


class ClientError(GraphQLError):
    """An error meant for the client: its message is shown as it is, with `extensions.code`."""

    code = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class UserInputError(ClientError):
    code = "BAD_USER_INPUT"


class UnauthenticatedError(ClientError):
    code = "UNAUTHENTICATED"


class ForbiddenError(ClientError):
    code = "FORBIDDEN"


class RequestTimeoutError(ClientError):
    code = "TIMEOUT"


class ServiceUnavailableError(ClientError):
    """A backing service the field needs (e.g. Temporal) is not configured or not reachable."""

    code = "SERVICE_UNAVAILABLE"
