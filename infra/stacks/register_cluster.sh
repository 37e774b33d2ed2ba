#!/usr/bin/env bash
# The cluster stack: Kubeflow orchestrator, S3 artifact store, MLflow server, container registry.
# Everything comes from the environment (no secrets in files); the MLflow password is a ZenML secret.
#   KUBE_CONTEXT=... KFP_HOST=... S3_BUCKET=... MLFLOW_URI=... REGISTRY_URI=... bash infra/stacks/register_cluster.sh
set -euo pipefail
: "${KUBE_CONTEXT:?}" "${S3_BUCKET:?}" "${MLFLOW_URI:?}" "${REGISTRY_URI:?}"
zenml secret create mlflow_secret --username="${MLFLOW_USERNAME:?}" --password="${MLFLOW_PASSWORD:?}" || true
zenml orchestrator register gotr1-kubeflow --flavor=kubeflow --kubernetes_context="${KUBE_CONTEXT}" \
  ${KFP_HOST:+--kubeflow_hostname="${KFP_HOST}"}
zenml artifact-store register gotr1-s3-cluster --flavor=s3 --path="s3://${S3_BUCKET}/zenml"
zenml experiment-tracker register gotr1-mlflow-server --flavor=mlflow --tracking_uri="${MLFLOW_URI}" \
  --tracking_username='{{mlflow_secret.username}}' --tracking_password='{{mlflow_secret.password}}'
zenml model-registry register gotr1-mlflow-server-registry --flavor=mlflow
zenml container-registry register gotr1-registry --flavor=default --uri="${REGISTRY_URI}"
zenml stack register gotr1-cluster -o gotr1-kubeflow -a gotr1-s3-cluster -e gotr1-mlflow-server \
  -r gotr1-mlflow-server-registry -c gotr1-registry
