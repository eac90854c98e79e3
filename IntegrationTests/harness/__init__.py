"""What every integration test shares: one way to start Berth (berth.py), to run and stop child processes
(procs.py), to talk HTTP to a registry (http.py), to make content (content.py) and to count checks
(checks.py). Area packages beside this one hold the tests; conftest.py turns these into pytest fixtures."""
