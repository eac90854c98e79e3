"""The scale-out set-up: two Berth instances on SeaweedFS (S3) and PostgreSQL behind nginx. The rig (rig/, also
`python3 -m scaleout.rig` from IntegrationTests/) is one session fixture (conftest.py); test_scaleout.py runs the
check families against it in order; the other modules hold each family's checks."""
