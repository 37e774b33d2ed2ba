# The training image: CUDA PyTorch base + the pinned gotr1 environment (same constraint approach as the Makefile).
# docker build -f dockerfiles/train.Dockerfile -t $REGISTRY/gotr1-train:$(git rev-parse --short HEAD) .
FROM pytorch/pytorch:2.13.0-cuda12.8-cudnn9-runtime
ENV PIP_CONSTRAINT=/opt/gotr1/requirements.lock DS_BUILD_OPS=0 HF_HUB_ENABLE_HF_TRANSFER=0 \
    ZENML_ANALYTICS_OPT_IN=false GX_ANALYTICS_ENABLED=false TOKENIZERS_PARALLELISM=false
WORKDIR /opt/gotr1
COPY requirements.txt requirements.lock pyproject.toml README.md ./
# torch comes from the base image (CUDA build); the lock's CPU pin is replaced by the image's version.
RUN sed -i '/^torch==/d' requirements.lock requirements.txt \
 && pip install --no-cache-dir --no-build-isolation -r requirements.txt
COPY gotr1 gotr1
COPY steps steps
COPY pipelines pipelines
COPY infra infra
RUN pip install --no-cache-dir --no-deps -e .
