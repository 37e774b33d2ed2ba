"""ZenML's Kubernetes orchestrator schedules ``training_pipeline`` + ``training_kubernetes.yaml`` as a CronJob, and
its orchestrator pod starts one Job a step with the config's pod settings, offline.

The submission takes ZenML's own path, ``training_pipeline.with_options(config_path=...)()``, on the cluster stack
that ``infra/stacks/register.py`` defines with ``--orchestrator kubernetes`` (S3 artifact store, MLflow server,
container registry, local image builder) in a temporary ZenML store. Then the CronJob fires once: the program of
its pod (``kubernetes_orchestrator_entrypoint``, with the pod's arguments and environment) runs in-process, as it
would in the cluster, and creates the step Jobs. Only the remote boundaries are replaced:

- the container engine and S3, as in ``tests/helpers/cluster.py``;
- the Kubernetes API: ``kubernetes.client.CoreV1Api``/``BatchV1Api``/``RbacAuthorizationV1Api`` are an in-memory
  API server that keeps every object ZenML creates as the JSON the real client would send
  (``ApiClient.sanitize_for_serialization``), plays the CronJob controller (one Job and its pod, the pod's
  hostname) and reports every step Job complete at once; it has no other API method;
- the kube config is a real file (context ``fake-context``, a server that is never contacted): ZenML's stack
  validation and ``load_kube_config`` read it as they would ``~/.kube/config``;
- the orchestrator pod's DAG runner polls the step Jobs every 50 ms instead of every 3 s.

Config parsing, ZenML's compiler (settings merged pipeline -> step), the image plan,
``KubernetesOrchestrator.submit_pipeline``, the orchestrator pod's program and ZenML's manifest builders
(``build_pod_manifest``, ``build_job_manifest``, ``build_cron_job_manifest``) are the real code. No step runs, so
the orchestrator pod logs "Failed to populate step run request" for each step after the first (its cache lookup
finds no upstream step runs) and starts the Job anyway, as it would on a cache miss.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.cluster import PUSHED, RUN_IMAGE, Images, Records, cluster_stack, zenml_records

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "pipelines" / "configs" / "training_kubernetes.yaml"
WORK_VOLUME = ROOT / "infra" / "k8s" / "work-volume.yaml"
NAMESPACE = "gotr1"
JUDGE_KEY = "judge-key-that-must-stay-out-of-the-cluster"
MLFLOW_TOKEN = "mlflow-token-that-must-stay-out-of-the-cluster"
ORCHESTRATOR_MODULE = "zenml.integrations.kubernetes.orchestrators.kubernetes_orchestrator_entrypoint"
STEP_COMMAND = ["python", "-m", "zenml.entrypoints.entrypoint"]
GPU = "nvidia.com/gpu"

# training_pipeline at full scale (config.policy.kind janus_pro: train_sft is skipped) and what each step waits for.
UPSTREAM = {
    "fingerprint_sources": set(),
    "load_sources": {"fingerprint_sources"},
    "validate_data": {"load_sources"},
    "curate_data": {"validate_data", "load_sources"},
    "train_grpo": {"curate_data"},
    "evaluate": {"train_grpo", "load_sources"},
    "gate": {"evaluate"},
    "register": {"train_grpo", "evaluate", "gate", "curate_data"},
}
GPUS = {"train_grpo": "8", "evaluate": "1"}
GPU_TOLERATION = {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}
WORK_PVC = {"name": "gotr1-work", "persistentVolumeClaim": {"claimName": "gotr1-work"}}
WORK_MOUNT = {"name": "gotr1-work", "mountPath": "/work"}

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster: {server: "https://kubernetes.gotr1.invalid:6443"}
users:
  - name: fake
    user: {token: not-a-real-token}
contexts:
  - name: fake-context
    context: {cluster: fake, user: fake, namespace: gotr1}
current-context: fake-context
"""


@dataclass
class Cluster:
    """An in-memory Kubernetes API server: every object created, as the JSON body the API would receive."""

    created: list[dict[str, Any]] = field(default_factory=list)
    cron_jobs: dict[str, Any] = field(default_factory=dict)  # name -> V1CronJob
    jobs: dict[str, Any] = field(default_factory=dict)  # name -> V1Job (what a read answers)
    pods: dict[str, Any] = field(default_factory=dict)  # name -> V1Pod
    patches: list[dict[str, Any]] = field(default_factory=list)

    def create(self, kind: str, namespace: str, body: Any) -> None:
        from kubernetes.client import ApiClient

        document = ApiClient().sanitize_for_serialization(body)
        self.created.append({"kind": kind, "namespace": namespace, "body": document})

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj["body"] for obj in self.created if obj["kind"] == kind]

    def fire(self, cron_job: Any) -> str:
        """What the CronJob controller does at 02:00 on Sunday: a Job from the template and its pod; the pod's
        name (its hostname)."""
        from kubernetes import client as k8s

        template = cron_job.spec.job_template
        job_name = f"{cron_job.metadata.name}-29000000"
        self.jobs[job_name] = k8s.V1Job(
            metadata=k8s.V1ObjectMeta(
                name=job_name,
                uid="uid-orchestrator-job",
                labels=dict(template.metadata.labels or {}),
                annotations=dict(template.metadata.annotations or {}),
            ),
            spec=template.spec,
            status=k8s.V1JobStatus(active=1),
        )
        pod_name = f"{job_name}-x7k2p"
        self.pods[pod_name] = k8s.V1Pod(
            metadata=k8s.V1ObjectMeta(
                name=pod_name,
                labels={**(template.spec.template.metadata.labels or {}), "job-name": job_name},
                owner_references=[
                    k8s.V1OwnerReference(
                        api_version="batch/v1",
                        kind="Job",
                        name=job_name,
                        uid="uid-orchestrator-job",
                        controller=True,
                    )
                ],
            ),
            spec=template.spec.template.spec,
        )
        return pod_name


def _fake_kubernetes_api(cluster: Cluster) -> dict[str, type]:
    from kubernetes import client as k8s
    from kubernetes.client.rest import ApiException

    class CoreV1Api:
        def __init__(self, api_client: Any = None) -> None:
            pass

        def create_namespaced_secret(self, namespace: str, body: Any, **_: Any) -> Any:
            cluster.create("Secret", namespace, body)
            return body

        def create_namespaced_service_account(self, namespace: str, body: Any, **_: Any) -> Any:
            cluster.create("ServiceAccount", namespace, body)
            return body

        def read_namespaced_pod(self, name: str, namespace: str, **_: Any) -> Any:
            if name not in cluster.pods:
                raise ApiException(status=404, reason="Not Found")
            return cluster.pods[name]

        def list_namespaced_pod(self, namespace: str, **_: Any) -> Any:
            return k8s.V1PodList(items=[])

    class BatchV1Api:
        def __init__(self, api_client: Any = None) -> None:
            pass

        def create_namespaced_cron_job(self, namespace: str, body: Any, **_: Any) -> Any:
            cluster.create("CronJob", namespace, body)
            cluster.cron_jobs[body.metadata.name] = body
            return body

        def create_namespaced_job(self, namespace: str, body: Any, **_: Any) -> Any:
            cluster.create("Job", namespace, body)
            # the step's pod runs and succeeds at once
            body.status = k8s.V1JobStatus(
                succeeded=1, conditions=[k8s.V1JobCondition(type="Complete", status="True")]
            )
            cluster.jobs[body.metadata.name] = body
            return body

        def read_namespaced_job(self, name: str, namespace: str, **_: Any) -> Any:
            if name not in cluster.jobs:
                raise ApiException(status=404, reason="Not Found")
            return cluster.jobs[name]

        def patch_namespaced_job(self, name: str, namespace: str, body: dict[str, Any], **_: Any) -> Any:
            cluster.patches.append({"name": name, "namespace": namespace, "body": body})
            job = cluster.jobs[name]
            job.metadata.annotations = {
                **(job.metadata.annotations or {}),
                **body.get("metadata", {}).get("annotations", {}),
            }
            return job

    class RbacAuthorizationV1Api:
        def __init__(self, api_client: Any = None) -> None:
            pass

        def create_namespaced_role_binding(self, namespace: str, body: Any, **_: Any) -> Any:
            cluster.create("RoleBinding", namespace, body)
            return body

    return {
        "CoreV1Api": CoreV1Api,
        "BatchV1Api": BatchV1Api,
        "RbacAuthorizationV1Api": RbacAuthorizationV1Api,
    }


@dataclass
class Run:
    images: Images
    records: Records
    cluster: Cluster
    submitted: list[dict[str, Any]]  # what the submission created (the CronJob fires afterwards)
    settings: dict[str, Any]  # step -> KubernetesOrchestratorSettings that ZenML resolves from the snapshot
    secret_env: dict[
        str, dict[str, str]
    ]  # step -> the secret env ZenML resolves in the step's pod at run time
    parameters: dict[str, dict[str, Any]]  # step -> its parameters in the snapshot


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """Submit ``training_pipeline`` with ``training_kubernetes.yaml``, then fire its CronJob once."""
    import kubernetes.client
    import kubernetes.config.kube_config as kube_config
    from zenml.client import Client
    from zenml.integrations.kubernetes.orchestrators import kubernetes_orchestrator_entrypoint as entrypoint
    from zenml.orchestrators.dag_runner import DagRunner
    from zenml.utils.env_utils import get_runtime_secret_environment

    from pipelines import training_pipeline

    root = tmp_path_factory.mktemp("kubernetes")
    (root / "kubeconfig").write_text(KUBECONFIG)
    cluster = Cluster()
    env = {
        "KUBE_CONTEXT": "fake-context",
        "MLFLOW_URI": "http://mlflow.invalid",
        "MLFLOW_TOKEN": MLFLOW_TOKEN,
    }
    with (
        pytest.MonkeyPatch.context() as patch,
        cluster_stack(root, patch, "kubernetes", "gotr1-k8s", env, JUDGE_KEY) as images,
    ):
        patch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(root / "kubeconfig"))
        # load_kube_config sets the client's default configuration: restored afterwards
        patch.setattr(kubernetes.client.Configuration, "_default", kubernetes.client.Configuration._default)
        for name, fake in _fake_kubernetes_api(cluster).items():
            patch.setattr(kubernetes.client, name, fake)

        assert training_pipeline.with_options(config_path=str(CONFIG))() is None  # scheduled: no run now
        submitted = list(cluster.created)
        records = zenml_records("gotr1-kubernetes")

        # The CronJob fires: its pod runs ZenML's orchestrator program with the pod's command, args and env.
        assert len(cluster.cron_jobs) == 1, [obj["kind"] for obj in cluster.created]
        (cron_job,) = cluster.cron_jobs.values()
        pod_name = cluster.fire(cron_job)
        container = cron_job.spec.job_template.spec.template.spec.containers[0]
        assert container.command == ["python", "-m", ORCHESTRATOR_MODULE], container.command
        for var in container.env or []:
            patch.setenv(var.name, var.value)
        patch.setattr(sys, "argv", [ORCHESTRATOR_MODULE, *container.args])
        patch.setattr(entrypoint, "socket", types.SimpleNamespace(gethostname=lambda: pod_name))

        class PromptDagRunner(DagRunner):
            """ZenML's DAG runner, polling the (instantly complete) step Jobs every 50 ms instead of every 3 s."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **{**kwargs, "monitoring_interval": 0.05})

        patch.setattr(entrypoint, "DagRunner", PromptDagRunner)
        entrypoint.main()

        client = Client()
        assert len(records.snapshots) == 1, records.snapshots
        snapshot = client.get_snapshot(next(iter(records.snapshots)))
        stack = client.active_stack
        steps = snapshot.step_configurations
        yield Run(
            images=images,
            records=records,
            cluster=cluster,
            submitted=submitted,
            settings={
                step: stack.orchestrator.get_settings(configuration) for step, configuration in steps.items()
            },
            secret_env={step: get_runtime_secret_environment(c.config, stack) for step, c in steps.items()},
            parameters={step: dict(c.config.parameters) for step, c in steps.items()},
        )


def _config() -> dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text())


def _step_jobs(run: Run) -> dict[str, dict[str, Any]]:
    """The Jobs the orchestrator pod created, by step (the ``zenml.io/step-name`` annotation), in order."""
    jobs = {}
    for job in run.cluster.of_kind("Job"):
        step = job["metadata"]["annotations"]["zenml.io/step-name"]
        assert step not in jobs, f"two Jobs for {step}"
        jobs[step] = job
    return jobs


def _pod(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]


def _container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = _pod(job)["containers"]
    return container


def _cron_job(run: Run) -> dict[str, Any]:
    (cron_job,) = [obj["body"] for obj in run.submitted if obj["kind"] == "CronJob"]
    return cron_job


def _options(args: list[str]) -> dict[str, str]:
    return dict(zip(args[::2], args[1::2], strict=True))


def test_the_run_image_is_the_training_image_pushed_to_the_stacks_registry(run: Run) -> None:
    """ZenML adds nothing to gotr1-train (no stack requirements, code comes from the artifact store): it tags the
    parent image into the stack's registry, pushes it, and records the pushed digest as the run's image."""
    assert run.images.tags == [("gotr1-train:latest", PUSHED)]
    assert run.images.pushes == [PUSHED]
    assert run.images.builds == []  # no Dockerfile build on top of the training image
    assert run.records.build_images == {"orchestrator": RUN_IMAGE}


def test_zenml_schedules_the_run_weekly_on_the_kubernetes_orchestrator(run: Run) -> None:
    (schedule_id,) = run.records.snapshots.values()
    assert run.records.schedules == [
        {"id": schedule_id, "cron": "0 2 * * 0", "active": True, "orchestrator": run.records.orchestrator_id}
    ]


def test_the_submission_creates_a_weekly_cronjob_and_runs_nothing_now(run: Run) -> None:
    """A CronJob in the stack's namespace, and no Job: the run starts on Sunday at 02:00, not at submission."""
    kinds = [obj["kind"] for obj in run.submitted]
    assert kinds.count("CronJob") == 1 and "Job" not in kinds, kinds
    assert {obj["namespace"] for obj in run.submitted} == {NAMESPACE}
    cron_job = _cron_job(run)
    assert cron_job["spec"]["schedule"] == "0 2 * * 0"
    pod = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == RUN_IMAGE
    assert container["command"] == ["python", "-m", ORCHESTRATOR_MODULE]
    assert _options(container["args"]) == {"--snapshot_id": next(iter(run.records.snapshots))}
    # the orchestrator pod only starts step Jobs: no GPU, no GPU node, no work volume
    assert GPU not in json.dumps(pod)
    assert "nodeSelector" not in pod and "volumes" not in pod and not pod.get("hostIPC")


def test_the_orchestrator_pods_service_account_may_create_the_step_jobs(run: Run) -> None:
    """No ``service_account_name`` is configured: ZenML creates ``zenml-service-account`` bound to the ``edit``
    ClusterRole in the namespace (the submitting credentials need the right to create RoleBindings)."""
    pod = _cron_job(run)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (account,) = [obj["body"] for obj in run.submitted if obj["kind"] == "ServiceAccount"]
    (binding,) = [obj["body"] for obj in run.submitted if obj["kind"] == "RoleBinding"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert binding["roleRef"]["name"] == "edit"  # create/get/patch Jobs, read Pods


def test_the_cronjobs_pod_starts_one_job_per_step_in_dependency_order(run: Run) -> None:
    jobs = _step_jobs(run)
    assert "train_sft" not in jobs  # full scale: GRPO starts from the configured checkpoint
    assert set(jobs) == set(UPSTREAM)
    order = list(jobs)
    for step, upstream in UPSTREAM.items():
        assert all(order.index(before) < order.index(step) for before in upstream), (step, order)
    assert {obj["namespace"] for obj in run.cluster.created} == {NAMESPACE}


def test_every_step_pod_runs_the_pushed_image_with_zenmls_step_entrypoint(run: Run) -> None:
    snapshot_id = next(iter(run.records.snapshots))
    for step, job in _step_jobs(run).items():
        container = _container(job)
        assert container["image"] == RUN_IMAGE, step
        assert container["command"] == STEP_COMMAND, step
        options = _options(container["args"])
        assert options["--step_name"] == step
        assert options["--snapshot_id"] == snapshot_id


@pytest.mark.parametrize("step", sorted(GPUS))
def test_zenml_resolves_the_gpu_steps_pod_settings_from_the_config(run: Run, step: str) -> None:
    """The settings ZenML's compiler stored for the step: the step's pod settings over the pipeline's."""
    pod = run.settings[step].pod_settings
    assert pod.resources["limits"][GPU] == GPUS[step]
    assert pod.node_selectors == {"accelerator": "nvidia-h100"}
    assert pod.tolerations == [GPU_TOLERATION]
    assert pod.volumes == [WORK_PVC]
    assert pod.volume_mounts == [WORK_MOUNT]
    assert pod.host_ipc is (step == "train_grpo")  # NCCL's shared memory between the 8 processes


def test_cpu_steps_resolve_to_the_pipelines_pod_settings(run: Run) -> None:
    pipeline_pod = _config()["settings"]["orchestrator.kubernetes"]["pod_settings"]
    for step in set(UPSTREAM) - set(GPUS):
        pod = run.settings[step].pod_settings
        assert pod.resources == pipeline_pod["resources"], step
        assert (pod.volumes, pod.volume_mounts) == ([WORK_PVC], [WORK_MOUNT]), step
        assert (pod.node_selectors, pod.tolerations, pod.host_ipc) == ({}, [], False), step


@pytest.mark.parametrize("step", sorted(GPUS))
def test_gpu_step_pods_get_their_gpus_on_h100_nodes(run: Run, step: str) -> None:
    job = _step_jobs(run)[step]
    pod, resources = _pod(job), _container(job)["resources"]
    expected = _config()["steps"][step]["settings"]["orchestrator.kubernetes"]["pod_settings"]["resources"]
    assert resources == expected
    assert resources["limits"][GPU] == GPUS[step]
    assert pod["nodeSelector"] == {"accelerator": "nvidia-h100"}
    assert pod["tolerations"] == [GPU_TOLERATION]


def test_cpu_step_pods_get_no_gpu_and_no_gpu_node(run: Run) -> None:
    requests = _config()["settings"]["orchestrator.kubernetes"]["pod_settings"]["resources"]
    for step, job in _step_jobs(run).items():
        if step in GPUS:
            continue
        pod = _pod(job)
        assert _container(job)["resources"] == requests, step
        assert GPU not in json.dumps(pod), step
        assert "nodeSelector" not in pod and "tolerations" not in pod, step


def test_only_the_grpo_pod_shares_the_hosts_ipc_namespace(run: Run) -> None:
    """accelerate starts one process per GPU in the GRPO pod: NCCL needs the host's shared memory there, and no
    other step gets the privilege."""
    host_ipc = {step: _pod(job).get("hostIPC", False) for step, job in _step_jobs(run).items()}
    assert host_ipc == {step: step == "train_grpo" for step in UPSTREAM}


def test_grpo_launches_one_process_per_requested_gpu(run: Run) -> None:
    launch = run.parameters["train_grpo"]["launch"]
    limits = _container(_step_jobs(run)["train_grpo"])["resources"]["limits"]
    assert launch["num_processes"] == int(limits[GPU]) == 8
    accelerate = yaml.safe_load((ROOT / launch["config_file"]).read_text())
    assert accelerate["num_processes"] == launch["num_processes"]


def test_every_step_pod_mounts_the_work_volume_under_GOTR1_WORK_DIR(run: Run) -> None:
    """``GOTR1_WORK_DIR`` (the trainers' resumable work folders) lies on the ``gotr1-work`` claim in every step:
    otherwise a step writes into its container's throw-away filesystem."""
    claim = yaml.safe_load(WORK_VOLUME.read_text())["metadata"]["name"]
    work_dir = _config()["environment"]["GOTR1_WORK_DIR"]
    for step, job in _step_jobs(run).items():
        pod, container = _pod(job), _container(job)
        names = [volume["name"] for volume in pod["volumes"]]
        assert len(names) == len(set(names)), (step, names)  # Kubernetes rejects a pod with duplicate volumes
        by_name = {volume["name"]: volume for volume in pod["volumes"]}
        env = {var["name"]: var.get("value") for var in container["env"]}
        assert env["GOTR1_WORK_DIR"] == work_dir, step
        mounts = [m for m in container["volumeMounts"] if Path(work_dir).is_relative_to(m["mountPath"])]
        assert len(mounts) == 1, (step, container["volumeMounts"])
        assert by_name[mounts[0]["name"]]["persistentVolumeClaim"]["claimName"] == claim, step


def test_an_evicted_grpo_pod_is_replaced_not_failed(run: Run) -> None:
    """The resume story: a GRPO pod evicted or preempted (DisruptionTarget) does not count as a failure, so the
    Job starts a new pod, which resumes from the checkpoints on the work volume."""
    rules = _step_jobs(run)["train_grpo"]["spec"]["podFailurePolicy"]["rules"]
    ignored = [rule for rule in rules if rule["action"] == "Ignore"]
    assert any(c["type"] == "DisruptionTarget" for rule in ignored for c in rule.get("onPodConditions", []))


def test_a_crashed_grpo_pod_is_retried_and_other_steps_are_not(run: Run) -> None:
    """``retry: {max_retries: 2}`` on train_grpo: an OOM-killed or crashed pod is retried (and resumes from its
    checkpoint); the other steps fail fast."""
    jobs = _step_jobs(run)
    assert jobs["train_grpo"]["spec"]["backoffLimit"] >= 2
    assert all(job["spec"]["backoffLimit"] == 0 for name, job in jobs.items() if name != "train_grpo")


@pytest.mark.parametrize("step", sorted(GPUS))
def test_the_judges_key_reaches_the_step_only_at_run_time(run: Run, step: str) -> None:
    """The step's pod resolves the ``gotr1_judge`` secret from ZenML into the variable the judge reads."""
    key_env = _config()["parameters"]["config"]["judge"]["api_key_env"]
    assert run.secret_env[step].get(key_env) == JUDGE_KEY


def test_no_secret_value_reaches_the_cluster(run: Run) -> None:
    assert [obj for obj in run.cluster.created if obj["kind"] == "Secret"] == []
    created = json.dumps([run.cluster.created, run.cluster.patches])
    assert '"GOTR1_WORK_DIR"' in created  # the step pods' environment is in what was searched
    assert JUDGE_KEY not in created
    assert MLFLOW_TOKEN not in created
