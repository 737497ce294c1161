"""aiohttp's protocol for one connection, answering malformed requests as Cellar answers others.

aiohttp answers a request it cannot parse itself, before any application code runs: with a
traceback in the log for each one (so a client can fill the log at will) and a ``Server``
header naming the Python and aiohttp versions. ``CellarRequestHandler`` answers those with
the same status and a one-line body, logs them at DEBUG, and names the server ``cellar``;
errors of Cellar's own (500) still go to the log with their traceback.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

#: The ``Server`` header of every answer: no versions to look vulnerabilities up by.
SERVER_NAME: Final = "cellar"


class CellarRequestHandler(RequestHandler):
    """A ``RequestHandler`` whose answers to malformed requests say nothing about the server."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            response = super().handle_error(request, status, exc, message)
        else:
            self.logger.debug("malformed request from %s: %s", request.remote, exc or message)
            if request.writer.output_size > 0:
                raise ConnectionError("an answer is already under way; closing the connection")
            phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
            response = web.Response(status=status, text=f"{status} {phrase}\n".replace(" \n", "\n"))
            response.force_close()
        response.headers[hdrs.SERVER] = SERVER_NAME
        return response
