"""Only a job given a hub model id reaches for the network; offline it fails with a message
that says so, instead of a stack trace from deep inside the hub client."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_a_hub_id_offline_fails_with_a_clear_message(tmp_path):
    script = textwrap.dedent(
        """
        from pathlib import Path
        from app.core import protocol
        from app.core import job_paths
        from trainer.start import load_base

        spec = protocol.JobSpec(
            job_id=1, attempt=1, dataset_version_id=1, base_model="example-org/no-such-model",
            params=protocol.JobParams(), lease_seconds=120, artifact_dir=".",
        )
        try:
            load_base(spec, ["a text"], job_paths.JobFolder(Path(".")))
        except RuntimeError as error:
            print("MESSAGE:", error)
        else:
            print("LOADED")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            "HF_HUB_OFFLINE": "1",
            "HF_HOME": str(tmp_path / "hf"),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
    )
    assert "MESSAGE:" in result.stdout, result.stderr[-3000:]
    message = result.stdout.split("MESSAGE:", 1)[1]
    assert "'example-org/no-such-model'" in message
    assert "network access to the model hub" in message
