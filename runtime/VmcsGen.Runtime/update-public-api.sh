#!/usr/bin/env bash
# Records the runtime's public API changes in PublicAPI.Unshipped.txt, from what the PublicApiAnalyzers report:
#   RS0016 (a public symbol not declared)  -> its line is added;
#   RS0017 (a declared symbol that is gone) -> its line is dropped from Unshipped, or, if it was shipped, "*REMOVED*" is
#                                              added before it (the analyzer's convention for a removal to review).
# Run it from anywhere after changing public API (yours or the generator's output for fields/kvm.vmcs), review the diff of
# PublicAPI.Unshipped.txt like code, and commit it with the change. At a release, move Unshipped's lines to Shipped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
unshipped="$here/PublicAPI.Unshipped.txt"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

dotnet build "$here/VmcsGen.Runtime.csproj" -c Release --no-incremental -p:TreatWarningsAsErrors=false >"$log" 2>&1 || true

added="$(sed -nE "s/.*RS0016: Symbol '(.*)' is not part of the declared public API.*/\1/p" "$log" | sort -u)"
removed="$(sed -nE "s/.*RS0017: Symbol '(.*)' is part of the declared API, but is either not public or could not be found.*/\1/p" "$log" | sort -u)"

while IFS= read -r symbol; do
  [ -n "$symbol" ] || continue
  if grep -qxF -- "$symbol" "$unshipped"; then
    grep -vxF -- "$symbol" "$unshipped" >"$unshipped.tmp" && mv "$unshipped.tmp" "$unshipped"
  else
    printf '*REMOVED*%s\n' "$symbol" >>"$unshipped"
  fi
done <<<"$removed"

if [ -n "$added" ]; then
  printf '%s\n' "$added" >>"$unshipped"
fi

# Keep the file in a stable order: the #nullable line first, then the entries sorted.
{ head -n 1 "$unshipped"; tail -n +2 "$unshipped" | LC_ALL=C sort -u; } >"$unshipped.tmp" && mv "$unshipped.tmp" "$unshipped"
echo "PublicAPI.Unshipped.txt: $(printf '%s' "$added" | grep -c . || true) added, $(printf '%s' "$removed" | grep -c . || true) removed"

if grep -qE 'error (CS|RS)[0-9]+' <(grep -vE 'RS001[67]' "$log"); then
  echo "the build has other errors; fix them and run this again:" >&2
  grep -E 'error (CS|RS)[0-9]+' "$log" | grep -vE 'RS001[67]' | sort -u | head -20 >&2
  exit 1
fi
