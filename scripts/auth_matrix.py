#!/usr/bin/env python3
"""Access-control check against docs/SECURITY.md, over real HTTP.

A Berth is started in `auth.mode: basic` and another in `auth.mode: token`, each set up with the CLI (users
reader, writer, maintainer, nsadmin, admin; namespaces priv (private), pub (public), sec (private); access
tokens: scoped, namespace-scoped, expired, revoked). Every principal (those, anonymous, a wrong password and, in
token mode, no token at all) then sends every /v2/ request to existing and missing repositories; the expected
answer of each comes from an independent model of the contract (authtest/model.py). Then: the token service,
the admin API, audit records, no secret in the log, and (on a third Berth) login throttling.

Prints one line per check and `N passed, M failed`; exits 1 on any failure.
usage: scripts/auth_matrix.py [PATH_TO_BERTH]
"""
import os, shutil, sys, tempfile, traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from authtest import admin as admin_checks, common, credentials, harness, matrix, throttling, tokens  # noqa: E402


def config(mode, attempts=100000):
    return f"""storage:
  fsync: false
log:
  access: true
auth:
  mode: {mode}
  realm: {matrix.REALM}
  token:
    service: berth
    issuer: {common.ISSUER}
    expires_in: {common.EXPIRES_IN}s
    refresh_expires_in: 1d
  lockout:
    attempts: {attempts}
    window: 1m
"""


def run_mode(binary, work, mode, report):
    report.section = f"{mode} setup"
    b = harness.Berth(binary, work, mode, config(mode))
    principals, secrets = common.provision(b, mode)
    b.start()
    admin = common.by_name(principals)["admin"]
    reg = matrix.Registry(b, mode, admin, report)
    try:
        reg.seed_content()
        report.section = f"{mode} matrix"
        matrix.run_matrix(reg, principals)
        if mode == "token":
            report.section = "token service"
            tokens.token_service(reg, principals, secrets)
        report.section = f"{mode} admin API"
        admin_checks.admin_api(reg, principals, secrets)
        report.section = f"{mode} audit"
        admin_checks.audit(reg, principals)
        report.section = f"{mode} credentials"
        credentials.credentials(reg, principals, secrets)
        report.check(b.proc.poll() is None, "berth still running at the end")
    finally:
        b.stop()
    report.section = f"{mode} secrets"
    tokens.no_secrets_logged(b, reg, principals, secrets)
    tokens.stored_secrets(b, reg, secrets)


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/berth")
    harness.install_signal_handlers()
    work = tempfile.mkdtemp(prefix="berth-auth.")
    report = harness.Report()
    try:
        for mode in ("basic", "token"):
            try:
                run_mode(binary, work, mode, report)
            except Exception:  # a crash of the check itself, or a server that stopped answering
                report.check(False, f"{mode} run completed", traceback.format_exc())
        try:
            throttling.throttling(binary, work, report, config("basic", attempts=3))
        except Exception:
            report.check(False, "throttling run completed", traceback.format_exc())
    finally:
        harness.stop_all()
    report.section = "logs"
    for b in harness.BERTHS:
        text = b.log()
        report.check("Fatal error" not in text and "runtime failure" not in text, f"no crash in {b.dir}'s log")
    print("by section: " + ", ".join(f"{k} {v[0]}/{v[0] + v[1]}" for k, v in report.by_section.items()))
    print(f"auth: {report.passed} passed, {len(report.failed)} failed")
    if report.failed:
        print(f"(logs kept in {work})")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
