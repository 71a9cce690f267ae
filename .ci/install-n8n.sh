#!/usr/bin/env bash
# Install a real Workflow² (n8n) server for the integration tests, outside the repo.
#
# Layout under the cache folder (default ~/.cache/provisioner-n8n, or $PROVISIONER_N8N_CACHE):
#   node/  npm project holding the `node` package (Node 24; its binaries in node_modules/node/bin)
#   n8n/   npm project holding n8n, installed and rebuilt with that Node (the default version)
#   n8n-<version>/  the same for another version ($PROVISIONER_N8N_VERSION), e.g. the oldest
#          supported one, which CI tests too (.ci/run)
#   .complete-<version>  marker written last; when present the install is reused as is
#
# Unattended and idempotent: safe to rerun, safe to run concurrently (flock), no prompts.
# Prints the n8n executable's path as the last line of stdout.
set -euo pipefail

DEFAULT_N8N_VERSION=2.41.1
N8N_VERSION="${PROVISIONER_N8N_VERSION:-${DEFAULT_N8N_VERSION}}"
NODE_SPEC="${PROVISIONER_N8N_NODE:-node@24}"
CACHE="${PROVISIONER_N8N_CACHE:-${HOME}/.cache/provisioner-n8n}"
MARKER="${CACHE}/.complete-n8n-${N8N_VERSION}"
NODE_DIR="${CACHE}/node"
if [[ "${N8N_VERSION}" == "${DEFAULT_N8N_VERSION}" ]]; then N8N_DIR="${CACHE}/n8n"; else N8N_DIR="${CACHE}/n8n-${N8N_VERSION}"; fi
N8N_BIN="${N8N_DIR}/node_modules/n8n/bin/n8n"

log() { printf '[install-n8n] %s\n' "$*" >&2; }

export CI=true npm_config_yes=true npm_config_fund=false npm_config_audit=false \
  npm_config_update_notifier=false npm_config_progress=false npm_config_loglevel=warn

mkdir -p "${CACHE}"
exec 9>"${CACHE}/.lock"
if command -v flock >/dev/null 2>&1; then
  log "waiting for the install lock ${CACHE}/.lock"
  flock 9
fi

if [[ -f "${MARKER}" && -x "${NODE_DIR}/node_modules/node/bin/node" && -f "${N8N_BIN}" ]]; then
  log "reusing the complete install in ${CACHE}"
  echo "${N8N_BIN}"
  exit 0
fi

command -v npm >/dev/null 2>&1 || { log "npm is required (any Node with npm) to bootstrap"; exit 1; }

start=$(date +%s)
mkdir -p "${NODE_DIR}" "${N8N_DIR}"
[[ -f "${NODE_DIR}/package.json" ]] || printf '{"name":"provisioner-n8n-node","private":true}\n' > "${NODE_DIR}/package.json"
if [[ "${N8N_VERSION}" == "${DEFAULT_N8N_VERSION}" ]]; then
  [[ -f "${N8N_DIR}/package.json" ]] || printf '{"name":"provisioner-n8n","private":true}\n' > "${N8N_DIR}/package.json"
else
  # Older n8n-nodes-base takes xlsx from cdn.sheetjs.com, which is not a package registry (and
  # not reachable from CI): use the registry's xlsx instead. The credential API under test does
  # not touch it; the spreadsheet nodes load with it.
  printf '{"name":"provisioner-n8n-%s","private":true,"overrides":{"xlsx":"npm:xlsx@0.18.5"}}\n' \
    "${N8N_VERSION}" > "${N8N_DIR}/package.json"
fi

log "installing ${NODE_SPEC} into ${NODE_DIR}"
(cd "${NODE_DIR}" && npm install "${NODE_SPEC}" </dev/null)
NODE_BIN="${NODE_DIR}/node_modules/node/bin/node"
# The `node` package fetches its binary in a preinstall script; if npm skipped it, say so.
[[ -x "${NODE_BIN}" ]] || { log "no Node binary at ${NODE_BIN}: npm did not run the node package's install script"; exit 1; }
node_version=$("${NODE_BIN}" --version)
[[ "${node_version}" == v24.* ]] || { log "expected Node 24, got ${node_version}"; exit 1; }
export PATH="${NODE_DIR}/node_modules/node/bin:${PATH}"
log "using node ${node_version} from $(command -v node)"

log "installing n8n@${N8N_VERSION} into ${N8N_DIR} (several minutes)"
(cd "${N8N_DIR}" && npm install "n8n@${N8N_VERSION}" --omit=dev --ignore-scripts </dev/null)

log "rebuilding sqlite3 for $(node --version) (compiles; a couple of minutes)"
(cd "${N8N_DIR}" && npm rebuild sqlite3 </dev/null)

[[ -f "${N8N_BIN}" ]] || { log "n8n executable missing after install: ${N8N_BIN}"; exit 1; }
installed=$(node -p "require('${N8N_DIR}/node_modules/n8n/package.json').version")
[[ "${installed}" == "${N8N_VERSION}" ]] || { log "installed n8n ${installed}, wanted ${N8N_VERSION}"; exit 1; }

date -u +%Y-%m-%dT%H:%M:%SZ > "${MARKER}"
log "done in $(( $(date +%s) - start )) s"
echo "${N8N_BIN}"
