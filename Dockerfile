# Sluice: the sluice binary (server and CLI) and sluice-demo (demo backends
# and load), on a distroless base as a non-root user.
#   docker build -t sluice:dev .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/sluice ./cmd/sluice \
 && CGO_ENABLED=0 go build -trimpath -o /out/sluice-demo ./cmd/sluice-demo \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sluice /out/sluice-demo /usr/local/bin/
# The data directory belongs to the non-root user, so a named volume
# mounted there starts writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
EXPOSE 7070 7071 18000
ENTRYPOINT ["sluice"]
