# Kiln: one image for the API (`node dist/src/server.js`) and the training workers
# (`node dist/workers/worker.js`). Build: docker build -t kiln .

# --- build: all dependencies, compile TypeScript to dist/ ---
FROM node:20-slim AS build
WORKDIR /app
# .npmrc skips onnxruntime-node's CUDA download; its CPU runtime ships in the package.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
COPY scripts ./scripts
RUN npm run build

# --- runtime: production dependencies and the compiled code, as the unprivileged node user ---
FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# A fresh named volume mounted at /data starts with this directory's owner (node).
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/server.js"]
