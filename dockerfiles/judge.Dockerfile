# The judge image: vLLM's OpenAI-compatible server for Qwen2.5-VL-7B-Instruct.
# docker build -f dockerfiles/judge.Dockerfile -t $REGISTRY/gotr1-judge:vllm .
FROM vllm/vllm-openai:v0.11.0
ENV HF_HUB_ENABLE_HF_TRANSFER=0
# The API key is read from VLLM_API_KEY (a Kubernetes Secret), never baked into the image.
ENTRYPOINT ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", "Qwen/Qwen2.5-VL-7B-Instruct", \
            "--served-model-name", "qwen2.5-vl-7b", "--max-model-len", "8192", "--limit-mm-per-prompt", "image=1", \
            "--host", "0.0.0.0", "--port", "8000"]
