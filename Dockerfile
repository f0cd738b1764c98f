# syntax=docker/dockerfile:1
#
# The codec server (`temporal-codec serve`) for the Temporal Web UI and CLI.
#
#   docker build -t temporal-codec .
#   docker run --rm -p 8888:8888 \
#     -e TEMPORAL_ENCRYPTION_KEY_default=base64:... \
#     -e TEMPORAL_CODEC_CORS_ORIGINS=https://temporal.example.com \
#     -e TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED=true \
#     temporal-codec
#
# Listening on 0.0.0.0 and authentication: a container must listen on 0.0.0.0 to be reachable, and an
# unauthenticated codec server there decrypts for anyone who can reach it. So the image listens on 0.0.0.0 but
# does NOT allow that by default: the server refuses to start until the operator says that something in front of it
# (an authenticating proxy, a private network policy) protects it, with TEMPORAL_CODEC_ALLOW_UNAUTHENTICATED=true or
# `--allow-unauthenticated` (arguments after the image name are passed to `temporal-codec serve`).
#
# Set the port with TEMPORAL_CODEC_PORT (not --port) so the health check finds it. Set TEMPORAL_CODEC_WORKERS to
# the CPUs the container may use: the default is one worker per CPU the machine reports, which can exceed a CPU
# limit. Keys: TEMPORAL_ENCRYPTION_KEY_<id> variables, or TEMPORAL_CODEC_KEYS_DIR pointing at a mounted secret.

ARG NODE_IMAGE=node:20-bookworm-slim

# Build: compile and pack exactly what `npm publish` would ship.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts are needed to build (esbuild runs from its platform package without its postinstall).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsup.config.ts README.md LICENSE ./
COPY src ./src
RUN npm run build \
 && mkdir /pkg \
 && npm pack --pack-destination /pkg \
 && mv /pkg/*.tgz /pkg/temporal-payload-codec.tgz

# Runtime: the packed tarball and its production dependencies only (no sources, no dev dependencies, no compiler).
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    TEMPORAL_CODEC_HOST=0.0.0.0 \
    TEMPORAL_CODEC_PORT=8888
COPY --from=build /pkg/temporal-payload-codec.tgz /tmp/
# npm installs the package's required peer dependencies (@temporalio/common, @temporalio/proto) with it.
RUN npm install --global --omit=dev --ignore-scripts --no-audit --no-fund /tmp/temporal-payload-codec.tgz \
 && rm /tmp/temporal-payload-codec.tgz \
 && npm cache clean --force
# The unprivileged user of the node images (uid 1000); the server needs no file system access beyond reading keys.
USER node
WORKDIR /home/node
EXPOSE 8888
# /livez over http, or https when TLS is configured; a node one-liner, since the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const tls=!!process.env.TEMPORAL_CODEC_TLS_CERT;require(tls?'https':'http').get({host:'127.0.0.1',port:process.env.TEMPORAL_CODEC_PORT||8888,path:'/livez',timeout:4000,rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself; it drains in-flight requests and exits within 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["temporal-codec", "serve"]
