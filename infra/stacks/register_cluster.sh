#!/usr/bin/env bash
# The cluster stack from environment variables (no secrets in files); see infra/stacks/register.py.
#   S3_BUCKET=... MLFLOW_URI=https://mlflow.example MLFLOW_TOKEN=... REGISTRY_URI=ghcr.io/org \
#     KFP_HOST=https://kubeflow.example/pipeline bash infra/stacks/register_cluster.sh --orchestrator kubeflow
#   ... KUBE_CONTEXT=gpu-cluster bash infra/stacks/register_cluster.sh --orchestrator kubernetes
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${PYTHON:-.venv/bin/python}" -m infra.stacks.register cluster "$@"
