# The demo bot of collector/compose.yaml: the demo (`python -m examples.demo`) from this checkout, exporting to
# the agent Collector. Build context: the repository root (see compose.yaml).
FROM python:3.13-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crocotel ./crocotel
COPY examples ./examples
RUN pip install --no-cache-dir -e ".[demo]"
CMD ["python", "-m", "examples.demo", "--updates", "100000"]
