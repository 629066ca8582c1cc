"""What is built once at start-up and shared by every request, and the dependencies that hand it to the
routes (`Annotated[Runtime, Depends(runtime)]`) instead of each route digging in `request.app.state`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request

from model import formats
from model.hints import DEFAULT_RADIUS, MAX_HINTS
from model.hints import EXAMPLE as HINTS_EXAMPLE
from model.options import MAX_SATURATION, POLICIES

from .album.storage import Storage
from .auth import LoginLimiter
from .serving.backend import Backend
from .serving.contract import Request as Asked
from .sessions import Sessions
from .settings import Settings


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    storage: Storage
    backend: Backend  # where colorizing runs: this machine's processes or the queue; routes never ask which
    sessions: Sessions


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def storage(request: Request) -> Storage:
    return runtime(request).storage


def backend(request: Request) -> Backend:
    return runtime(request).backend


def login_limiter(request: Request) -> LoginLimiter:
    """The failed-login counter that the access middleware and the login form share."""
    limiter: LoginLimiter = request.app.state.login_limiter
    return limiter


def asked_options(
    # Each field's example is a valid value: Swagger's "Try it out" sends the examples (it sent 0 without).
    render_size: int | None = Form(
        None,
        description="Size the network sees (a multiple of the model's, 32); default: the model's own",
        json_schema_extra={"example": 128},
    ),
    policy: str | None = Form(
        None, description="Aspect policy", json_schema_extra={"enum": list(POLICIES), "example": POLICIES[0]}
    ),
    saturation: float | None = Form(
        None,
        description=f"Multiply the predicted colour: 0 (gray) to {MAX_SATURATION:g}; default 1",
        json_schema_extra={"example": 1.0},
    ),
    format: str | None = Form(
        None,
        description="Output format; default: the upload's own where it can be written",
        json_schema_extra={"enum": list(formats.CHOICES)},
    ),
    hints: str | None = Form(
        None,
        description="Colour hints (a model with a hint input only): a JSON list of up to "
        f"{MAX_HINTS} points, each x and y (0-1 of the photo's width and height as displayed, from the top "
        'left), a colour "#RRGGBB" (its hue and saturation are what the model is told) and an optional radius '
        f"(of the width, default {DEFAULT_RADIUS}). E.g. {HINTS_EXAMPLE}",
        json_schema_extra={"example": HINTS_EXAMPLE},
    ),
) -> Asked:
    """The option fields of a form, as given; the backend validates them for its model (422 naming the field)."""
    return Asked(render_size, policy, saturation, format, hints or None)


RuntimeDep = Annotated[Runtime, Depends(runtime)]
StorageDep = Annotated[Storage, Depends(storage)]
BackendDep = Annotated[Backend, Depends(backend)]
OptionsDep = Annotated[Asked, Depends(asked_options)]
LimiterDep = Annotated[LoginLimiter, Depends(login_limiter)]
