# Build: docker build -t orybot .
# Run:   docker run --env-file orybot.env -v orybot-data:/data orybot
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (the SQLite driver is too), so the binary is static and runs on
# distroless/static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/orybot ./cmd/orybot \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orybot /usr/local/bin/orybot
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
ENV ORYBOT_DATABASE_URL=/data/orybot.db
VOLUME /data
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/orybot"]
