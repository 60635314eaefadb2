"""Entry point of a restore worker process: ``python -m resguardo.engine.restorer REQUESTS REPLIES TARGET``.

The restore process starts its worker processes this way (see :class:`.workers._WorkerProcess`),
passing the descriptors of the request pipe, the reply pipe and the target directory; the work
itself is :func:`.workers._worker_main`, imported under its real module name so that what the
worker pickles unpickles in the parent.
"""

import sys

from resguardo.engine.processes import child_pipes
from resguardo.engine.restorer.workers import _worker_main

if __name__ == "__main__":
    _requests, _replies = child_pipes()
    with _requests, _replies:
        _worker_main(_requests, _replies, int(sys.argv[3]))
