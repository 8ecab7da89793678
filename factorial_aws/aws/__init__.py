"""The AWS adapter package: SQS turn queue, EventBridge Scheduler, Secrets Manager, ElastiCache IAM
auth, boto3 client factories and the environment settings of a deployed stack.

Together with ``handlers/`` this is the only code that imports ``boto3``, ``botocore`` or
Powertools, and it does so lazily (inside functions), so importing the package stays cheap. It never
imports ``openai``.
"""
