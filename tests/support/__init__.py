"""Helpers shared by the tests (one copy each).

* :mod:`tests.support.emulator_client`: ``Api``, an AK/SK-signed (or token) HTTP client of the emulator.
* :mod:`tests.support.images`: ``live_images``/``live_by_id``, the images a test counts as existing.
* :mod:`tests.support.glance`: a real OpenStack Glance for the Glance tests.

The emulator process runner is :mod:`ims_emulator.process`; the Pulumi CLI driver is
:mod:`harness.pulumi_cli` (shared with ``bench/``, which must not import from ``tests/``).
"""
