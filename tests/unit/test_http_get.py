"""The traffic helpers' request (tests/e2e): a response cut short is a failed request, never an
exception that would end a client's loop and leave its failures uncounted."""

from __future__ import annotations

import socket
import threading

from tests.e2e.workspace import http_get


def serve_once(reply: bytes) -> str:
    """A loopback server that answers one request with `reply`, then closes the connection."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        with server:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

    threading.Thread(target=answer, daemon=True).start()
    return f"http://127.0.0.1:{port}/"


def test_a_whole_response_is_read() -> None:
    url = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-App-Sha: abc\r\n\r\nok")
    status, headers, body = http_get(url)
    assert (status, headers["X-App-Sha"], body) == (200, "abc", b"ok")


def test_a_chunked_response_cut_mid_body_is_a_failed_request() -> None:
    url = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
    assert http_get(url) == (0, {}, b"")


def test_a_response_shorter_than_its_length_is_a_failed_request() -> None:
    url = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert http_get(url) == (0, {}, b"")


def test_an_error_status_cut_mid_body_is_a_failed_request() -> None:
    url = serve_once(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 10\r\n\r\nab")
    assert http_get(url) == (0, {}, b"")
