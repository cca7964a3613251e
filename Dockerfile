# The oneclaw image: one entry point for `oneclaw server` (the API) and `oneclaw operator`.
# Build: `make image` (docker or podman). This CI has no container engine, so the image is not
# built here; test/chart/build.test.ts checks the compile step and the compiled server instead.
# Node.js 24 LTS, the version hack/versions.env pins for development and CI.
ARG NODE_VERSION=24.22.3

# Build stage: full dependencies, a C++ toolchain for the PKCS#11 addon (pkcs11js), tsc.
FROM node:${NODE_VERSION}-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# npm install with the lockfile's exact versions (docs/testing.md says why not npm ci).
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY hack/build.sh hack/dist-current.sh ./hack/
COPY api ./api
COPY common ./common
COPY contract ./contract
COPY operator ./operator
COPY sdk ./sdk
COPY cli ./cli
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: Node, the production dependencies (with the built addon) and dist/ only.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /src/package.json ./package.json
COPY --from=build --chown=root:root /src/node_modules ./node_modules
# dist/ holds the compiled code and what it reads at run time (api/src/db/migrations/*.sql).
COPY --from=build --chown=root:root /src/dist ./dist
# Not root, and not the image's `node` user either: the chart's securityContext uses 10001.
USER 10001:10001
EXPOSE 8080 8081
ENTRYPOINT ["node", "dist/cli/src/main.js"]
CMD ["server"]
