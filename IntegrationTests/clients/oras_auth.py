#!/usr/bin/env python3
"""Authenticated push and pull through the oras-py SDK (PyPI package `oras`), for the auth section of the
real-client suite (clients/sh/auth.sh, clients/sh/auth-clients.sh).

Usage: oras_auth.py HOST:PORT SCHEME CA BACKEND REPO WORKDIR
  SCHEME   http or https; CA is the CA bundle for https ("" for http)
  BACKEND  the SDK's auth backend: basic (Berth's basic mode) or token (token mode)
  env ORAS_AUTH_USER / ORAS_AUTH_PASSWORD: a writer of REPO; ORAS_AUTH_READER / ORAS_AUTH_READER_PASSWORD:
  a user with only pull on REPO; ORAS_AUTH_BAD_PASSWORD: a wrong password for ORAS_AUTH_USER.

Logs in with `OrasClient.login` (credentials written to a config file of its own), pushes a file artifact to
REPO:v1, lists the tags, pulls it back and compares the bytes; then checks that a wrong password and the
reader cannot push and that a client without credentials cannot pull.  Prints one TAP-like `ok - ...` /
`not ok - ...` line per check and exits 1 if any failed.
"""

import json
import os
import sys
import traceback
import types

import oras.auth.utils
import oras.client
import oras.decorator

# oras-py retries a failing request five times, sleeping 2+3**n seconds between tries (over two minutes in
# all); the refusals checked here would take that long, so the retries do not sleep.
oras.decorator.time = types.SimpleNamespace(sleep=lambda seconds: None)

failures = 0


def check(cond, desc, detail=""):
    global failures
    if cond:
        print(f"ok - oras: {desc}", flush=True)
    else:
        failures += 1
        print(f"not ok - oras: {desc}", flush=True)
        for line in str(detail).splitlines()[-20:]:
            print(f"#   {line}", flush=True)
    return cond


def main():
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    host, scheme, ca, backend, repo, work = sys.argv[1:]
    user, password = os.environ["ORAS_AUTH_USER"], os.environ["ORAS_AUTH_PASSWORD"]
    reader, reader_password = os.environ["ORAS_AUTH_READER"], os.environ["ORAS_AUTH_READER_PASSWORD"]
    bad_password = os.environ["ORAS_AUTH_BAD_PASSWORD"]
    os.makedirs(work, exist_ok=True)
    os.chdir(work)   # push() wants the files under the working folder
    https = scheme == "https"

    def new_client():
        return oras.client.OrasClient(hostname=host, insecure=not https,
                                      tls_verify=(ca if https else False), auth_backend=backend)

    def new_config(name):
        path = os.path.join(work, f"{name}.json")
        with open(path, "w") as f:
            json.dump({"auths": {}}, f)
        return path

    # oras-py's token backend says "Cannot respond to request for authentication" when the token service
    # turned its credentials down.
    def prime(c, who, actions):
        """Token mode: fetch the client's token for REPO:ACTIONS before it pushes.  oras-py keeps the token of
        its first challenge (the HEAD of a blob asks for pull) and asks for a new one only after a 403, never
        after the 401 insufficient_scope that the token protocol (and Berth) answers, so without this its
        pushes fail."""
        if backend != "token":
            return
        r = c.session.get(f"{scheme}://{host}/v2/", verify=c._tls_verify, timeout=30)
        h = oras.auth.utils.parse_auth_header(r.headers.get("Www-Authenticate", ""))
        h.scope = f"repository:{repo}:{actions}"
        token = c.auth.request_token(h)
        print(f"# oras: token for {who} and {h.scope}: {'issued' if token else 'refused'}", flush=True)
        if token:
            c.auth.set_token_auth(token)

    def refused(desc, action, statuses=("401", "403", "unauthorized", "forbidden", "denied", "cannot respond")):
        """action() must fail (an exception or an error status) and say why in auth terms."""
        try:
            r = action()
            detail = f"succeeded: {getattr(r, 'status_code', r)}"
            check(False, desc, detail)
        except Exception as error:
            text = f"{type(error).__name__}: {error}".lower()
            check(any(s in text for s in statuses), desc, traceback.format_exc())

    target = f"{host}/{repo}:v1"
    body = b"berth real-clients auth " + os.urandom(16).hex().encode() + b"\n"
    with open("hello.txt", "wb") as f:
        f.write(body)

    # --- alice: login, push, tags, pull -------------------------------------------------------------
    cfg = new_config("alice")
    client = new_client()
    try:
        result = client.login(username=user, password=password, hostname=host, config_path=cfg,
                              tls_verify=https)
        with open(cfg) as f:
            stored = json.load(f).get("auths", {})
        check(host in stored, f"login({user}) stores credentials for {host}", f"{result}; auths={list(stored)}")
    except Exception:
        check(False, f"login({user})", traceback.format_exc())
    pushed = False
    try:
        prime(client, user, "pull,push")
        r = client.push(target=target, files=["hello.txt"], config_path=cfg)
        pushed = check(r.status_code == 201, f"push {repo}:v1 as {user}", f"{r.status_code} {r.text[:300]}")
    except Exception:
        check(False, f"push {repo}:v1 as {user}", traceback.format_exc())
    if pushed:
        try:
            tags = client.get_tags(f"{host}/{repo}")
            check("v1" in tags, f"tags of {repo} include v1", f"tags={tags}")
        except Exception:
            check(False, f"tags of {repo}", traceback.format_exc())
        try:
            out = os.path.join(work, "pulled")
            files = new_client().pull(target=target, config_path=cfg, outdir=out)
            got = open(files[0], "rb").read() if len(files) == 1 else None
            check(got == body, f"pull {repo}:v1 as {user} (fresh client) returns the pushed bytes",
                  f"files={files}")
        except Exception:
            check(False, f"pull {repo}:v1 as {user}", traceback.format_exc())

    # --- refusals ------------------------------------------------------------------------------------
    bad = new_config("bad")
    bad_client = new_client()
    bad_client.login(username=user, password=bad_password, hostname=host, config_path=bad, tls_verify=https)
    refused("a wrong password cannot push",
            lambda: bad_client.push(target=f"{host}/{repo}:bad", files=["hello.txt"], config_path=bad))
    bad_client = new_client()
    bad_client.login(username=user, password=bad_password, hostname=host, config_path=bad, tls_verify=https)
    refused("a wrong password cannot pull", lambda: bad_client.pull(target=target, config_path=bad,
                                                                     outdir=os.path.join(work, "bad")))
    rcfg = new_config("reader")
    reader_client = new_client()
    reader_client.login(username=reader, password=reader_password, hostname=host, config_path=rcfg,
                        tls_verify=https)
    if pushed:
        try:
            files = reader_client.pull(target=target, config_path=rcfg, outdir=os.path.join(work, "reader"))
            check(len(files) == 1 and open(files[0], "rb").read() == body, f"{reader} (reader) may pull",
                  f"files={files}")
        except Exception:
            check(False, f"{reader} (reader) may pull", traceback.format_exc())
    reader_client = new_client()
    reader_client.login(username=reader, password=reader_password, hostname=host, config_path=rcfg,
                        tls_verify=https)
    prime(reader_client, reader, "pull,push")
    refused(f"{reader} (reader) cannot push",
            lambda: reader_client.push(target=f"{host}/{repo}:reader", files=["hello.txt"], config_path=rcfg))
    # Without credentials the basic backend has nothing to answer the challenge with; any failure will do.
    anon = new_config("anon")
    refused("a client without credentials cannot pull",
            lambda: new_client().pull(target=target, config_path=anon, outdir=os.path.join(work, "anon")),
            statuses=("401", "unauthorized", "denied", "basic_auth", "cannot respond"))
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        print("not ok - oras: oras_auth.py ran to completion", flush=True)
        traceback.print_exc()
        sys.exit(1)
