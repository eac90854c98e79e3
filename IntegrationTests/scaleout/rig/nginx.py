"""nginx (Debian's) as the load balancer in front of N Berth instances, on loopback.

Round-robin for everything except an upload session's URL (`/v2/<name>/blobs/uploads/<uuid>`), which is
hashed on the session id so that its PATCHes and PUT land on one instance: Berth keeps a session's running
hash in memory, and another instance would have to re-read the staged bytes (correct, but slower).

Bodies stream both ways (no request or response buffering, no body size limit), HTTP/1.1 with keepalive to
the upstreams. nginx runs in the foreground as our child, as root with root workers (its temp folders are
in the rig's folder, which other users may not write), with every path in the rig's folder."""
import os
import signal
import shutil

from harness.procs import Proc, free_port, http_status, run, wait_until

NGINX = os.environ.get("BERTH_NGINX", shutil.which("nginx") or "/usr/sbin/nginx")

# `$uri` is decoded and normalized; a session id is the last component after /blobs/uploads/.
CONFIG = """\
daemon off;
master_process on;
worker_processes 2;
user root;
pid {folder}/nginx.pid;
error_log {folder}/error.log notice;

events {{
    worker_connections 1024;
}}

http {{
    default_type application/octet-stream;
    log_format upstreams '$remote_addr "$request" $status $body_bytes_sent upstream=$upstream_addr '
                         'session=$upload_session rt=$request_time';
    access_log {folder}/access.log upstreams;

    client_body_temp_path {folder}/tmp/client_body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;

    map $uri $upload_session {{
        "~^/v2/.+/blobs/uploads/(?<session>[^/]+)$" $session;
        default "";
    }}

    upstream berth_any {{
{servers}
        keepalive 32;
    }}

    upstream berth_session {{
        hash $upload_session consistent;
{servers}
        keepalive 32;
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        # Large blobs: a slow client or a slow store must not be cut at nginx's 60 s defaults.
        proxy_read_timeout 600s;
        proxy_send_timeout 600s;
        client_body_timeout 600s;
        send_timeout 600s;

        location ~ ^/v2/.+/blobs/uploads/[^/]+$ {{
            proxy_pass http://berth_session;
        }}

        location / {{
            proxy_pass http://berth_any;
        }}
    }}
}}
"""


def render(folder, port, upstream_ports):
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in upstream_ports)
    return CONFIG.format(folder=folder, port=port, servers=servers)


class Nginx:
    def __init__(self, folder, upstream_ports):
        self.folder = folder
        self.upstream_ports = list(upstream_ports)
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self):
        return os.path.join(self.folder, "nginx.conf")

    def start(self, timeout=20):
        if not os.path.exists(NGINX):
            raise RuntimeError(f"nginx not found at {NGINX} (apt-get install nginx)")
        os.makedirs(os.path.join(self.folder, "tmp"), exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write(render(self.folder, self.port, self.upstream_ports))
        # -e: the error log before the config is read (else nginx tries /var/log/nginx/error.log).
        base = [NGINX, "-p", self.folder + "/", "-c", self.config_path, "-e", os.path.join(self.folder, "error.log")]
        run(base + ["-t"], timeout=20)
        # SIGQUIT is nginx's graceful stop: requests in flight finish; Proc.stop kills after its timeout.
        self.proc = Proc("nginx", base, os.path.join(self.folder, "nginx.out"), stop_signal=signal.SIGQUIT,
                         cwd=self.folder)
        wait_until("nginx", lambda: http_status(self.url + "/nginx-ready-probe", timeout=1) > 0,
                   timeout, self.proc)
        return self

    def info(self):
        return {"url": self.url, "config": self.config_path, "access_log": os.path.join(self.folder, "access.log")}

    def stop(self):
        if self.proc is not None:
            self.proc.stop(timeout=10)
            self.proc = None
