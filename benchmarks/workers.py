"""A long-lived helper process spoken to in JSON lines (the sharp peer, a deployed package)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any


class JsonLinesWorker:
    """A child process reading one JSON request per line and answering one JSON line; a context manager.

    An answer with an ``error`` field raises ``error_type``, as does the child ending.
    """

    def __init__(
        self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str], name: str, error_type: type[Exception]
    ) -> None:
        self.name = name
        self._error_type = error_type
        self._process = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def __enter__(self) -> JsonLinesWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes its stdin and waits for it (kills it after 10 s)."""
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Sends ``request``, returns the answer.

        Raises:
            Exception: ``error_type``, when the child answers an error or ends.
        """
        stdin: IO[str] | None = self._process.stdin
        stdout: IO[str] | None = self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise self._error_type(f"the {self.name} process ended (exit {self._process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise self._error_type(answer["error"])
        return answer
