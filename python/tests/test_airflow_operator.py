"""Tests of aiflow_sdk.airflow, the operators of generated DAGs. They need Airflow 3 (and the
cncf.kubernetes provider for the pod operator): run them with the Airflow venv's python,

    AIRFLOW_HOME=$(mktemp -d) PYTHONPATH=python .venv-airflow/bin/python -m unittest python/tests/test_airflow_operator.py

(pytest collects them too). Without Airflow they are skipped.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
import textwrap
import types
import unittest
from unittest import mock

try:
    import airflow.sdk  # noqa: F401

    HAVE_AIRFLOW = True
except ImportError:  # pragma: no cover - the plain Python venv
    HAVE_AIRFLOW = False

try:
    import airflow.providers.cncf.kubernetes  # noqa: F401

    HAVE_K8S_PROVIDER = HAVE_AIRFLOW
except ImportError:  # pragma: no cover
    HAVE_K8S_PROVIDER = False

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@unittest.skipUnless(HAVE_AIRFLOW, "apache-airflow is not installed")
class ExitCodeTest(unittest.TestCase):
    def test_mapping(self):
        from airflow.exceptions import AirflowException, AirflowFailException

        from aiflow_sdk.airflow import exit_error

        self.assertIsNone(exit_error(0))
        for code in (64, 65, 78):
            err = exit_error(code, "why")
            self.assertIsInstance(err, AirflowFailException, code)
            self.assertIn(f"exited {code}", str(err))
            self.assertIn("why", str(err))
        for code in (1, 75, 2, -9, None):
            err = exit_error(code)
            self.assertIsInstance(err, AirflowException, code)
            self.assertNotIsInstance(err, AirflowFailException, code)

    def test_import_is_light(self):
        """Importing the module (what a local-target DAG does) must not import the provider."""
        code = (
            "import sys, aiflow_sdk.airflow as m; "
            "assert 'airflow.providers.cncf.kubernetes.operators.pod' not in sys.modules; "
            "m.AiflowLocalOperator; "
            "assert 'airflow.providers.cncf.kubernetes.operators.pod' not in sys.modules"
        )
        env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)


def fake_runner(folder: str, code: int, reason: str = "") -> str:
    """A stand-in for aiflow-runner: records its arguments, cwd and one env var, then exits."""
    path = os.path.join(folder, "fake-runner")
    with open(path, "w") as f:
        f.write(
            textwrap.dedent(
                f"""\
                #!/bin/sh
                echo "args: $*"
                echo "cwd: $(pwd)"
                echo "ir: $AIFLOW_IR_B64"
                echo "$*" > "{folder}/args.txt"
                printf '%s' "{reason}" > "$AIFLOW_TERMINATION_LOG"
                exit {code}
                """
            )
        )
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


@unittest.skipUnless(HAVE_AIRFLOW, "apache-airflow is not installed")
class LocalOperatorTest(unittest.TestCase):
    def run_op(self, code, reason=""):
        from aiflow_sdk.airflow import AiflowLocalOperator

        tmp = tempfile.mkdtemp()
        op = AiflowLocalOperator(
            task_id="n",
            runner=fake_runner(tmp, code, reason),
            arguments=["run", "--node", "n"],
            env_vars={"AIFLOW_IR_B64": "SDRzSQ=="},
            cwd=tmp,
            retries=3,
        )
        lines = []
        with mock.patch.object(type(op), "log", new_callable=mock.PropertyMock) as log:
            log.return_value.info.side_effect = lambda fmt, *a: lines.append(fmt % a)
            try:
                op.execute({})
                err = None
            except Exception as e:  # noqa: BLE001
                err = e
        return tmp, lines, err

    def test_success_streams_output(self):
        tmp, lines, err = self.run_op(0)
        self.assertIsNone(err)
        self.assertIn("args: run --node n", lines)
        self.assertIn(f"cwd: {tmp}", lines)
        self.assertIn("ir: SDRzSQ==", lines)

    def test_no_retry_codes(self):
        from airflow.exceptions import AirflowFailException

        for code in (64, 65, 78):
            _, _, err = self.run_op(code, "ir_hash mismatch")
            self.assertIsInstance(err, AirflowFailException)
            self.assertIn("ir_hash mismatch", str(err))

    def test_retry_codes(self):
        from airflow.exceptions import AirflowException, AirflowFailException

        for code in (1, 75):
            _, _, err = self.run_op(code, "broker down")
            self.assertIsInstance(err, AirflowException)
            self.assertNotIsInstance(err, AirflowFailException)
            self.assertIn("broker down", str(err))

    def test_templated_fields(self):
        from aiflow_sdk.airflow import AiflowLocalOperator

        self.assertEqual(AiflowLocalOperator.template_fields, ("arguments", "env_vars"))


def remote_pod(phase: str, exit_code: int | None):
    terminated = None if exit_code is None else types.SimpleNamespace(exit_code=exit_code, message="reason")
    cs = types.SimpleNamespace(name="base", state=types.SimpleNamespace(terminated=terminated))
    return types.SimpleNamespace(
        status=types.SimpleNamespace(phase=phase, container_statuses=[cs]),
        metadata=types.SimpleNamespace(name="p-1", namespace="default", annotations={}, labels={}),
        spec=types.SimpleNamespace(containers=[]),
    )


@unittest.skipUnless(HAVE_K8S_PROVIDER, "the cncf.kubernetes provider is not installed")
class PodOperatorTest(unittest.TestCase):
    def cleanup(self, phase, code):
        from aiflow_sdk.airflow import AiflowPodOperator

        op = AiflowPodOperator(task_id="n", image="aiflow-runner:dev", cmds=["aiflow-runner"])
        rp = remote_pod(phase, code)
        with mock.patch.multiple(
            op,
            patch_already_checked=mock.DEFAULT,
            process_pod_deletion=mock.DEFAULT,
            is_istio_enabled=mock.Mock(return_value=False),
        ), mock.patch(
            "airflow.providers.cncf.kubernetes.operators.pod.get_container_termination_message",
            return_value="runner said why",
        ):
            try:
                op.cleanup(pod=rp, remote_pod=rp)
            except Exception as e:  # noqa: BLE001
                return e
        return None

    def test_is_a_kpo(self):
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

        from aiflow_sdk.airflow import AiflowPodOperator

        self.assertTrue(issubclass(AiflowPodOperator, KubernetesPodOperator))
        self.assertEqual(AiflowPodOperator.__module__, "aiflow_sdk.airflow")
        self.assertEqual(AiflowPodOperator.template_ext, ())

    def test_success(self):
        self.assertIsNone(self.cleanup("Succeeded", 0))

    def test_no_retry_codes(self):
        from airflow.exceptions import AirflowFailException

        for code in (64, 65, 78):
            err = self.cleanup("Failed", code)
            self.assertIsInstance(err, AirflowFailException, code)
            self.assertIn("runner said why", str(err))

    def test_retry_codes(self):
        from airflow.exceptions import AirflowException, AirflowFailException

        for code in (1, 75, None):
            err = self.cleanup("Failed", code)
            self.assertIsInstance(err, AirflowException, code)
            self.assertNotIsInstance(err, AirflowFailException, code)


if __name__ == "__main__":
    unittest.main()
