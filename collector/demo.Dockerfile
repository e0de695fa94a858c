# The demo bot of collector/compose.yaml: `crocotel demo` from this checkout, exporting to
# the agent Collector. Build context: the repository root (see compose.yaml).
FROM python:3.13-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crocotel ./crocotel
COPY examples ./examples
RUN pip install --no-cache-dir -e ".[demo]"
CMD ["crocotel", "demo", "--updates", "100000"]
