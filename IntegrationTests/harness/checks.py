"""Counted checks. A test makes hundreds of small checks (one per principal and request in the access matrix);
each is counted and printed, and a failed one does not stop the rest, so one run shows every defect. The
`checks` fixture (conftest.py) fails the test when any check failed and reports the count to the summary."""


class Checks:
    def __init__(self):
        self.passed, self.failed, self.by_section = 0, [], {}
        self.section = ""

    def __call__(self, cond, what, detail=""):
        """One check: prints `ok - ...` or `not ok - ...`; returns whether it held."""
        counts = self.by_section.setdefault(self.section, [0, 0])
        counts[0 if cond else 1] += 1
        label = f"{self.section}: {what}" if self.section else what
        if cond:
            self.passed += 1
            print(f"ok - {label}", flush=True)
        else:
            self.failed.append(f"{label}" + (f": {detail}" if detail else ""))
            print(f"not ok - {label}" + (f" -- {detail}" if detail else ""), flush=True)
        return bool(cond)

    check = __call__  # the access matrix's modules call report.check(...)

    @property
    def total(self):
        return self.passed + len(self.failed)

    def sections(self):
        return ", ".join(f"{k or '-'} {v[0]}/{v[0] + v[1]}" for k, v in self.by_section.items())
