# syntax=docker/dockerfile:1
# The operator image, for linux/amd64 and linux/arm64 node pools:
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/tenantdb-operator:<tag> .
# Each stage calls scripts/image-rootfs.sh, which test/ship/operator-e2e.test.ts runs in a temporary folder and
# then runs the result against a real apiserver, so what is tested is what the image holds.
ARG NODE_IMAGE=node:24-bookworm-slim

# The bundle is plain JavaScript: build it once, on the builder's own platform.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS bundle
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts ./scripts
COPY src ./src
COPY controllers ./controllers
RUN sh scripts/image-rootfs.sh bundle /src /rootfs

# Production dependencies only, from the committed lockfile, on the target platform.
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN sh scripts/image-rootfs.sh deps /src /rootfs

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# glibc malloc: two arenas instead of eight per core (V8's and libuv's threads each kept one, half empty
# after the start-up burst), and free memory at the top of the heap given back past 128 KiB instead of a
# threshold that grows with every large free. bench/production-entrypoint.ts runs with this ENV.
ENV MALLOC_ARENA_MAX=2
ENV MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY --from=deps /rootfs/app ./
COPY --from=bundle /rootfs/app/dist ./dist
# A fixed non-root UID (not in the image's passwd), so runAsNonRoot can verify it; the chart runs as it too.
USER 65532:65532
EXPOSE 8080 8081
# No --enable-source-maps: it holds the parsed source map (~95 MiB RSS, measured); set
# NODE_OPTIONS=--enable-source-maps when a stack trace must point into src/.
# V8 tuned for memory over speed (the operator waits on the network, not on the CPU), measured with
# bench/production-entrypoint.ts, which runs exactly these flags: a 1 MiB semi-space (the young
# generation otherwise grows to 3 x 16 MiB and stays), --optimize-for-size (conservative heap growth, more
# compaction), no optimizing JITs (TurboFan's and Maglev's code and compile zones; Sparkplug stays;
# --lite-mode would go further but disables WebAssembly, which the SQL parser needs), two V8 worker
# threads. No fixed --max-old-space-size: V8 sizes the heap limit from the container's memory limit.
ENTRYPOINT ["node", "--max-semi-space-size=1", "--optimize-for-size", "--no-opt", "--no-maglev", "--v8-pool-size=2", "/app/dist/tenantdb-operator.mjs"]
