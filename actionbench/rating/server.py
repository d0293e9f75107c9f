"""The local rating page: the standard library's ThreadingHTTPServer, bound to 127.0.0.1 only.

Every address starts with a token drawn at launch (``http://127.0.0.1:PORT/<token>/``); a request
without it, or naming another host than the loopback one (DNS rebinding), gets 403. The page is
static; it fetches one image at a time as JSON that holds only a blind id, the action's description,
exemplar addresses and the subject in words, and the script puts every string in with
``textContent``, so hostile text shows as text. Images are re-encoded on the way out (no file name,
no metadata), and only from inside the run directory (a symlink that leads out is refused). Errors
the page can see are blinded: an unreadable image is named by its blind id, never by its path
(which holds the method and action). A strict Content-Security-Policy admits the page's own script
and nothing else. Malformed requests (JSON nested too deep included) get 400, never a dropped connection;
an answer that cannot be written (a full disk) gets 500 with the reason, and the full line goes to the terminal.

Routes under ``/<token>/``: the page, ``page.js``, ``page.css``, ``api/state?rater=NAME`` (GET: the
rater's progress and next image), ``api/answer`` (POST JSON {rater, image, action, subject}: saved
durably before the reply, which carries the next image), ``image/<id>``, ``exemplar/<id>``.
"""

from __future__ import annotations

import errno
import hmac
import io
import json
import secrets
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from actionbench.errors import ActionBenchError
from actionbench.rating.exemplars import exemplar_paths
from actionbench.rating.images import EXEMPLAR_PX, OutsideRun, png_bytes
from actionbench.rating.store import Judgement, NotSaved, RatingsStore, check_answer, check_rater, now
from actionbench.rating.study import Study, opaque_id, open_study

HOST = "127.0.0.1"  # loopback only: the page is for the person at this machine
MAX_BODY = 16 * 1024
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
STATIC = {"": ("page.html", "text/html; charset=utf-8"), "page.js": ("page.js", "text/javascript; charset=utf-8"),
          "page.css": ("page.css", "text/css; charset=utf-8")}


class RatingApp:
    """What the page can ask for, independent of HTTP (the tests call it directly too)."""

    def __init__(self, study: Study, store: RatingsStore):
        self.study = study
        self.store = store
        manifest = study.store.manifest()
        self.descriptions: dict[str, str] = manifest.get("action_descriptions", {})
        actions = sorted({image.action for image in study.images})
        self.exemplars: dict[str, Path] = {}  # blind id -> photo
        self.exemplar_ids: dict[str, list[str]] = {}  # action -> blind ids, in the benchmark's order
        for action, paths in exemplar_paths(manifest, actions).items():
            ids = [opaque_id(study.salt, "exemplar", action, number) for number in range(len(paths))]
            self.exemplars.update(zip(ids, paths))
            self.exemplar_ids[action] = ids
        self.study_ids = set(study.ids)

    def state(self, rater: str) -> dict[str, Any]:
        """The rater's progress and the next image they have not judged (None when done)."""
        rater = check_rater(rater)
        judged = {image for (_, image) in self.store.latest(rater)} & self.study_ids
        order = self.study.order(rater)
        following = next((image_id for image_id in order if image_id not in judged), None)
        return {"rater": rater, "total": len(order), "done": len(judged), "left": len(order) - len(judged),
                "item": None if following is None else self.item(following)}

    def item(self, image_id: str) -> dict[str, Any]:
        image = self.study.by_id[image_id]
        return {"id": image_id, "image": f"image/{image_id}", "subject": image.subject_text,
                "description": self.descriptions.get(image.action, image.action),
                "exemplars": [f"exemplar/{e}" for e in self.exemplar_ids.get(image.action, [])]}

    def answer(self, payload: Any) -> dict[str, Any]:
        """Save one judgement (``NotSaved`` when it cannot be written) and return the rater's next state."""
        if not isinstance(payload, dict):
            raise ActionBenchError("the answer is not a JSON object", "send {rater, image, action, subject}")
        rater = check_rater(_text(payload, "rater", "the rater name"))
        image = _text(payload, "image", "the image id")
        if image not in self.study_ids:
            raise ActionBenchError(f"unknown image {image[:40]!r}", "reload the page")
        action = check_answer("action", payload.get("action"))
        subject = check_answer("subject", payload.get("subject"))
        self.store.append([Judgement(image=image, rater=rater, action=action, subject=subject, time=now())])
        return self.state(rater)


def _text(payload: dict[str, Any], field: str, what: str) -> str:
    """A field that must be a JSON string: null, a number or a list is refused, never turned into a name."""
    value = payload.get(field, "")
    if not isinstance(value, str):
        raise ActionBenchError(f"{what} is {_json_kind(value)}, not text", f"send {field} as a JSON string")
    return value


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return "an object" if isinstance(value, dict) else "a list"


def not_saved_message(error: NotSaved) -> str:
    """What the page shows when an answer cannot be written: the reason and the rater's own file only
    (the run's path stays on the terminal)."""
    return (f"your answer was not saved ({error.reason} writing ratings/{error.path.name}): tell whoever runs "
            f"the study.")


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    server_version = "actionbench-rate"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows progress only
        pass

    # -- plumbing ------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": content_type, "Content-Length": str(len(body)), "Cache-Control": "no-store",
                   "Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                   "Cross-Origin-Resource-Policy": "same-origin", **(extra or {})}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    def _route(self) -> str | None:
        """The path after the token, or None after answering 403 (no token, or not our host)."""
        app = self.server
        host = self.headers.get("Host", "")
        if host not in app.allowed_hosts:
            self._error(HTTPStatus.FORBIDDEN, "forbidden")
            return None
        path = urlsplit(self.path).path
        _, _, rest = path.partition("/")
        token, slash, tail = rest.partition("/")
        if not hmac.compare_digest(token.encode("utf-8", "surrogateescape"), app.token.encode("ascii")):
            self._error(HTTPStatus.FORBIDDEN, "forbidden")
            return None
        if not slash:  # /<token> -> /<token>/, so relative addresses resolve under the token
            query = urlsplit(self.path).query
            self._send(HTTPStatus.MOVED_PERMANENTLY, b"", "text/html; charset=utf-8",
                       {"Location": f"/{app.token}/" + (f"?{query}" if query else "")})
            return None
        return tail

    def _query(self, name: str) -> str:
        return parse_qs(urlsplit(self.path).query).get(name, [""])[0]

    # -- methods -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        route = self._route()
        if route is None:
            return
        app: RatingApp = self.server.app
        try:
            if route in STATIC:
                name, content_type = STATIC[route]
                self._send(HTTPStatus.OK, self.server.static[name], content_type)
            elif route == "icon":  # else the browser asks for /favicon.ico, without the token
                self._send(HTTPStatus.OK, FAVICON, "image/png")
            elif route == "api/state":
                self._json(HTTPStatus.OK, app.state(self._query("rater")))
            elif route.startswith("image/") and route[6:] in app.study_ids:
                self._image("image", route[6:], app.study.by_id[route[6:]].path, None, app.study.run_dir)
            elif route.startswith("exemplar/") and route[9:] in app.exemplars:
                self._image("exemplar", route[9:], app.exemplars[route[9:]], EXEMPLAR_PX, None)
            else:
                self._error(HTTPStatus.NOT_FOUND, "not found")
        except ActionBenchError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
        except OSError as error:  # a ratings file that cannot be read: an answer, not a dropped connection
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"the ratings cannot be read ({error.strerror or error}): "
                                                          f"tell whoever runs the study.")

    do_HEAD = do_GET

    def _image(self, kind: str, blind_id: str, path: Path, max_px: int | None, within: Path | None) -> None:
        """Send one image, or an error that names only its blind id: the path holds the method and action."""
        try:
            body = png_bytes(path, max_px, within)
        except OutsideRun:
            self._error(HTTPStatus.FORBIDDEN, f"{kind} {blind_id} lies outside the run and is not shown: "
                                              f"skip it and tell whoever runs the study.")
            return
        except (ActionBenchError, OSError):
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{kind} {blind_id} cannot be read: "
                                                          f"skip it and tell whoever runs the study.")
            return
        self._send(HTTPStatus.OK, body, "image/png")

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            return
        if route != "api/answer":
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send application/json")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._error(HTTPStatus.BAD_REQUEST, "bad request body")
            return
        try:  # bytes that are not UTF-8 inside a string reach check_rater as such ("not valid text")
            payload = json.loads(self.rfile.read(length).decode("utf-8", errors="surrogateescape"))
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "the answer is not JSON")
            return
        except RecursionError:  # "[[[[..." parses only as deep as Python's stack goes
            self._error(HTTPStatus.BAD_REQUEST, "the answer is nested too deeply")
            return
        self._answer(payload)

    def _answer(self, payload: Any) -> None:
        try:
            self._json(HTTPStatus.OK, self.server.app.answer(payload))
        except RecursionError:  # an answer nested too deeply to print back
            self._error(HTTPStatus.BAD_REQUEST, "the answer is nested too deeply")
        except NotSaved as error:
            print(f"actionbench: error: {error}", file=sys.stderr, flush=True)  # the full line, for whoever runs it
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, not_saved_message(error))
        except ActionBenchError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))

    def _refuse(self) -> None:
        if self._route() is not None:
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: RatingApp
    token: str
    allowed_hosts: set[str]
    static: dict[str, bytes]


def _favicon() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (46, 125, 50)).save(buffer, format="PNG")
    return buffer.getvalue()


FAVICON = _favicon()


def _static_files() -> dict[str, bytes]:
    folder = resources.files("actionbench.rating")
    return {name: folder.joinpath(name).read_bytes() for name, _ in STATIC.values()}


class RatingServer:
    """A rating page for one run on ``http://127.0.0.1:PORT/<token>/`` (``port=0``: a free port)."""

    def __init__(self, run_dir: str | Path, *, port: int = 0, per_cell: int | None = None,
                 seed: int | None = None, token: str | None = None):
        if not 0 <= port <= 65535:
            raise ActionBenchError(f"--port {port} is not a port number", "pass 1-65535, or 0 for a free port")
        self.study = open_study(run_dir, per_cell=per_cell, seed=seed)
        self.app = RatingApp(self.study, RatingsStore(run_dir))
        self.token = token or secrets.token_urlsafe(24)
        try:
            self.httpd = _Server((HOST, port), _Handler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ActionBenchError(f"port {port} on {HOST} is in use",
                                       "pass another --port, or --port 0 for a free one") from error
            raise ActionBenchError(f"cannot listen on {HOST}:{port} ({error.strerror})",
                                   "pass another --port") from error
        self.httpd.app = self.app
        self.httpd.token = self.token
        self.httpd.allowed_hosts = {f"{HOST}:{self.port}", f"localhost:{self.port}"}
        self.httpd.static = _static_files()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    def url(self, rater: str | None = None) -> str:
        from urllib.parse import quote

        query = f"?rater={quote(rater, safe='')}" if rater else ""
        return f"http://{HOST}:{self.port}/{self.token}/{query}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> "RatingServer":
        """Serve from a background thread (tests, notebooks); ``stop()`` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="actionbench-rate", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> "RatingServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
