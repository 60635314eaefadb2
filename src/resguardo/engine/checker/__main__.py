"""Entry point of a check worker process: ``python -m resguardo.engine.checker REQUESTS REPLIES``.

A check started with worker processes runs them this way (see
:class:`resguardo.engine.processes.ChildPool`); each one verifies the packs it is sent.
"""

from resguardo.engine.checker.packs import read_pack_in_worker, start_worker
from resguardo.engine.processes import serve_requests

if __name__ == "__main__":
    serve_requests(read_pack_in_worker, start_worker)
