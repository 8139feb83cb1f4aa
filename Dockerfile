# Build: docker build --build-arg VERSION=v0.1.0 -t orybot .
# Run:   docker run --env-file orybot.env -v orybot-data:/data -p 8080:8080 orybot
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (the SQLite driver is too), so the binary is static and runs on
# distroless/static. VERSION is what `orybot version`, the start log line
# and orybot_build_info report.
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/orybot ./cmd/orybot \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orybot /usr/local/bin/orybot
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
ENV ORYBOT_DATABASE_URL=/data/orybot.db
VOLUME /data
USER 65532:65532
# /healthz, /readyz and /metrics (ORYBOT_LISTEN_ADDR).
EXPOSE 8080
# The image has no shell: the binary asks its own /healthz.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/orybot", "check", "--liveness"]
ENTRYPOINT ["/usr/local/bin/orybot"]
