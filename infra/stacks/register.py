"""ZenML stacks as code: the local stack, the local "full" stack (MLflow + S3 on loopback), the cluster stack.

    python -m infra.stacks.register local        # MLflow tracker + registry on SQLite, local artifact store
    python -m infra.stacks.register local-full   # + S3 artifact store on an S3-compatible server (moto on loopback)
    python -m infra.stacks.register cluster --orchestrator kubeflow     # or kubernetes

Run from the repository root (``zenml init`` done there). Every value comes from arguments or environment
variables; credentials are never written into a component's configuration: S3 credentials come from the
standard ``AWS_*`` variables (or the pod's IAM role) at run time, the MLflow server's credentials go into a ZenML
secret that the tracker references (``{{gotr1_mlflow.password}}``).

Environment of ``local-full``: ``S3_ENDPOINT_URL`` (e.g. ``http://127.0.0.1:5055`` from
``moto_server -H 127.0.0.1 -p 5055``), ``S3_BUCKET``, ``MLFLOW_TRACKING_URI`` (``sqlite:////abs/path/mlflow.db``),
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (any value for moto).

Environment of ``cluster``: ``S3_BUCKET``, ``MLFLOW_URI`` (the MLflow server), ``REGISTRY_URI`` (container
registry), ``KUBE_CONTEXT`` or ``K8S_INCLUSTER=true``, optional ``KFP_HOST`` (Kubeflow Pipelines API),
``K8S_NAMESPACE`` (default ``gotr1``), ``S3_ENDPOINT_URL`` (non-AWS S3), and the MLflow server's credentials:
``MLFLOW_TOKEN``, or ``MLFLOW_USERNAME`` and ``MLFLOW_PASSWORD``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ensure_bucket",
    "ensure_mlflow_experiments",
    "register_cluster",
    "register_local",
    "register_local_full",
]

MLFLOW_SECRET = "gotr1_mlflow"
EXPERIMENTS = ("gotr1", "gotr1-registry")  # the trainers' runs and the registry mirror's runs


def _component(name: str, kind: str, flavor: str, configuration: dict[str, Any]) -> str:
    """Create the stack component, or update its configuration when one of that name exists (idempotent)."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client, component_type = Client(), StackComponentType(kind)
    try:
        existing = client.get_stack_component(component_type, name)
    except KeyError:
        client.create_stack_component(name, flavor, component_type, configuration)
        return name
    if existing.flavor_name != flavor:
        raise ValueError(
            f"a {kind} named {name!r} exists with flavor {existing.flavor_name!r}, not {flavor!r}"
        )
    client.update_stack_component(name, component_type, configuration=configuration)
    return name


def _stack(name: str, components: Mapping[str, str], activate: bool) -> str:
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    by_type = {StackComponentType(k): v for k, v in components.items()}
    try:
        client.get_stack(name)
        client.update_stack(name, component_updates={k: [v] for k, v in by_type.items()})
    except KeyError:
        client.create_stack(name, components=by_type)
    if activate:
        client.activate_stack(name)
    return name


def _mlflow(name: str, tracking_uri: str, secret_keys: tuple[str, ...] = ()) -> None:
    """An MLflow tracker and registry; a remote server authenticates with values of the ZenML secret
    ``gotr1_mlflow`` (``secret_keys``: ``username`` + ``password``, or ``token``), referenced, never copied."""
    config: dict[str, Any] = {"tracking_uri": tracking_uri}
    config |= {f"tracking_{key}": f"{{{{{MLFLOW_SECRET}.{key}}}}}" for key in secret_keys}
    _component(name, "experiment_tracker", "mlflow", config)
    _component(f"{name}-registry", "model_registry", "mlflow", {})


def ensure_mlflow_experiments(tracking_uri: str, artifact_root: str) -> None:
    """Create gotr1's MLflow experiments with their artifacts under ``artifact_root`` (a folder or an
    ``s3://`` prefix); without this a SQLite-backed MLflow puts artifacts in ``./mlruns`` of whatever the
    current folder is. Existing experiments are left as they are."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri)
    for name in EXPERIMENTS:
        if client.get_experiment_by_name(name) is None:
            location = f"{artifact_root.rstrip('/')}/{name}"
            if "://" not in location:
                location = Path(location).resolve().as_uri()
            client.create_experiment(name, artifact_location=location)


def ensure_bucket(endpoint_url: str, bucket: str) -> None:
    """Create ``bucket`` on an S3-compatible server if it does not exist (the local full stack's moto)."""
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    )
    if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=bucket)


def register_local(mlflow_uri: str, name: str = "gotr1-local", activate: bool = True) -> str:
    """The local orchestrator and artifact store with an MLflow experiment tracker and model registry."""
    _mlflow("gotr1-mlflow", mlflow_uri)
    return _stack(
        name,
        {
            "orchestrator": "default",
            "artifact_store": "default",
            "experiment_tracker": "gotr1-mlflow",
            "model_registry": "gotr1-mlflow-registry",
        },
        activate,
    )


def register_local_full(
    s3_endpoint_url: str, bucket: str, mlflow_uri: str, name: str = "gotr1-local-full", activate: bool = True
) -> str:
    """The local orchestrator, an S3 artifact store on ``s3_endpoint_url`` (``s3://bucket/zenml``), MLflow
    tracking and registry on ``mlflow_uri`` with MLflow's artifacts in ``s3://bucket/mlflow``. The bucket is
    created if missing; MLflow reaches the endpoint through ``MLFLOW_S3_ENDPOINT_URL`` (set here)."""
    ensure_bucket(s3_endpoint_url, bucket)
    _component(
        "gotr1-s3",
        "artifact_store",
        "s3",
        {"path": f"s3://{bucket}/zenml", "client_kwargs": {"endpoint_url": s3_endpoint_url}},
    )
    _mlflow("gotr1-mlflow", mlflow_uri)
    os.environ["MLFLOW_S3_ENDPOINT_URL"] = s3_endpoint_url
    ensure_mlflow_experiments(mlflow_uri, f"s3://{bucket}/mlflow")
    return _stack(
        name,
        {
            "orchestrator": "default",
            "artifact_store": "gotr1-s3",
            "experiment_tracker": "gotr1-mlflow",
            "model_registry": "gotr1-mlflow-registry",
        },
        activate,
    )


def _require(env: Mapping[str, str], *names: str) -> list[str]:
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise ValueError(
            f"cluster stack: set the environment variable(s) {missing} (see infra/stacks/register.py)"
        )
    return [env[n] for n in names]


def register_cluster(
    orchestrator: str,
    env: Mapping[str, str] | None = None,
    name: str = "gotr1-cluster",
    activate: bool = False,
) -> str:
    """A Kubeflow or Kubernetes orchestrator, S3, an MLflow server (tracker and registry), a container registry
    and a local Docker image builder, all from ``env`` (default: the process environment)."""
    from zenml.client import Client

    env = os.environ if env is None else env
    if orchestrator not in ("kubeflow", "kubernetes"):
        raise ValueError(f"orchestrator must be 'kubeflow' or 'kubernetes', got {orchestrator!r}")
    bucket, mlflow_uri, registry = _require(env, "S3_BUCKET", "MLFLOW_URI", "REGISTRY_URI")
    incluster = env.get("K8S_INCLUSTER", "").lower() == "true"
    if (
        not incluster
        and not env.get("KUBE_CONTEXT")
        and not (orchestrator == "kubeflow" and env.get("KFP_HOST"))
    ):
        raise ValueError("cluster stack: set KUBE_CONTEXT, or K8S_INCLUSTER=true, or (Kubeflow) KFP_HOST")
    namespace = env.get("K8S_NAMESPACE", "gotr1")
    if orchestrator == "kubeflow":
        config: dict[str, Any] = {"kubeflow_hostname": env.get("KFP_HOST")} if env.get("KFP_HOST") else {}
        if env.get("KUBE_CONTEXT"):
            config["kubernetes_context"] = env["KUBE_CONTEXT"]
    else:
        config = {"kubernetes_namespace": namespace, "incluster": incluster}
        if env.get("KUBE_CONTEXT"):
            config["kubernetes_context"] = env["KUBE_CONTEXT"]
    _component(f"gotr1-{orchestrator}", "orchestrator", orchestrator, config)
    s3: dict[str, Any] = {"path": f"s3://{bucket}/zenml"}
    if env.get("S3_ENDPOINT_URL"):
        s3["client_kwargs"] = {"endpoint_url": env["S3_ENDPOINT_URL"]}
    _component("gotr1-s3-cluster", "artifact_store", "s3", s3)
    if env.get("MLFLOW_TOKEN"):
        values = {"token": env["MLFLOW_TOKEN"]}
    elif env.get("MLFLOW_USERNAME") and env.get("MLFLOW_PASSWORD"):
        values = {"username": env["MLFLOW_USERNAME"], "password": env["MLFLOW_PASSWORD"]}
    else:
        raise ValueError(
            "cluster stack: the MLflow server needs MLFLOW_TOKEN, or MLFLOW_USERNAME and MLFLOW_PASSWORD"
        )
    client = Client()
    try:
        client.update_secret(MLFLOW_SECRET, add_or_update_values=values)
    except KeyError:
        client.create_secret(MLFLOW_SECRET, values=values)
    _mlflow("gotr1-mlflow-server", mlflow_uri, tuple(values))
    _component("gotr1-registry", "container_registry", "default", {"uri": registry})
    _component("gotr1-docker", "image_builder", "local", {})
    return _stack(
        name,
        {
            "orchestrator": f"gotr1-{orchestrator}",
            "artifact_store": "gotr1-s3-cluster",
            "experiment_tracker": "gotr1-mlflow-server",
            "model_registry": "gotr1-mlflow-server-registry",
            "container_registry": "gotr1-registry",
            "image_builder": "gotr1-docker",
        },
        activate,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infra.stacks.register",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stack", choices=["local", "local-full", "cluster"])
    parser.add_argument("--orchestrator", choices=["kubeflow", "kubernetes"], default="kubeflow")
    parser.add_argument(
        "--no-activate", action="store_true", help="register without making it the active stack"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    activate = not args.no_activate
    if args.stack == "local":
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('.gotr1/mlflow.db').resolve()}"
        name = register_local(uri, activate=activate)
    elif args.stack == "local-full":
        endpoint, bucket, uri = _require(os.environ, "S3_ENDPOINT_URL", "S3_BUCKET", "MLFLOW_TRACKING_URI")
        name = register_local_full(endpoint, bucket, uri, activate=activate)
    else:
        name = register_cluster(args.orchestrator, activate=activate)
    print(f"registered stack {name}{' (active)' if activate else ''}")


if __name__ == "__main__":
    main()
