"""The rating server over HTTP: the token, loopback only, blind JSON and images, durable answers."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from urllib.parse import quote

import pytest

from actionbench.errors import ActionBenchError
from actionbench.rating.server import HOST, RatingServer
from actionbench.rating.store import RatingsStore
from rating_helpers import CAT, DESCRIPTION, METHODS, copy_run

HOSTILE_RATER = 'Zoë "<script>alert(3)</script>" <img src=x onerror=alert(4)>'


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_pipeline_path):
    return copy_run(tmp_path_factory, "rating-server")


@pytest.fixture(scope="module")
def server(run):
    with RatingServer(run) as started:
        yield started


def request(server: RatingServer, path: str, method: str = "GET", body: dict | None = None,
            host: str | None = None, content_type: str = "application/json") -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
    headers = {"Host": host or f"{HOST}:{server.port}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = content_type
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), payload


def under_token(server: RatingServer, path: str) -> str:
    return f"/{server.token}/{path}"


def test_every_request_without_the_token_is_refused(server):
    token = server.token
    for path in ["/", "/favicon.ico", "/page.js", "/api/state?rater=ana", f"/{token[:-1]}/", f"/{token}x/",
                 f"/x/{token}/", f"/?token={token}", "/" + token.upper() + "/"]:
        assert request(server, path)[0] == 403, path
    assert request(server, "/api/answer", "POST", {"rater": "ana"})[0] == 403
    status, headers, _ = request(server, f"/{token}/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert request(server, f"/{token}")[0] == 301  # redirected under the token's folder


def test_a_request_naming_another_host_is_refused(server):
    # DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1 sends its own Host.
    assert request(server, under_token(server, ""), host=f"evil.example:{server.port}")[0] == 403
    assert request(server, under_token(server, ""), host=f"localhost:{server.port}")[0] == 200


def non_loopback_addresses() -> list[str]:
    found = set()
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
        found.add(probe.getsockname()[0])
    except OSError:
        pass
    finally:
        probe.close()
    try:
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127.") and a != "0.0.0.0")


def test_the_server_listens_on_loopback_only(server):
    assert server.address[0] == "127.0.0.1"
    assert server.url().startswith(f"http://127.0.0.1:{server.port}/{server.token}/")
    addresses = non_loopback_addresses()
    for address in addresses:
        with pytest.raises(OSError):
            socket.create_connection((address, server.port), timeout=2).close()
    if not addresses:
        pytest.skip("this machine has no non-loopback address to try (the bound address was checked)")


def test_pages_carry_a_strict_content_security_policy(server):
    for path in ("", "page.js", "api/state?rater=ana"):
        _, headers, _ = request(server, under_token(server, path))
        policy = headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"


def words_of_the_run(run: Path) -> re.Pattern:
    """Everything that would unblind an image: method names, file names, image ids, paths, score names."""
    names = set(METHODS)
    for rows in run.glob("units/*/*/images.jsonl"):
        for line in rows.read_text().splitlines():
            row = json.loads(line)
            names.update({row["image_id"], Path(row["file"]).name})
    names.update(json.loads((run / "scores.json").read_text()))
    return re.compile(r"\b(%s)\b|units/|\.png" % "|".join(re.escape(n) for n in sorted(names)))


def test_the_json_names_no_method_file_or_score_and_carries_hostile_text_verbatim(server, run):
    unblinding = words_of_the_run(run)
    status, _, body = request(server, under_token(server, "api/state?rater=" + quote(HOSTILE_RATER, safe="")))
    assert status == 200
    seen_subjects, seen_descriptions = set(), set()
    state = json.loads(body)
    assert state["rater"] == HOSTILE_RATER and state["total"] == 16
    while state["item"] is not None:
        assert not unblinding.search(json.dumps(state, ensure_ascii=False)), state
        item = state["item"]
        seen_subjects.add(item["subject"])
        seen_descriptions.add(item["description"])
        status, _, body = request(server, under_token(server, "api/answer"), "POST",
                                  {"rater": HOSTILE_RATER, "image": item["id"], "action": "skip", "subject": "skip"})
        assert status == 200
        state = json.loads(body)
    assert CAT in seen_subjects and DESCRIPTION in seen_descriptions  # raw text; the page escapes it
    assert state["done"] == 16 and state["left"] == 0
    assert {j.rater for j in RatingsStore(run).judgements()} >= {HOSTILE_RATER}


def png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunks.append(kind)
        crc = struct.unpack(">I", data[position + 8 + length:position + 12 + length])[0]
        assert crc == zlib.crc32(data[position + 4:position + 8 + length])
        position += 12 + length
    return chunks


def test_images_are_served_by_blind_id_with_pixels_only(server):
    _, _, body = request(server, under_token(server, "api/state?rater=imgcheck"))
    item = json.loads(body)["item"]
    status, headers, image = request(server, under_token(server, item["image"]))
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert set(png_chunks(image)) <= {b"IHDR", b"IDAT", b"IEND", b"PLTE"}  # no text, no EXIF
    for exemplar in item["exemplars"]:
        assert request(server, under_token(server, exemplar))[0] == 200
    assert request(server, under_token(server, "image/0123456789ab"))[0] == 404
    assert request(server, under_token(server, "image/../../manifest.json"))[0] == 404


def test_bad_answers_are_refused_with_a_reason(server):
    _, _, body = request(server, under_token(server, "api/state?rater=ana"))
    image = json.loads(body)["item"]["id"]
    answer = under_token(server, "api/answer")
    status, _, body = request(server, answer, "POST", {"rater": "ana", "image": image, "action": "maybe",
                                                       "subject": "no"})
    assert status == 400 and json.loads(body)["error"] == "the action answer 'maybe' is not yes, no or skip: answer yes, no or skip."
    status, _, body = request(server, answer, "POST", {"rater": "ana", "image": "nope", "action": "yes", "subject": "no"})
    assert status == 400 and json.loads(body)["error"] == "unknown image 'nope': reload the page."
    assert request(server, answer, "POST", {"rater": "ana"}, content_type="text/plain")[0] == 415
    assert request(server, answer, "PUT", {"rater": "ana"})[0] == 405
    assert RatingsStore(server.study.run_dir).judgements("ana") == []



def raw_post(server: RatingServer, body: bytes) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(HOST, server.port, timeout=10)
    connection.request("POST", under_token(server, "api/answer"), body=body,
                       headers={"Host": f"{HOST}:{server.port}", "Content-Type": "application/json"})
    response = connection.getresponse()
    answer = (response.status, json.loads(response.read()))
    connection.close()
    return answer


@pytest.mark.parametrize("body", [b"[" * 8000, b"[" * 5000 + b"]" * 5000,
                                  b'{"rater": "ana", "image": ' + b"[" * 900 + b"]" * 900 + b"}"],
                         ids=["unclosed", "closed", "inside-an-answer"])
def test_json_nested_too_deeply_gets_400_not_a_dropped_connection(server, body):
    assert len(body) <= 16 * 1024
    status, answer = raw_post(server, body)
    if body.startswith(b"{"):  # parses, and is refused for what it holds
        assert (status, answer["error"]) == (400, "the image id is a list, not text: send image as a JSON string.")
    else:
        assert (status, answer) == (400, {"error": "the answer is nested too deeply"})
    assert request(server, under_token(server, "api/state?rater=ana"))[0] == 200  # and the server goes on


@pytest.mark.parametrize("rater", [None, 123, {"a": 1}, ["ana"], float("nan"), True],
                         ids=["null", "number", "object", "list", "nan", "bool"])
def test_a_rater_that_is_not_a_json_string_is_refused(server, rater):
    """They were turned into text ("None", "123", "['ana']") and saved under that name."""
    image = json.loads(request(server, under_token(server, "api/state?rater=ana"))[2])["item"]["id"]
    body = json.dumps({"rater": rater, "image": image, "action": "yes", "subject": "no"}).encode()
    status, answer = raw_post(server, body)
    kind = {type(None): "null", int: "a number", float: "a number", dict: "an object", list: "a list",
            bool: "true or false"}[type(rater)]
    assert (status, answer) == (400, {"error": f"the rater name is {kind}, not text: send rater as a JSON string."})
    saved = {j.rater for j in RatingsStore(server.study.run_dir).judgements()}
    assert not {"None", "123", "{'a': 1}", "['ana']", "nan", "True"} & saved


@pytest.mark.parametrize("rater", [b'"bad\\ud800"', b'"bad\xff"', b'"bad\xed\xa0\x80"'],
                         ids=["escaped-surrogate", "not-utf8", "utf8-encoded-surrogate"])
def test_a_rater_name_that_is_not_valid_text_is_refused_as_such(server, rater):
    """A lone surrogate parsed, then failed to encode when saved; bytes that are not UTF-8 failed to decode:
    both answered "the answer is not JSON"."""
    image = json.loads(request(server, under_token(server, "api/state?rater=ana"))[2])["item"]["id"]
    body = b'{"rater": %s, "image": "%s", "action": "yes", "subject": "no"}' % (rater, image.encode())
    assert raw_post(server, body) == (400, {"error": "the rater name is not valid text (it holds bytes that are not "
                                                     "UTF-8): type the name again as UTF-8 text."})


def test_an_answer_that_cannot_be_written_gets_500_with_the_reason(server, capsys):
    """A folder where the rater's file should be (as a full disk would): a traceback and a dropped connection."""
    (server.study.run_dir / "ratings" / "zzz.jsonl").mkdir()
    image = json.loads(request(server, under_token(server, "api/state?rater=zzz"))[2])["item"]["id"]
    body = json.dumps({"rater": "zzz", "image": image, "action": "yes", "subject": "no"}).encode()
    assert raw_post(server, body) == (500, {"error": "your answer was not saved (Is a directory writing "
                                                     "ratings/zzz.jsonl): tell whoever runs the study."})
    assert capsys.readouterr().err.startswith(
        f"actionbench: error: cannot write {server.study.run_dir / 'ratings' / 'zzz.jsonl'} (Is a directory; ")
    assert request(server, under_token(server, "api/state?rater=zzz"))[0] == 200  # and the server goes on
    (server.study.run_dir / "ratings" / "zzz.jsonl").rmdir()


@pytest.fixture()
def damaged(tmp_path_factory, tiny_pipeline_path):
    """A run of its own whose images the test may break, and the blind ids of two of them."""
    run = copy_run(tmp_path_factory, "rating-damaged")
    with RatingServer(run) as started:
        items = [started.app.item(image_id) for image_id in started.study.order("ana")[:3]]
        yield run, started, [started.study.by_id[item["id"]] for item in items]


def test_an_unreadable_image_is_reported_by_blind_id_only(damaged):
    run, server, (broken, _, _) = damaged
    broken.path.write_bytes(b"not a png")
    status, _, body = request(server, under_token(server, f"image/{broken.id}"))
    assert status == 500
    assert json.loads(body) == {"error": f"image {broken.id} cannot be read: skip it and tell whoever runs the study."}
    assert not words_of_the_run(run).search(body.decode()) and str(run) not in body.decode()
    broken.path.unlink()
    status, _, body = request(server, under_token(server, f"image/{broken.id}"))
    assert status == 500 and json.loads(body)["error"].startswith(f"image {broken.id} cannot be read")


def test_an_image_reached_through_a_symlink_that_leaves_the_run_is_refused(damaged, tmp_path):
    run, server, (escaping, inner, plain) = damaged
    outside = tmp_path / "secret.png"
    outside.write_bytes(plain.path.read_bytes())  # a real image, but not the run's
    escaping.path.unlink()
    escaping.path.symlink_to(outside)
    status, _, body = request(server, under_token(server, f"image/{escaping.id}"))
    assert status == 403
    assert json.loads(body) == {"error": f"image {escaping.id} lies outside the run and is not shown: skip it and "
                                         f"tell whoever runs the study."}
    inner.path.unlink()
    inner.path.symlink_to(plain.path)  # a link that stays inside the run is served
    assert request(server, under_token(server, f"image/{inner.id}"))[0] == 200
    assert request(server, under_token(server, f"image/{plain.id}"))[0] == 200


def test_a_run_reached_through_a_symlink_is_served(damaged, tmp_path):
    run, _, (image, _, _) = damaged
    (tmp_path / "latest").symlink_to(run)
    with RatingServer(tmp_path / "latest") as linked:
        state = json.loads(request(linked, under_token(linked, "api/state?rater=ana"))[2])
        assert request(linked, under_token(linked, state["item"]["image"]))[0] == 200


def test_a_port_in_use_is_a_clear_error(server, run):
    with pytest.raises(ActionBenchError) as error:
        RatingServer(run, port=server.port)
    assert str(error.value) == f"port {server.port} on 127.0.0.1 is in use: pass another --port, or --port 0 for a free one."


@pytest.mark.slow
def test_a_killed_server_loses_no_answer_it_acknowledged(run, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "actionbench", "rate", str(run), "--rater", "kim"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = None
        deadline = time.time() + 60
        while url is None and time.time() < deadline:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            if line.startswith("open: "):
                url = line.split()[1]
        assert url is not None
        port = int(url.split(":")[2].split("/")[0])
        token = url.split("/")[3]
        given = []

        def call(path: str, body: dict | None = None) -> dict:
            connection = http.client.HTTPConnection(HOST, port, timeout=10)
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request("POST" if body is not None else "GET", f"/{token}/{path}",
                               body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            assert response.status == 200
            return json.loads(response.read())

        state = call("api/state?rater=kim")
        for number in range(7):
            answer = {"rater": "kim", "image": state["item"]["id"], "action": "yes" if number % 2 else "no",
                      "subject": "yes" if number % 3 else "no"}
            state = call("api/answer", answer)  # the reply comes after the line is on disk
            given.append(answer)
        process.send_signal(signal.SIGKILL)  # at once: no shutdown, no flush
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    saved = RatingsStore(run).judgements("kim")
    assert [(j.image, j.action, j.subject) for j in saved] == [(a["image"], a["action"], a["subject"]) for a in given]
