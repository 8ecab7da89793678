"""One module per signing scheme, each a plain ``verify(source, secrets, body, headers, now)``
and the ``sign`` a sender would use (for tests and stub senders)."""
