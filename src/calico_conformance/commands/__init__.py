"""Sub-commands of ``calico-conformance``: one module each, found by ``calico_conformance.cli``.

A command module defines ``NAME``, ``HELP``, ``configure(parser)`` and ``run(args) -> int``.
"""
