"""The local runtime: the same turns, store and API as on AWS, with an in-process queue and
scheduler instead of SQS and EventBridge Scheduler (``factorial-aws dev``, examples, tests)."""
