"""A real HTTP server on 127.0.0.1 for offline download tests (stdlib ``http.server`` in a thread).

It serves byte strings at fixed paths (query string included), honours ``Range: bytes=N-`` requests with ``206``
answers, can cut a transfer short (headers announce the full length, then the connection closes mid-body), can answer
with error statuses first, and records every request so tests can count them. Helpers lay out the few endpoints that
gdown (Google Drive) and huggingface_hub (the hub's ``resolve`` URLs) use, so both libraries run their real code
against it.

Use the ``loopback`` fixture (``from _loopback import loopback``) or :class:`LoopbackServer` as a context manager.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

__all__ = ["Route", "Request", "LoopbackServer", "loopback"]


@dataclass
class Route:
    """What the server answers at one path.

    Attributes:
        data: the body.
        content_type: ``Content-Type`` header.
        headers: extra response headers.
        ranges: honour ``Range`` requests (``206``); when False the full body is always sent with ``200``.
        fail_with: statuses to answer with first, one per request, before serving the body.
        drops: how many GETs to cut short after ``drop_after`` bytes of the body.
        drop_after: bytes of the body sent before a cut.
    """

    data: bytes
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    ranges: bool = True
    fail_with: list[int] = field(default_factory=list)
    drops: int = 0
    drop_after: int = 0


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server_version = "fakebench-loopback/1"

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._serve(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(send_body=False)

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _serve(self, send_body: bool) -> None:
        owner: LoopbackServer = self.server.owner  # type: ignore[attr-defined]
        owner._record(Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = owner.routes.get(self.path)
        if route is None:
            return self._status(404)
        with owner.lock:
            failure = route.fail_with.pop(0) if route.fail_with else None
        if failure is not None:
            return self._status(failure)
        status, body, extra = self._select_range(route)
        if status == 416:
            return self._status(416, {"Content-Range": f"bytes */{len(route.data)}"})
        self.send_response(status)
        for key, value in {"Content-Type": route.content_type, "Content-Length": str(len(body)),
                           "Accept-Ranges": "bytes" if route.ranges else "none", **route.headers, **extra}.items():
            self.send_header(key, value)
        self.end_headers()
        if send_body:
            self._write(route, body)

    def _select_range(self, route: Route) -> tuple[int, bytes, dict[str, str]]:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if not (route.ranges and match):
            return 200, route.data, {}
        start = int(match[1])
        end = min(int(match[2]) if match[2] else len(route.data) - 1, len(route.data) - 1)
        if start >= len(route.data):
            return 416, b"", {}
        return 206, route.data[start:end + 1], {"Content-Range": f"bytes {start}-{end}/{len(route.data)}"}

    def _write(self, route: Route, body: bytes) -> None:
        owner: LoopbackServer = self.server.owner  # type: ignore[attr-defined]
        with owner.lock:
            cut = self.command == "GET" and route.drops > 0
            if cut:
                route.drops -= 1
        if cut:  # announce the full length, send part of it, then hang up
            self.wfile.write(body[:route.drop_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _status(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {"Content-Length": "0", "Content-Type": "text/plain", **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()


class LoopbackServer:
    """The server; :meth:`start` binds a free port on 127.0.0.1 and serves from a daemon thread."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------------
    def start(self) -> "LoopbackServer":
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    # -- content ----------------------------------------------------------------------------------------------------
    def add(self, path: str, data: bytes, **route: object) -> str:
        """Serve ``data`` at ``path`` (see :class:`Route` for the options); returns the full URL."""
        self.routes[path] = Route(data, **route)  # type: ignore[arg-type]
        return self.url(path)

    def add_drive_file(self, file_id: str, name: str, data: bytes) -> None:
        """A Google Drive file as gdown sees it at ``/uc?id=<id>`` (download answer with Content-Disposition)."""
        self.add(f"/uc?id={file_id}", data, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def add_drive_quota_page(self, file_id: str) -> None:
        """The page Drive shows instead of a file whose download quota is exhausted."""
        page = ('<html><body><p class="uc-error-subcaption">Too many users have viewed or downloaded this file '
                'recently. Please try accessing the file again later.</p></body></html>')
        self.add(f"/uc?id={file_id}", page.encode(), content_type="text/html; charset=utf-8")

    def add_drive_folder(self, folder_id: str, title: str, files: dict[str, tuple[str, bytes]]) -> None:
        """A public Drive folder: the embedded folder view gdown parses, plus each file (``name -> (id, data)``)."""
        links = "".join(f'<a href="https://drive.google.com/file/d/{fid}/view">{html.escape(name)}</a>'
                        for name, (fid, _) in files.items())
        page = f"<html><head><title>{html.escape(title)}</title></head><body>{links}</body></html>"
        self.add(f"/embeddedfolderview?id={folder_id}", page.encode(), content_type="text/html; charset=utf-8")
        for name, (fid, data) in files.items():
            self.add_drive_file(fid, name, data)

    def add_hub_file(self, repo_id: str, filename: str, data: bytes, *, repo_type: str = "model",
                     revision: str = "main", commit: str = "a" * 40) -> str:
        """A file at the hub's ``resolve`` URL with the headers huggingface_hub needs (commit, ETag, size)."""
        prefix = "/datasets" if repo_type == "dataset" else ""
        headers = {"X-Repo-Commit": commit, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
        return self.add(f"{prefix}/{repo_id}/resolve/{revision}/{filename}", data, headers=headers)

    def add_hub_repo(self, repo_id: str, files: dict[str, bytes], *, repo_type: str = "dataset",
                     revision: str = "main", commit: str = "b" * 40) -> None:
        """A whole hub repo as ``snapshot_download`` sees it: the repo-info API answer (at
        ``/api/<type>s/<repo>/revision/<revision>``), the recursive file tree at that commit, and each file at its
        ``resolve`` URL."""
        import json

        info = {"id": repo_id, "sha": commit, "siblings": [{"rfilename": name} for name in files]}
        kind = "datasets" if repo_type == "dataset" else "models"
        self.add(f"/api/{kind}/{repo_id}/revision/{revision}", json.dumps(info).encode(),
                 content_type="application/json")
        tree = [{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                for name, data in files.items()]
        self.add(f"/api/{kind}/{repo_id}/tree/{commit}?recursive=true&expand=false", json.dumps(tree).encode(),
                 content_type="application/json")
        for name, data in files.items():  # snapshot_download resolves files by the commit it was told
            for rev in {revision, commit}:
                self.add_hub_file(repo_id, name, data, repo_type=repo_type, revision=rev, commit=commit)

    # -- inspection -------------------------------------------------------------------------------------------------
    def _record(self, request: Request) -> None:
        with self.lock:
            self.requests.append(request)

    def count(self, path: str | None = None, method: str | None = None) -> int:
        """Requests received (for one path and/or method)."""
        return sum(1 for r in self.requests if (path is None or r.path == path)
                   and (method is None or r.method == method))

    def ranges(self, path: str) -> list[str]:
        """The ``Range`` headers of the requests for ``path``."""
        return [r.headers["range"] for r in self.requests if r.path == path and "range" in r.headers]


@pytest.fixture
def loopback():
    """A started :class:`LoopbackServer`, stopped after the test."""
    with LoopbackServer() as server:
        yield server
