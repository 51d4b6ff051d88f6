"""Test harness for the FIX session-layer acceptance scripts.

The scripts (QuickFIX's ``test/definitions/server/fix4x/*.def``) live outside
the project, in ``../shared/data/fix-session-tests``; nothing here copies them.

* ``driver``: parses a script and plays the counterparty against an acceptor
  (``run_script``, ``run_scripts``, and a command line).
* ``qf_echo``: a QuickFIX acceptor with the scripts' echo application, the
  outside reference the driver is checked against.
* ``proxy``: a TCP proxy that drops chosen message types on their way from the
  acceptor, to make a deliberately broken acceptor the scripts must catch.
"""
