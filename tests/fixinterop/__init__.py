"""QuickFIX as the counterparty of the gateway's FIX stack.

* ``qf_exchange``: a QuickFIX acceptor playing the exchange (acks and fills
  orders, logs what it receives, takes control commands on stdin);
* ``qf_client``: a QuickFIX initiator that logs on and sends orders (the
  reverse interop test and the round-trip benchmark);
* ``gapproxy``: a TCP proxy that drops chosen messages (the Nth of a type)
  on their way from the acceptor to the client.

The tests are ``tests/integration/test_fix_quickfix.py``; the benchmark is
``benchmarks/bench_fix_rtt.py``.
"""
