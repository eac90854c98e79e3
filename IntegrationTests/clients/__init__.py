"""Real registry clients (Docker CLI with a private daemon, containerd's ctr, skopeo, podman, the oras-py SDK)
against Berth, logged in and anonymous. The clients' command lines stay shell (sh/); runner.py runs them and
counts their checks; dockerd.py is the private Docker daemon. The scale-out area runs the same plain sections
through its nginx."""
