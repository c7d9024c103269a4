"""The witness over HTTP: ``POST /add-checkpoint`` as c2sp.org/tlog-witness defines it, and a
page at ``/`` naming the witness's key. A plain WSGI application (no Flask app, no database), so
that a scrutineer runs it on their own machine with nothing of the service's."""

import threading

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from petitions.transparency import witness as witness_state

_ROUTES = Map(
    [
        Rule("/", endpoint="about", methods=["GET"]),
        Rule("/add-checkpoint", endpoint="add_checkpoint", methods=["POST"]),
    ]
)


class WitnessApp:
    """The WSGI application of one witness."""

    def __init__(self, witness: witness_state.Witness):
        self.witness = witness

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, _args = _ROUTES.bind_to_environ(environ).match()
        except (NotFound, MethodNotAllowed) as exc:
            return _plain(exc.code, exc.description)(environ, start_response)
        if endpoint == "about":
            vkey = self.witness.cosigner.verifier().vkey()
            logs = "".join(f"log {origin}\n" for origin in sorted(self.witness.logs))
            return _plain(200, f"witness {vkey}\n{logs}")(environ, start_response)
        length = request.content_length
        if length is not None and length > witness_state.MAX_BODY:
            return _plain(413, "the request is too large")(environ, start_response)
        try:
            body = request.stream.read(witness_state.MAX_BODY + 1)
        except HTTPException as exc:
            return _plain(exc.code or 400, "the request could not be read")(environ, start_response)
        answer = self.witness.add_checkpoint(body)
        response = Response(answer.body, status=answer.status, content_type=answer.content_type)
        return response(environ, start_response)


def _plain(status: int, text: str) -> Response:
    return Response(text.rstrip("\n") + "\n", status=status, content_type=witness_state.TEXT_TYPE)


class Server:
    """A witness served on ``host:port`` from a thread per request; ``port`` 0 picks one."""

    def __init__(self, witness: witness_state.Witness, host: str = "127.0.0.1", port: int = 0):
        self._server = make_server(host, port, WitnessApp(witness), threaded=True)
        self.host = host
        self.port = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The witness's submission prefix."""
        return f"http://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until shut down."""
        self._server.serve_forever()

    def start(self) -> "Server":
        """Serve from a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
