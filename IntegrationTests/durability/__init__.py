"""Durability: every acknowledged write survives kill -9 (test_crash.py) and is on stable storage before its
response leaves, judged from a syscall trace of Berth under strace (test_powerloss.py, trace.py)."""
