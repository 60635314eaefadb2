"""Services: the use cases of the service (run a job's backup, ask for a run), each owning its transactions.

Services sit between the jobs layer (scheduler and worker loop) and the engine and catalog: they read the
catalog, drive the engine in-process and record what happened, and never print.
"""

from resguardo.services.backup_run import RunProgress, RunStopped, run_backup
from resguardo.services.requests import request_run_now
from resguardo.services.restore_run import RestoreStopped, run_restore

__all__ = [
    "RestoreStopped",
    "RunProgress",
    "RunStopped",
    "request_run_now",
    "run_backup",
    "run_restore",
]
