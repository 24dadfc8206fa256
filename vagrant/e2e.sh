#!/usr/bin/env bash
# The Services walkthrough (manifests/, steps 1-10 of manifests/README.md)
# with plain kubectl against a running k1s and public images (nginx,
# curlimages/curl): every step's output is checked with grep, and the
# script stops with a non-zero exit at the first difference.
#
# In the Vagrant lab:   vagrant ssh -c 'bash /k1s/vagrant/e2e.sh'
# Anywhere else:        NODE_IP=<node address> bash vagrant/e2e.sh
#
# It deletes what an earlier run left, and leaves only the `kubernetes`
# Service when it passes (on a failure the objects stay for a look).
set -euo pipefail

NODE_IP="${NODE_IP:-192.168.56.10}"
MANIFESTS="${MANIFESTS:-$(cd "$(dirname "$0")/../manifests" && pwd)}"
CURL_IMAGE="${CURL_IMAGE:-curlimages/curl}"
# What every nginx page contains (the stock welcome page).
NGINX_PAGE="${NGINX_PAGE:-Welcome to nginx!}"
# Public images are pulled on first use; give rollouts time for that.
TIMEOUT="${TIMEOUT:-300s}"
PROXY_PORT=9999

step() { printf '\n=== %s\n' "$*"; }
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# check WHAT PATTERN TEXT: some line of TEXT matches the extended regex.
check() {
  if grep -Eq -- "$2" <<<"$3"; then
    echo "ok: $1"
  else
    printf '%s\n' "$3" >&2
    fail "$1: no line matches /$2/"
  fi
}

# check_count WHAT N PATTERN TEXT: exactly N lines of TEXT match.
check_count() {
  local n
  n=$(grep -Ec -- "$3" <<<"$4" || true)
  [ "$n" -eq "$2" ] || {
    printf '%s\n' "$4" >&2
    fail "$1: $n lines match /$3/, expected $2"
  }
  echo "ok: $1"
}

# k ARGS: kubectl ARGS, echoed with its output (which is also returned).
k() {
  local out
  out=$(kubectl "$@" 2>&1) || {
    printf '$ kubectl %s\n%s\n' "$*" "$out" >&2
    fail "kubectl $* exited non-zero"
  }
  printf '$ kubectl %s\n%s\n' "$*" "$out" >&2
  printf '%s\n' "$out"
}

# until_true SECONDS COMMAND...: retries COMMAND every second.
until_true() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}

endpoint_ips() {
  kubectl get endpoints "$1" -o jsonpath='{.subsets[*].addresses[*].ip}'
}

endpoint_count_is() {
  [ "$(endpoint_ips "$1" | wc -w)" -eq "$2" ]
}

# The tutorial's `kubectl run tmp --rm -it --image=curlimages/curl -- sh`,
# with the commands it types on stdin.
in_a_pod() {
  kubectl run tmp --rm -i --restart=Never --image="$CURL_IMAGE" \
    --pod-running-timeout=5m -- sh 2>&1
}

pod_failed() {
  printf '%s\n' "$1" >&2
  fail "kubectl run tmp failed"
}

proxy_pid=""
stop_proxy() {
  if [ -n "$proxy_pid" ]; then
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
    proxy_pid=""
  fi
}
trap stop_proxy EXIT

step "0: start from a clean default namespace"
kubectl delete -f "$MANIFESTS" --ignore-not-found >/dev/null
kubectl delete pod tmp --ignore-not-found >/dev/null
kubectl delete svc nginx --ignore-not-found >/dev/null
no_pods() { [ -z "$(kubectl get pods -o name)" ]; }
until_true 120 no_pods ||
  fail "pods of an earlier run did not go away"

step "1: the web Deployment (3 nginx pods)"
out=$(k apply -f "$MANIFESTS/01-web-deployment.yaml")
check "deployment created" '^deployment.apps/web created$' "$out"
out=$(k rollout status deployment/web --timeout="$TIMEOUT")
check "rolled out" 'deployment "web" successfully rolled out' "$out"
out=$(k get deploy,rs,pods -o wide)
check "deployment 3/3" '^deployment.apps/web +3/3 +3 +3 ' "$out"
check_count "three pods running" 3 '^pod/web-[a-z0-9]+-[a-z0-9]{5} +1/1 +Running ' "$out"

step "2: ClusterIP Service"
out=$(k apply -f "$MANIFESTS/02-web-svc-clusterip.yaml")
check "service created" '^service/web created$' "$out"
out=$(k get svc)
check "kubernetes 10.96.0.1 443/TCP" '^kubernetes +ClusterIP +10\.96\.0\.1 +<none> +443/TCP ' "$out"
check "web has a ClusterIP in 10.96.0.0/12" \
  '^web +ClusterIP +10\.(9[6-9]|10[0-9]|11[01])\.[0-9]+\.[0-9]+ +<none> +80/TCP ' "$out"
cluster_ip=$(kubectl get svc web -o jsonpath='{.spec.clusterIP}')
until_true 60 endpoint_count_is web 3 || fail "endpoints web: $(endpoint_ips web)"
out=$(k get endpoints web)
check "endpoints: three pod IPs" '^web +10\.244\.[0-9.]+:80,10\.244\.[0-9.]+:80,10\.244\.[0-9.]+:80 ' "$out"
out=$(k get endpointslices -l kubernetes.io/service-name=web)
check "endpointslice" '^web-[a-z0-9]{5} +IPv4 +80 +10\.244\.[0-9.]+,10\.244\.[0-9.]+,10\.244\.[0-9.]+ ' "$out"
out=$(k describe svc web)
check "describe: selector" '^Selector: +app=web$' "$out"
check "describe: target port" '^TargetPort: +80/TCP$' "$out"

echo "from a pod: curl http://web, the FQDN and the ClusterIP; nslookup web"
out=$(in_a_pod <<EOF
for i in \$(seq 1 10); do curl -s -A k1s-e2e http://web >/dev/null && echo short-ok; done
for i in \$(seq 1 10); do curl -s -A k1s-e2e http://web.default.svc.cluster.local >/dev/null && echo fqdn-ok; done
for i in \$(seq 1 10); do curl -s -A k1s-e2e http://$cluster_ip >/dev/null && echo ip-ok; done
curl -s http://web
nslookup web
exit 0
EOF
) || pod_failed "$out"
printf '%s\n' "$out"
check_count "curl http://web answers" 10 '^short-ok$' "$out"
check_count "curl http://web.default.svc.cluster.local answers" 10 '^fqdn-ok$' "$out"
check_count "curl http://$cluster_ip answers" 10 '^ip-ok$' "$out"
check "the nginx page" "$NGINX_PAGE" "$out"
check "nslookup: Server 10.96.0.10" '^Server:\s+10\.96\.0\.10$' "$out"
check "nslookup: the FQDN" '^Name:\s+web\.default\.svc\.cluster\.local$' "$out"
check "nslookup: the ClusterIP" "^Address:\\s+${cluster_ip//./\\.}\$" "$out"
# Each pod's access log shows its share of the 30 requests.
for pod in $(kubectl get pods -l app=web -o name); do
  n=$(kubectl logs "$pod" | grep -c 'k1s-e2e' || true)
  [ "$n" -gt 0 ] || fail "$pod answered none of the 30 requests"
  echo "ok: $pod answered $n of them"
done

step "3: NodePort 30080"
out=$(k apply -f "$MANIFESTS/03-web-svc-nodeport.yaml")
check "service configured" '^service/web configured$' "$out"
out=$(k get svc web)
check "80:30080/TCP" "^web +NodePort +${cluster_ip//./\\.} +<none> +80:30080/TCP " "$out"
out=$(curl -s --max-time 5 "http://$NODE_IP:30080")
check "curl http://$NODE_IP:30080" "$NGINX_PAGE" "$out"

step "4: LoadBalancer"
out=$(k apply -f "$MANIFESTS/04-web-svc-loadbalancer.yaml")
check "service configured" '^service/web configured$' "$out"
lb_is_node() {
  [ "$(kubectl get svc web -o jsonpath='{.status.loadBalancer.ingress[0].ip}')" = "$NODE_IP" ]
}
until_true 60 lb_is_node ||
  fail "EXTERNAL-IP did not become $NODE_IP"
out=$(k get svc web)
check "EXTERNAL-IP is the node" "^web +LoadBalancer +${cluster_ip//./\\.} +${NODE_IP//./\\.} +80:30080/TCP " "$out"
out=$(curl -s --max-time 5 "http://$NODE_IP")
check "curl http://$NODE_IP" "$NGINX_PAGE" "$out"

step "5-6: ExternalName and headless"
out=$(k apply -f "$MANIFESTS/05-externalname.yaml" -f "$MANIFESTS/06-headless.yaml")
check "external-service created" '^service/external-service created$' "$out"
check "web-headless created" '^service/web-headless created$' "$out"
out=$(k get svc external-service web-headless)
check "ExternalName row" '^external-service +ExternalName +<none> +endpoint\.database\.site\.com +<none> ' "$out"
check "headless: no ClusterIP" '^web-headless +ClusterIP +None +<none> +80/TCP ' "$out"
until_true 60 endpoint_count_is web-headless 3 || fail "endpoints web-headless: $(endpoint_ips web-headless)"
out=$(in_a_pod <<'EOF'
nslookup -type=cname external-service.default.svc.cluster.local
nslookup web-headless
exit 0
EOF
) || pod_failed "$out"
printf '%s\n' "$out"
check "CNAME" 'external-service\.default\.svc\.cluster\.local\s+canonical name = endpoint\.database\.site\.com' "$out"
for ip in $(endpoint_ips web-headless); do
  check "headless A record $ip" "^Address:\\s+${ip//./\\.}\$" "$out"
done

step "7: several ports"
k apply -f "$MANIFESTS/07-multiport.yaml" >/dev/null
out=$(k get svc multi-port-service)
check "80/TCP,443/TCP" '^multi-port-service +ClusterIP +10\.[0-9.]+ +<none> +80/TCP,443/TCP ' "$out"

step "8: targetPort by name"
out=$(k apply -f "$MANIFESTS/08-named-targetport.yaml")
check "pod and service created" '^service/first-service created$' "$out"
k wait --for=condition=Ready pod/nginx --timeout="$TIMEOUT" >/dev/null
until_true 60 endpoint_count_is first-service 1 || fail "endpoints first-service: $(endpoint_ips first-service)"
out=$(k describe svc first-service)
check "TargetPort pod-port/TCP" '^TargetPort: +pod-port/TCP$' "$out"
check "Endpoints: the pod on 80" '^Endpoints: +10\.244\.[0-9.]+:80$' "$out"

step "9: a selector typo"
out=$(k apply -f "$MANIFESTS/09-selector-typo.yaml")
check "service configured" '^service/web configured$' "$out"
until_true 60 endpoint_count_is web 0 || fail "endpoints web: $(endpoint_ips web)"
out=$(k get endpoints web)
check "ENDPOINTS <none>" '^web +<none> ' "$out"
out=$(in_a_pod <<'EOF'
curl -sS --max-time 5 http://web; echo "exit=$?"
exit 0
EOF
) || pod_failed "$out"
printf '%s\n' "$out"
check "refused at once" "Failed to connect to web port 80" "$out"
check "curl exit code 7" '^exit=7$' "$out"
k apply -f "$MANIFESTS/02-web-svc-clusterip.yaml" >/dev/null
until_true 60 endpoint_count_is web 3 || fail "endpoints web after the fix: $(endpoint_ips web)"
echo "ok: the fixed selector brings the three endpoints back"

step "10: endpoints follow kubectl set image"
out=$(k apply -f "$MANIFESTS/10-nginx-deployment-and-service.yaml")
check "nginx-deployment created" '^deployment.apps/nginx-deployment created$' "$out"
k rollout status deployment/nginx-deployment --timeout="$TIMEOUT" >/dev/null
until_true 60 endpoint_count_is nginx-service 3 || fail "endpoints nginx-service: $(endpoint_ips nginx-service)"
before=$(endpoint_ips nginx-service)
k get endpoints nginx-service >/dev/null
out=$(k set image deployment nginx-deployment nginx=nginx:1.17)
check "image updated" '^deployment.apps/nginx-deployment image updated$' "$out"
k rollout status deployment/nginx-deployment --timeout="$TIMEOUT" >/dev/null
new_endpoints() {
  local after ip
  after=$(endpoint_ips nginx-service)
  [ "$(wc -w <<<"$after")" -eq 3 ] || return 1
  for ip in $after; do
    case " $before " in *" $ip "*) return 1 ;; esac
  done
}
until_true 120 new_endpoints || fail "endpoints did not move to the new pods: $before -> $(endpoint_ips nginx-service)"
k get endpoints nginx-service >/dev/null
echo "ok: endpoints moved from [$before] to [$(endpoint_ips nginx-service)]"

step "kubectl proxy + curl .../services/nginx/proxy"
out=$(k expose pod nginx --port=80)
check "service nginx" '^service/nginx exposed$' "$out"
until_true 60 endpoint_count_is nginx 1 || fail "endpoints nginx: $(endpoint_ips nginx)"
kubectl proxy --port="$PROXY_PORT" >/dev/null 2>&1 &
proxy_pid=$!
until_true 30 curl -sf "http://localhost:$PROXY_PORT/api" || fail "kubectl proxy did not start"
out=$(curl -s -L "localhost:$PROXY_PORT/api/v1/namespaces/default/services/nginx/proxy")
check "the nginx page through the API server" "$NGINX_PAGE" "$out"
stop_proxy

step "cleanup"
k delete -f "$MANIFESTS" --ignore-not-found >/dev/null
k delete svc nginx >/dev/null
out=$(k get svc)
check_count "one Service left" 2 '.' "$out"
check "only kubernetes" '^kubernetes +ClusterIP +10\.96\.0\.1 +<none> +443/TCP ' "$out"

printf '\nPASS: the Services walkthrough. From the host: curl http://%s:30080 after step 3, curl http://%s after step 4.\n' "$NODE_IP" "$NODE_IP"
