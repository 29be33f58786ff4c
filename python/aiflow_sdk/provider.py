"""The Airflow provider entry point (``apache_airflow_provider`` in pyproject.toml): installed into
the Airflow environment, aiflow_sdk is listed by ``airflow providers list`` with its version and
its operators (the ones the DAGs that ``aiflow-runner compile`` writes use)."""

from __future__ import annotations

from typing import Any, Dict

from . import __version__


def get_provider_info() -> Dict[str, Any]:
    """What Airflow's ProvidersManager reads (airflow/provider_info.schema.json)."""
    return {
        "package-name": "aiflow-sdk",
        "name": "aiflow",
        "description": "Operators for the DAGs aiflow-runner compile generates: each task runs "
                       "aiflow-runner (a pod, or the binary on the worker) on one node of a pipeline.",
        "versions": [__version__],
        "operators": [{"integration-name": "aiflow", "python-modules": ["aiflow_sdk.airflow"]}],
    }
