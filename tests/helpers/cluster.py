"""The cluster stack of ``infra/stacks/register.py`` in a temporary ZenML store, with only its remote boundaries
replaced, for tests that submit pipelines to a cluster orchestrator offline.

- S3 is moto's server on loopback (ZenML uploads the code archive and logs there);
- the container engine (docker tag/build/push) records what ZenML asks for, and a push answers a fixed digest;
- ``Stack.requires_remote_server`` is False: ZenML refuses remote orchestrators on a local SQLite store because
  the pods could not reach it, and no pod runs here.

The orchestrator's own API (KFP, Kubernetes) is the calling test's to fake.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.s3 import loopback_s3
from tests.helpers.zenml_store import fresh_zenml_store

REGISTRY = "registry.gotr1.test/ml"
DIGEST = "sha256:" + "5e" * 32
# ZenML's name for the run image: <registry>/<repository>:<pipeline>-<build key>; a push answers DIGEST
PUSHED = f"{REGISTRY}/zenml:training_pipeline-orchestrator"
RUN_IMAGE = f"{REGISTRY}/zenml@{DIGEST}"
STACK = "gotr1-cluster"


@dataclass
class Images:
    """What ZenML asked the container engine for."""

    tags: list[tuple[str, str]] = field(default_factory=list)
    builds: list[str] = field(default_factory=list)
    pushes: list[str] = field(default_factory=list)


@dataclass
class Records:
    """ZenML's records of a submission: schedules, build images, snapshots (id -> its schedule's id)."""

    orchestrator_id: str
    schedules: list[dict[str, Any]]
    build_images: dict[str, str]
    snapshots: dict[str, str | None]


def recording_engine(images: Images) -> Any:
    from zenml.container_engines.base import ContainerEngine
    from zenml.enums import ContainerEngineType

    class RecordingEngine(ContainerEngine):
        """Docker as far as ZenML can tell: tags, builds and pushes are recorded; a push answers ``DIGEST``."""

        @property
        def engine_type(self) -> ContainerEngineType:
            return ContainerEngineType.DOCKER

        def check_availability(self) -> tuple[bool, str | None]:
            return True, None

        def login(self, username: str, password: str, registry: str) -> None:
            raise AssertionError("the stack's registry has no credentials")

        def build(
            self, image_name: str, build_context: Any, docker_build_options: Any = None, **_: Any
        ) -> None:
            images.builds.append(image_name)

        def tag_image(self, source: str, target: str) -> None:
            images.tags.append((source, target))

        def push_image(self, image_name: str, container_registry: Any = None) -> str:
            images.pushes.append(image_name)
            return f"{image_name.rsplit(':', 1)[0]}@{DIGEST}"

        def is_image_local(self, image_name: str) -> bool:
            return False

        def get_image_repo_digest(self, image_name: str, container_registry: Any = None) -> str | None:
            return None

    return RecordingEngine()


@contextmanager
def cluster_stack(
    root: Path,
    patch: pytest.MonkeyPatch,
    orchestrator: str,
    bucket: str,
    env: Mapping[str, str],
    judge_key: str,
) -> Iterator[Images]:
    """A fresh ZenML store in ``root`` whose active stack is ``register_cluster(orchestrator, env)`` (with
    ``S3_BUCKET=bucket`` and ``S3_ENDPOINT_URL`` on a loopback moto server, the bucket created), the secret
    ``gotr1_judge`` holding ``judge_key``, and the recording container engine; yields what the engine records."""
    import zenml.image_builders.local_image_builder as local_image_builder
    import zenml.utils.pipeline_docker_image_builder as pipeline_docker_image_builder
    from zenml.client import Client
    from zenml.stack import Stack

    from infra.stacks.register import ensure_bucket, register_cluster

    images = Images()
    with loopback_s3(patch) as endpoint, fresh_zenml_store(root):
        ensure_bucket(endpoint, bucket)
        full_env = {**env, "S3_BUCKET": bucket, "S3_ENDPOINT_URL": endpoint, "REGISTRY_URI": REGISTRY}
        assert register_cluster(orchestrator, env=full_env, activate=True) == STACK
        Client().create_secret("gotr1_judge", values={"GOTR1_JUDGE_API_KEY": judge_key})

        engine = recording_engine(images)
        for module in (local_image_builder, pipeline_docker_image_builder):
            patch.setattr(module, "get_container_engine", lambda *_, **__: engine)
        patch.setattr(Stack, "requires_remote_server", property(lambda self: False))
        yield images


def zenml_records(orchestrator_name: str) -> Records:
    """ZenML's schedules, build images and snapshots in the active store."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    orchestrator_id = str(client.get_stack_component(StackComponentType.ORCHESTRATOR, orchestrator_name).id)
    return Records(
        orchestrator_id=orchestrator_id,
        schedules=[
            {
                "id": str(s.id),
                "cron": s.cron_expression,
                "active": s.active,
                "orchestrator": str(s.orchestrator_id),
            }
            for s in client.list_schedules(size=50).items
        ],
        build_images={
            key: item.image
            for build in client.list_builds(size=50).items
            for key, item in build.images.items()
        },
        snapshots={
            str(s.id): str(s.schedule.id) if s.schedule else None
            for s in client.list_snapshots(named_only=False, hydrate=True, size=50).items
        },
    )
