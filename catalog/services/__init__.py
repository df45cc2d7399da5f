"""Use cases of the catalogue. Each service is a typed function that takes the session and
owns the commit; views, the API and the CLI call one service and map these errors to replies."""


class ServiceError(Exception):
    """Base of the errors a service raises for its caller to report."""


class Invalid(ServiceError):
    """The input breaks a rule; the message says which, in words for the user."""


class NotFound(ServiceError):
    """The object asked for does not exist."""


class Conflict(ServiceError):
    """The change clashes with what is already there (a name taken, a duplicate)."""
