# syntax=docker/dockerfile:1
# tug in a container, driving the host's Docker or Podman through its mounted socket.
# See docs/tug-in-a-container.md. Reference build: the base images come from Docker Hub,
# which the project's build machines cannot reach, so this file is not built by scripts/test.
#
#   docker build -t tug:local .
#   docker run --rm -it -v /var/run/docker.sock:/var/run/docker.sock \
#     -v "$PWD:$PWD" -w "$PWD" tug:local start examples/hello.yaml

# ---- build ------------------------------------------------------------------------------
FROM rust:1.85-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tug \
 && install -m 0755 target/release/tug /usr/local/bin/tug

# ---- run --------------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: registries over HTTPS. tini: a PID 1 that forwards Ctrl-C / docker stop to
# tug, which then stops and removes the run's containers. The shell is for host steps.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/tug /usr/local/bin/tug
ENV TUG_DATA_DIR=/var/lib/tug
VOLUME /var/lib/tug
WORKDIR /workflows
# Root, to open the engine socket; use `--user` with the socket's group id instead if you can.
ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/usr/local/bin/tug"]
CMD ["--help"]
