"""One provisioned Berth per auth mode, shared by that mode's tests (test_basic_mode.py, test_token_mode.py).

The sections build on each other, so they share the server and run in file order: the matrix seeds content and
makes the pushes the audit section looks for, the token service rotates and removes signing keys, and every
section adds the secrets it saw to one list that the last section looks for in the log and the store (read
once the server has stopped).
"""
import os, shutil, tempfile

from access import admin, common, credentials, matrix, registry, tokens
from harness.berth import Berth


class ProvisionedBerth:
    """A running Berth in `mode`, its principals (made with the CLI before it started), the secrets seen so far,
    and the Registry the sections use; each test points the Registry at its own checks."""

    def __init__(self, berth, mode, principals, secrets):
        self.berth, self.mode, self.principals, self.secrets = berth, mode, principals, secrets
        self.reg = registry.Registry(berth, mode, common.by_name(principals)["admin"], None)

    def registry(self, checks, section):
        checks.section = section
        self.reg.report = checks
        return self.reg

    def matrix(self, checks):
        reg = self.registry(checks, f"{self.mode} setup")
        reg.seed_content()
        checks.section = f"{self.mode} matrix"
        matrix.run_matrix(reg, self.principals)

    def token_service(self, checks):
        tokens.token_service(self.registry(checks, "token service"), self.principals, self.secrets)

    def admin_api(self, checks):
        admin.admin_api(self.registry(checks, f"{self.mode} admin API"), self.principals, self.secrets)

    def audit(self, checks):
        admin.audit(self.registry(checks, f"{self.mode} audit"), self.principals)

    def credentials(self, checks):
        credentials.credentials(self.registry(checks, f"{self.mode} credentials"), self.principals, self.secrets)
        checks(self.berth.running(), "berth still running at the end")

    def secrets_kept(self, checks):
        """Last: stops the server, then no secret in its log, and none kept as is in its store."""
        reg = self.registry(checks, f"{self.mode} secrets")
        self.berth.stop()
        tokens.no_secrets_logged(self.berth, reg, self.principals, self.secrets)
        tokens.stored_secrets(self.berth, reg, self.secrets)


def provisioned(binary, mode, request):
    """The body of a module-scoped fixture: yields a ProvisionedBerth; its folder is removed after the module
    unless one of its tests failed (then its path is printed). The Berth is `shared`, so the per-test stop
    (conftest.py) leaves it running; this fixture stops it."""
    work = tempfile.mkdtemp(prefix=f"berth-it-auth-{mode}-")
    failed_before = request.session.testsfailed
    b = Berth(binary, work, mode, common.config(mode))
    b.shared = True
    try:
        principals, secrets = common.provision(b, mode)
        b.start()
        yield ProvisionedBerth(b, mode, principals, secrets)
    finally:
        b.release()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"\n(work folder kept: {os.path.join(work, mode)})")
