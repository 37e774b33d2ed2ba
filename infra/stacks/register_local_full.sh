#!/usr/bin/env bash
# The local "full" stack (S3 on an S3-compatible endpoint + MLflow on SQLite); see infra/stacks/register.py.
#   moto_server -H 127.0.0.1 -p 5055 &
#   S3_ENDPOINT_URL=http://127.0.0.1:5055 S3_BUCKET=gotr1 AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x \
#     MLFLOW_TRACKING_URI=sqlite:///$PWD/.gotr1/mlflow.db bash infra/stacks/register_local_full.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${PYTHON:-.venv/bin/python}" -m infra.stacks.register local-full "$@"
