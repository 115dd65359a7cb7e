"""`tfo codec-server`: lets the Temporal UI show encrypted payloads to people who hold the keys.

It implements the remote codec endpoints (`POST /decode`, `POST /encode`) over
JSON payloads. Point the UI's codec endpoint at it (`--ui-codec-endpoint`, or the
UI's settings); the UI calls it from the browser, so it answers CORS for one origin.
"""

from __future__ import annotations

import asyncio
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from tfo.daemon.codec import AesGcmCodec


def _to_payloads(body: dict[str, Any]) -> list[Payload]:
    return [json_format.ParseDict(item, Payload()) for item in body.get("payloads", [])]


def _from_payloads(payloads: list[Payload]) -> dict[str, Any]:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def serve(codec: AesGcmCodec, *, host: str, port: int, origin: str) -> ThreadingHTTPServer:
    """A started server; call `serve_forever()` on it."""

    class Handler(BaseHTTPRequestHandler):
        def _cors(self) -> None:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", "content-type, x-namespace, authorization")

        def do_OPTIONS(self) -> None:
            self.send_response(200)
            self._cors()
            self.end_headers()

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in ("/decode", "/encode"):
                self.send_error(404)
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                payloads = _to_payloads(body)
                run = codec.decode if path == "/decode" else codec.encode
                result = asyncio.run(run(payloads))
            except (ValueError, json_format.ParseError) as exc:
                self.send_error(400, explain=str(exc).splitlines()[0])
                return
            data = json.dumps(_from_payloads(result)).encode()
            self.send_response(200)
            self._cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)
