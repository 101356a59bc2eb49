"""Static files shipped inside the `api` package (GraphiQL's and the dashboard's), served with their media
types, `nosniff`, and a cache lifetime each server chooses per file."""

from __future__ import annotations

import os
from collections.abc import Callable

from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".graphql": "application/graphql; charset=utf-8",
    ".json": "application/json",
}


class PackagedAssets(StaticFiles):
    """The files of `api/<folder>`; `cache_control(path)` gives each file's Cache-Control header."""

    def __init__(self, folder: str, cache_control: Callable[[str | os.PathLike[str]], str]) -> None:
        super().__init__(packages=[("api", folder)])
        self._cache_control = cache_control

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = self._cache_control(full_path)
        response.headers["X-Content-Type-Options"] = "nosniff"
        media_type = MEDIA_TYPES.get(os.path.splitext(full_path)[1])
        if isinstance(response, FileResponse) and media_type is not None:
            response.headers["Content-Type"] = media_type
        return response
