# Helpers the Kubernetes scripts share; source it from the repository root.

# kube_tool NAME builds NAME (helm or kind), pinned as a Go tool in
# tools/kube, into .build/bin and prints its path.
kube_tool() {
  local pkg
  case $1 in
    helm) pkg=helm.sh/helm/v3/cmd/helm ;;
    kind) pkg=sigs.k8s.io/kind ;;
    *) echo "kube_tool: unknown tool $1" >&2; return 2 ;;
  esac
  mkdir -p .build/bin
  (cd tools/kube && GOWORK=off go build -o "../../.build/bin/$1" "$pkg")
  echo "$PWD/.build/bin/$1"
}

# wait_port PORT waits up to 10 s for a listener on 127.0.0.1:PORT (a
# port-forward coming up).
wait_port() {
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# secret_value NAMESPACE SECRET KEY prints one decoded key of a Secret.
secret_value() {
  kubectl -n "$1" get secret "$2" -o "jsonpath={.data.$3}" | base64 -d
}
