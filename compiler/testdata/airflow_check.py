"""Check generated DAG files with the real Airflow 3 and cncf.kubernetes provider.

    python airflow_check.py RESULT.json DAG_FOLDER...

Loads each folder with DagBag (import errors must be none) and, for every task, renders its
templates with a fixed context of a run that has no logical date (a manual run: Airflow 3 gives
it only run_after), then:

* KubernetesPodOperator tasks: the pod from the provider's own build_pod_request_obj() (Kubernetes
  hook patched, no cluster), serialised with ApiClient().sanitize_for_serialization;
* local tasks: the command line, environment and working directory the operator would run.

The IR blob in each task's environment is decoded and checked against the task's --ir-hash, then
replaced by a marker so the golden files stay readable. Besides, a few renderings show the
template expressions work both ways: with and without a logical date, with and without the
OpenLineage provider's macros. Output is JSON with sorted keys (compared with goldens by the Go
test compiler/airflow_test.go).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import logging
import os
import sys
import types
import warnings
from unittest import mock

RUN_ID = "manual__2026-01-02T03:04:05+00:00"
RUN_AFTER = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
LOGICAL_DATE = dt.datetime(2026, 1, 1, 3, 0, tzinfo=dt.timezone.utc)


def load_dagbag(folder):
    try:
        from airflow.dag_processing.dagbag import DagBag  # newer Airflow 3
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 3.0/3.1
    return DagBag(folder, include_examples=False)


def dag_params(dag, conf=None):
    """The params a run sees: the DAG's Param defaults, overridden by dag_run.conf, validated."""
    import copy

    params = copy.deepcopy(dag.params)
    params.update(conf or {})  # what process_params does with dag_run.conf
    return params.validate()


def context_for(dag, task, logical_date=None, macros=None, conf=None):
    from airflow.sdk.execution_time import macros as af_macros

    ti = types.SimpleNamespace(
        dag_id=dag.dag_id, task_id=task.task_id, try_number=1, max_tries=task.retries,
        map_index=-1, run_id=RUN_ID,
    )
    dag_run = types.SimpleNamespace(
        dag_id=dag.dag_id, run_id=RUN_ID, logical_date=logical_date, run_after=RUN_AFTER,
        conf=conf or {}, run_type="manual",
    )
    return {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "run_id": RUN_ID,
        "dag_run": dag_run,
        "macros": macros if macros is not None else af_macros,
        "params": dag_params(dag, conf),
        "var": {},
        "conn": None,
    }


def check_ir(env: dict, args: list) -> str:
    """Decode AIFLOW_IR_B64 and compare its sha256 with --ir-hash."""
    blob = env.get("AIFLOW_IR_B64")
    if not blob:
        return "missing"
    canon = gzip.decompress(base64.b64decode(blob, validate=True))
    json.loads(canon)
    want = args[args.index("--ir-hash") + 1]
    got = hashlib.sha256(canon).hexdigest()
    return "ok" if got == want else f"MISMATCH {got} != {want}"


def env_dict(env_list) -> dict:
    return {e["name"]: e.get("value") for e in env_list if "value" in e}


def pod_of(dag, task):
    from kubernetes.client import ApiClient

    task.render_template_fields(context_for(dag, task))
    with mock.patch("airflow.providers.cncf.kubernetes.operators.pod.KubernetesHook") as hook:
        hook.return_value.is_in_cluster = False
        pod = task.build_pod_request_obj(context_for(dag, task))
    pod = ApiClient().sanitize_for_serialization(pod)
    md = pod["metadata"]
    # The name gets a random suffix; the airflow_version label depends on the install.
    prefix, _, _ = md["name"].rpartition("-")
    md["name"] = prefix + "-<random>"
    md["labels"]["airflow_version"] = "<airflow_version>"
    container = pod["spec"]["containers"][0]
    env = container.get("env", [])
    result = check_ir(env_dict(env), container["args"])
    for e in env:
        if e["name"] == "AIFLOW_IR_B64":
            e["value"] = f"<IR blob: {result}>"
    return pod, result


def local_of(dag, task):
    task.render_template_fields(context_for(dag, task))
    env = dict(task.env_vars)
    result = check_ir(env, task.arguments)
    env["AIFLOW_IR_B64"] = f"<IR blob: {result}>"
    return {
        "runner": task.runner,
        "arguments": list(task.arguments),
        "env_vars": env,
        "cwd": task.cwd,
    }, result


def render_checks(dag, task):
    """Render the logical date and OpenLineage expressions in the four interesting situations."""
    args = list(task.arguments)
    env = dict(task.env_vars) if isinstance(task.env_vars, dict) else {}
    out = {}
    # A streaming pipeline's deploy and health tasks take no logical date.
    if "--logical-date" in args:
        i = args.index("--logical-date") + 1
        for name, ld in (("no_logical_date", None), ("logical_date", LOGICAL_DATE)):
            out[f"logical_date_arg[{name}]"] = task.render_template(args[i], context_for(dag, task, ld), set())
    from airflow.sdk.execution_time import macros as af_macros

    fake = types.ModuleType("fake_macros")
    fake.__dict__.update(af_macros.__dict__)
    fake.OpenLineageProviderPlugin = types.SimpleNamespace(
        lineage_parent_id=lambda ti: f"default/{ti.dag_id}.{ti.task_id}/parent-run-id",
        lineage_root_parent_id=lambda ti: f"default/{ti.dag_id}/root-run-id",
    )
    # Pipeline params: the --param values with the defaults and with a trigger's dag_run.conf.
    conf = {"region": "us-west", "min_amount": 7, "ratio": 1.25, "dry_run": True, "note": "n"}
    for name, c in (("defaults", None), ("conf", {k: v for k, v in conf.items() if k in dag.params})):
        vals = [args[j + 1] for j in range(len(args) - 1) if args[j] == "--param"]
        if vals:
            ctx = context_for(dag, task, None, None, c)
            out[f"params[{name}]"] = "|".join(task.render_template(v, ctx, set()) for v in vals)
    for name, macros in (("without_openlineage", af_macros), ("with_openlineage", fake)):
        for key in ("OPENLINEAGE_PARENT_ID", "OPENLINEAGE_ROOT_PARENT_ID"):
            out[f"{key}[{name}]"] = task.render_template(
                env.get(key, ""), context_for(dag, task, None, macros), set()
            )
    return out


def describe_dag(dag):
    d = {
        "schedule": None if dag.timetable is None else dag.timetable.summary,
        "timetable": type(dag.timetable).__name__,
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "catchup": dag.catchup,
        "dagrun_timeout": str(dag.dagrun_timeout) if dag.dagrun_timeout else None,
        "description": dag.description,
        "params": {k: dag.params.get_param(k).dump() for k in sorted(dag.params)},
        "max_active_runs": dag.max_active_runs,
        "tags": sorted(dag.tags),
        "owner": dag.owner,
        "doc_md_lines": len((dag.doc_md or "").splitlines()),
        "tasks": {},
    }
    for task in sorted(dag.tasks, key=lambda t: t.task_id):
        t = {
            "operator": f"{type(task).__module__}.{type(task).__name__}",
            "upstream": sorted(task.upstream_task_ids),
            "retries": task.retries,
            "retry_delay": str(task.retry_delay),
            "execution_timeout": str(task.execution_timeout),
            "inlets": [a.uri for a in task.inlets],
            "outlets": [a.uri for a in task.outlets],
        }
        checks = render_checks(dag, task)
        if hasattr(task, "build_pod_request_obj"):
            t["pod"], t["ir"] = pod_of(dag, task)
        else:
            t["local"], t["ir"] = local_of(dag, task)
        t["render_checks"] = checks
        d["tasks"][task.task_id] = t
    return d


def check_folder(folder):
    bag = load_dagbag(folder)
    return {
        "import_errors": {os.path.basename(k): v for k, v in bag.import_errors.items()},
        "dags": {dag_id: describe_dag(bag.dags[dag_id]) for dag_id in sorted(bag.dags)},
    }


def main():
    out, folders = sys.argv[1], sys.argv[2:]
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    result = {os.path.basename(os.path.normpath(f)): check_folder(f) for f in folders}
    # Airflow logs to stdout, so the result goes to a file.
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True, default=str, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
