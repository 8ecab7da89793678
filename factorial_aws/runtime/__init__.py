"""The runtime: the pure one-turn engine (:mod:`.turn`) and its flows. No Redis and no AWS here;
the store and the AWS adapters feed it a context and commit what it returns."""
