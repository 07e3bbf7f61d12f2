# syntax=docker/dockerfile:1
# The operator image: same Node major (24 LTS) as the one npm pins for development and tests.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts stay off except for the packages package.json approves (allowScripts).
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY controllers ./controllers
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The image's own Node runs the operator; the pinned `node` npm package is a dev dependency only.
USER node
EXPOSE 8080 8081
ENTRYPOINT ["node", "dist/src/main.js"]
