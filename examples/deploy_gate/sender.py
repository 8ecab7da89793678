"""A stub GitHub: sends ``check_run`` events for a commit, signed as GitHub signs them.

python -m examples.deploy_gate.sender http://127.0.0.1:8000 <secret> octo/app <sha> [action]
"""

from __future__ import annotations

import sys
from typing import Any

from examples.senders import send_github


def check_run(repo: str, sha: str, action: str = "completed", conclusion: str = "success") -> Any:
    """A ``check_run`` event, trimmed (GitHub's carries many more fields; the hook ignores them)."""
    completed = action == "completed"
    return {
        "action": action,
        "check_run": {
            "id": 128620228,
            "name": "ci / test",
            "head_sha": sha,
            "status": "completed" if completed else "in_progress",
            "conclusion": conclusion if completed else None,
            "html_url": f"https://github.com/{repo}/runs/128620228",
        },
        "repository": {"full_name": repo, "private": False},
        "sender": {"login": "github-actions[bot]"},
    }


if __name__ == "__main__":
    base, secret, repo, sha, *rest = sys.argv[1:]
    print(send_github(base, secret, check_run(repo, sha, *rest)))
