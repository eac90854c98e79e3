"""TLS: Berth serves HTTPS with the configured certificate, refuses plain HTTP on that port, and on SIGHUP
serves a renewed certificate to new connections without a restart; a broken renewal keeps the current one."""
import hashlib, os, shutil, signal, socket, ssl, subprocess, time

import pytest

pytestmark = [pytest.mark.tls, pytest.mark.xdist_group("tls")]


def make_cert(folder, name):
    key, crt = os.path.join(folder, name + ".key"), os.path.join(folder, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True, timeout=60)
    return key, crt


def served(port):
    """The SHA-256 of the certificate a new connection gets, and the status of GET /v2/ over it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
            tls.sendall(b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := tls.recv(4096):
                reply += chunk
    return hashlib.sha256(der).hexdigest(), reply.split(b" ", 2)[1].decode() if reply else ""


def fingerprint(crt):
    with open(crt) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def test_tls(berth, work, checks):
    check = checks
    key_a, crt_a = make_cert(work, "first")
    key_b, crt_b = make_cert(work, "second")
    live_key, live_crt = os.path.join(work, "tls.key"), os.path.join(work, "tls.crt")
    shutil.copy(key_a, live_key)
    shutil.copy(crt_a, live_crt)
    b = berth("tls", f"tls:\n  certificate: {live_crt}\n  key: {live_key}\nstorage: {{fsync: false}}\n")
    try:
        b.start()
    except RuntimeError as e:
        check(False, "Berth starts with TLS", str(e)[-500:])
        return
    check(True, "Berth starts with TLS")
    port = b.port
    cert, status = served(port)
    check(cert == fingerprint(crt_a) and status == "200", f"HTTPS with the configured certificate (GET /v2/ {status})")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
        plain.sendall(b"GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            answer = plain.recv(100)
        except OSError:
            answer = b""
    check(not answer.startswith(b"HTTP/1.1 200"), "plain HTTP on the TLS port gets no registry answer")

    shutil.copy(key_b, live_key)
    shutil.copy(crt_b, live_crt)
    b.proc.send_signal(signal.SIGHUP)
    renewed = False
    for _ in range(50):
        time.sleep(0.1)
        if served(port)[0] == fingerprint(crt_b):
            renewed = True
            break
    check(renewed, "SIGHUP: new connections get the renewed certificate")
    check(b.running(), "Berth still runs after SIGHUP")

    with open(live_crt, "w") as f:
        f.write("not a certificate\n")
    b.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    cert, status = served(port)
    check(b.running() and cert == fingerprint(crt_b) and status == "200",
          "a broken renewal keeps the current certificate")
    check("TLS reload failed" in b.log(), "a broken renewal is logged")
