# The Flamewatch server. In compose it runs against a ClickHouse server
# (CLICKHOUSE_URL); chDB's native library still installs with the package.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY agent/package.json agent/tsconfig.json agent/register.js agent/
COPY agent/src agent/src
COPY bin bin
COPY profile profile
COPY store store
COPY server server
COPY jobs jobs
COPY cli cli
COPY bench bench
RUN npm ci --no-audit --no-fund && npm prune --omit=dev
ENV FLAMEWATCH_HOST=0.0.0.0 PORT=4040
EXPOSE 4040
USER node
CMD ["node", "bin/flamewatch.js", "serve"]
