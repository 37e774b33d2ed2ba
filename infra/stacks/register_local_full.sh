#!/usr/bin/env bash
# A local "full" stack: MLflow experiment tracker + model registry on SQLite, S3 artifact store on an
# S3-compatible endpoint (e.g. `moto_server -H 127.0.0.1 -p 5055`). Credentials come from the environment.
#   S3_ENDPOINT_URL=http://127.0.0.1:5055 S3_BUCKET=gotr1 MLFLOW_TRACKING_URI=sqlite:///$PWD/.gotr1/mlflow.db \
#     bash infra/stacks/register_local_full.sh
set -euo pipefail
: "${S3_ENDPOINT_URL:?set S3_ENDPOINT_URL}" "${S3_BUCKET:?set S3_BUCKET}" "${MLFLOW_TRACKING_URI:?set MLFLOW_TRACKING_URI}"
zenml artifact-store register gotr1-s3 --flavor=s3 --path="s3://${S3_BUCKET}/zenml" \
  --client_kwargs="{\"endpoint_url\": \"${S3_ENDPOINT_URL}\"}"
zenml experiment-tracker register gotr1-mlflow --flavor=mlflow --tracking_uri="${MLFLOW_TRACKING_URI}" \
  --tracking_username=unused --tracking_password=unused
zenml model-registry register gotr1-mlflow-registry --flavor=mlflow
zenml stack register gotr1-local-full -o default -a gotr1-s3 -e gotr1-mlflow -r gotr1-mlflow-registry --set
