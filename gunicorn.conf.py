"""gunicorn settings for production and `make run`. Each may be overridden from the environment."""

import multiprocessing
import os
import shutil
import tempfile

from fleet.plumbing.accesslog import ACCESS_FORMAT

# Metrics from every worker add up at /metrics (prometheus_client's multiprocess mode). Set
# before any worker imports prometheus_client; a fresh folder per start so old counts vanish.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir = tempfile.mkdtemp(
        prefix="fleet-metrics-"
    )
else:
    _metrics_dir = ""

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
# Sync workers, one more than the cores: one can run while another waits on PostgreSQL, and no
# more, since a worker that waits for a core only adds latency. Measured with wrk on 2 cores
# (bench/RESULTS.md, third round): 3 sync workers served single readings at 370/s (p99 74 ms)
# against 330/s (p99 93 ms) for 5; gthread (2 x 4 threads), which keeps connections alive,
# served the floor faster (963/s against 856/s) but single readings slower (308/s, p99 168 ms).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A request that takes longer than this is stuck (statements time out well before it).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On SIGTERM, finish in-flight requests (a batch commit) before exiting.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = 2000
# GUNICORN_ACCESSLOG="" turns the access log off (load tests).
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
# key= is the API key's public prefix (the admin lists keys by it), never its secret, and
# nothing of other schemes such as the metrics bearer token (fleet.plumbing.accesslog).
logger_class = "fleet.plumbing.accesslog.AccessLogger"
access_log_format = ACCESS_FORMAT
errorlog = "-"


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Forget a dead worker's live gauges (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    """Remove the metrics folder this start made (one was left in the temp folder per start)."""
    if _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
