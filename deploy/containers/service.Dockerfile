# One image for the control plane and the router (TypeScript run by Node 24's type stripping; no
# build step). Pick the service with the command:
#   docker build -f deploy/containers/service.Dockerfile -t tei-fleet .
#   docker run tei-fleet control-plane/src/main.ts --listen 0.0.0.0:9000 --redis redis://redis:6379
#   docker run tei-fleet --no-memory-reducer router/src/main.ts --listen 0.0.0.0:9001 --control-plane http://cp:9000
# The node agent has its own recipe next to TEI: deploy/agent/.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
RUN npm install -g pnpm@11.28.11
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
COPY proto/package.json proto/
COPY core/package.json core/
COPY control-plane/package.json control-plane/
COPY router/package.json router/
COPY node-agent/package.json node-agent/
COPY test/package.json test/
RUN pnpm install --frozen-lockfile --prod --filter @tei-fleet/control-plane... --filter @tei-fleet/router...

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
COPY --from=deps /app /app
COPY proto proto
COPY core core
COPY control-plane control-plane
COPY router router
USER node
ENTRYPOINT ["/usr/bin/tini", "--", "node"]
CMD ["control-plane/src/main.ts"]
