"""nginx in front of the service, as a deployment puts it (docs/nginx/): for `bench/surge.py
--proxy`. The server block includes docs/nginx/petitions.conf itself, so the benchmark measures
the locations the README tells an operator to use: the live count answered from a one-second
cache, everything else passed through.

nginx is Debian's (`apt-get install nginx`); it runs in the foreground from a scratch prefix, in a
process group of its own (bench/service.py's Processes), so that its CPU is counted as the
proxy's and it is stopped with the service.

Imported as `bench.proxy` by scripts that have put the repository root on sys.path (see
bench/common.py).
"""

import os
import shutil
import tempfile
from pathlib import Path

from bench.common import LOOPBACK, ROOT, BenchError
from bench.service import Deadline, Processes, wait_healthy

LOCATIONS = ROOT / "docs" / "nginx" / "petitions.conf"
CANDIDATES = ("nginx", "/usr/sbin/nginx")

# As docs/nginx/site.conf, but on loopback ports, logging errors only, and with its files in a
# scratch prefix. One worker process: the cache serves the polls, the rest is passed through.
CONFIG = """\
{user}daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections 16384;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    proxy_cache_path {prefix}/count levels=1 keys_zone=petitions_count:1m max_size=16m
                     inactive=60s use_temp_path=off;
    upstream petitions {{
        server {loopback}:{upstream};
        keepalive 32;
        keepalive_timeout 1s;
    }}
    server {{
        listen {loopback}:{port};
        include {locations};
    }}
}}
"""


def nginx_binary() -> str:
    """The nginx program; raises BenchError saying how to install it when there is none."""
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise BenchError("--proxy needs nginx: apt-get install nginx (Debian), or leave out --proxy")


def start_proxy(
    processes: Processes, upstream: int, port: int, logs: Path, deadline: Deadline
) -> str:
    """Start nginx on ``port`` in front of the service on ``upstream``, as the child "proxy" of
    ``processes``; wait until the service answers /healthz through it; return its base URL."""
    binary = nginx_binary()
    prefix = Path(tempfile.mkdtemp(prefix="nginx-", dir=logs))
    # Started as root, nginx's workers would drop to "nobody", who cannot write the cache in a
    # scratch folder only its owner may enter: they keep the benchmark's user instead.
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = prefix / "nginx.conf"
    config.write_text(
        CONFIG.format(
            user=user,
            prefix=prefix,
            loopback=LOOPBACK,
            upstream=upstream,
            port=port,
            locations=LOCATIONS,
        ),
        encoding="utf-8",
    )
    processes.start(
        "proxy", [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(config)], {}
    )
    base = f"http://{LOOPBACK}:{port}"
    wait_healthy(f"{base}/healthz", processes, deadline)
    return base
