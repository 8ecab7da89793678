"""The ``factorial-aws`` command line (``python -m factorial_aws`` too).

``dev`` serves an App locally (:mod:`.dev`); ``run`` and ``tasks`` (:mod:`.tasks`, live display in
:mod:`.follow`) and ``hooks`` (:mod:`.hooks`) call the HTTP API through :mod:`.client` (SigV4 for
a deployed stack); ``init`` scaffolds a project (:mod:`.scaffold`, :mod:`.templates`). Commands
import the heavy parts (the dev server, botocore) only when they run.
"""

from factorial_aws.cli.entry import main as main

__all__ = ["main"]
