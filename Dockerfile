# credbroker: `docker build -t credbroker .`, then `docker run credbroker serve --config FILE`.
# Used by docker-compose.yml for a local trial (see docs/backends.md).

FROM node:20-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# The client package is a workspace: npm ci needs its manifest, `prepare` builds it too.
COPY packages/client/package.json packages/client/tsconfig.build.json ./packages/client/
COPY src ./src
# npm ci runs the install scripts (better-sqlite3) and `prepare`, which needs src/ and the tsconfigs.
RUN npm ci --no-audit --no-fund
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY migrations ./migrations
COPY policies ./policies
# The data folder belongs to the unprivileged user; a named volume mounted there inherits it.
RUN ln -s /app/bin/credbroker.js /usr/local/bin/credbroker \
 && chmod +x /app/bin/credbroker.js \
 && mkdir -p /var/lib/credbroker /etc/credbroker \
 && chown node:node /var/lib/credbroker
USER node
EXPOSE 8080
ENTRYPOINT ["credbroker"]
CMD ["serve", "--config", "/etc/credbroker/credbroker.yaml"]
