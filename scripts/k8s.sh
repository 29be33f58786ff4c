#!/usr/bin/env bash
# A single-node Kubernetes for the end-to-end tests, entirely inside a network namespace that this
# script creates: etcd, kube-apiserver, -controller-manager, -scheduler, kubelet, containerd, the
# pods, and the test services the pods reach (PostgreSQL, S3, Pushgateway, Spark Connect) all live
# there, so every address other than loopback exists only in that namespace. `down` removes all of
# it.
#
#   scripts/k8s.sh up          start (needs scripts/install.sh k8s and make image)
#   scripts/k8s.sh down        stop everything, unmount, delete the namespace and the state folder
#   scripts/k8s.sh exec CMD…   run CMD inside the namespace with .k8s/env loaded
#   scripts/k8s.sh status
#
# State: $AIFLOW_K8S_DIR (default .k8s/ in the checkout): pki/, conf/, etcd/, containerd/,
# kubelet/, logs in log/, pids in run/, and env (sourced by `exec`):
#   AIFLOW_K8S_NETNS       the network namespace
#   AIFLOW_K8S_KUBECONFIG  admin kubeconfig (https://127.0.0.1:6443, valid inside the namespace)
#   AIFLOW_K8S_NODE_IP     the node address; pods reach the services on it
#   AIFLOW_K8S_RUNNER_IMAGE, AIFLOW_K8S_PYTHON_IMAGE   images imported from bin/images/
#   AIFLOW_K8S_SHARED_DIR  a folder owned by the pods' user that both the pods (as a hostPath
#                          volume mounted at the same path) and Spark Connect see: a lake root
#                          and staging for Spark nodes without an object store connector
#   and the AIFLOW_TEST_* variables of the services started inside (scripts/services.sh),
#   Spark Connect's (AIFLOW_TEST_SPARK_REMOTE) included.
#
# Requirements of this kind of machine (root, no systemd, cgroup v1, a VM without
# CAP_SYS_RESOURCE): containerd runs with restrict_oom_score_adj (otherwise every sandbox fails
# with "can't get final child's PID from pipe: EOF"), runc and kubelet use cgroupfs, swap is
# tolerated, and image GC never removes the imported images (nothing can be pulled again).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

K8S_VERSION=$(sed -n 's/^K8S_VERSION=\([^ ]*\).*/\1/p' scripts/install.sh)
BIN=${AIFLOW_K8S_BIN:-/var/cache/aiflow/k8s-$K8S_VERSION/bin}
K=${AIFLOW_K8S_DIR:-$ROOT/.k8s}
NODE_IP=10.200.0.1
POD_CIDR=10.88.0.0/16
NODE=aiflow-node
# The user of the runner images.
POD_UID=65532

log() { echo "k8s: $*" >&2; }
fail() { echo "k8s: FAILED: $*" >&2; exit 1; }

# The namespace is named after the state folder, so two checkouts never share one.
netns_name() { echo "aiflow-k8s-$(realpath -m "$K" | md5sum | cut -c1-8)"; }
NS=$(netns_name)
# nsenter, not `ip netns exec`: that one also remounts /sys in a new mount namespace, which hides
# the cgroup mounts the kubelet and runc need.
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }
ctr_() { ctr -a "$K/run/containerd.sock" -n k8s.io "$@"; }
kubectl_() { in_ns "$BIN/kubectl" --kubeconfig "$K/conf/admin.kubeconfig" "$@"; }

pki() {
  local P=$K/pki
  mkdir -p "$P"
  openssl genrsa -out "$P/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -nodes -key "$P/ca.key" -subj "/CN=aiflow-test-ca" -days 30 -out "$P/ca.crt" 2>/dev/null
  cert() { # name cn org sans
    local n=$1 cn=$2 o=$3 sans=$4 subj="/CN=$2"
    [[ -n $o ]] && subj="/O=$o/CN=$cn"
    openssl genrsa -out "$P/$n.key" 2048 2>/dev/null
    openssl req -new -key "$P/$n.key" -subj "$subj" -out "$P/$n.csr" 2>/dev/null
    {
      echo "basicConstraints=CA:FALSE"
      echo "keyUsage=critical,digitalSignature,keyEncipherment"
      if [[ -n $sans ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"
      else echo "extendedKeyUsage=clientAuth"; fi
    } >"$P/$n.ext"
    openssl x509 -req -in "$P/$n.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 30 \
      -extfile "$P/$n.ext" -out "$P/$n.crt" 2>/dev/null
  }
  cert apiserver kube-apiserver "" "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$NODE_IP,IP:10.96.0.1"
  cert admin admin system:masters ""
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ""
  cert kubelet "system:node:$NODE" system:nodes ""
  cert kubelet-serving "$NODE" "" "DNS:$NODE,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1"
  cert controller-manager system:kube-controller-manager "" ""
  cert scheduler system:kube-scheduler "" ""
  openssl genrsa -out "$P/sa.key" 2048 2>/dev/null
  openssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
}

kubeconfig() { # name user
  cat >"$K/conf/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: aiflow-test
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$K/pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$K/pki/$2.crt", client-key: "$K/pki/$2.key"}
contexts:
- name: aiflow-test
  context: {cluster: aiflow-test, user: $1, namespace: default}
current-context: aiflow-test
EOF
}

configs() {
  mkdir -p "$K/conf" "$K/cni/net.d" "$K/cni/ipam" "$K/log/pods" "$K/run"
  kubeconfig admin admin
  kubeconfig controller-manager controller-manager
  kubeconfig scheduler scheduler
  kubeconfig kubelet kubelet
  cat >"$K/conf/containerd.toml" <<EOF
version = 2
root = "$K/containerd/root"
state = "$K/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$K/run/containerd.sock"
[ttrpc]
  address = "$K/run/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$K/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:3.10"
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$(command -v runc)"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$K/cni/net.d"
EOF
  cat >"$K/cni/net.d/10-aiflow.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "aiflow",
  "plugins": [
    {"type": "bridge", "bridge": "aiflowbr0", "isGateway": true, "ipMasq": false, "hairpinMode": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$K/cni/ipam"}},
    {"type": "loopback"}
  ]
}
EOF
  cat >"$K/conf/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $K/pki/ca.crt}
authorization: {mode: AlwaysAllow}
tlsCertFile: $K/pki/kubelet-serving.crt
tlsPrivateKeyFile: $K/pki/kubelet-serving.key
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$K/run/containerd.sock
resolvConf: /etc/resolv.conf
clusterDomain: cluster.local
podLogsDir: $K/log/pods
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
}

# start NAME CMD…: run CMD in the namespace, detached in its own session, pid in run/NAME.pid.
start() {
  local name=$1; shift
  setsid nsenter --net="/run/netns/$NS" "$@" </dev/null >"$K/log/$name.log" 2>&1 &
  echo $! >"$K/run/$name.pid"
}

wait_until() { # seconds what cmd…
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what not ready after ${secs}s"
    sleep 0.5
  done
}

cmd_up() {
  local t0=$SECONDS b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    [[ -x $BIN/$b ]] || fail "$BIN/$b missing: run scripts/install.sh k8s"
  done
  for b in containerd etcd runc ctr openssl; do command -v "$b" >/dev/null || fail "$b missing: run scripts/install.sh k8s"; done
  for b in aiflow-runner aiflow-runner-python pause; do
    [[ -f bin/images/$b.tar ]] || fail "bin/images/$b.tar missing: run make image"
  done
  if ip netns list | grep -qw "$NS"; then fail "namespace $NS exists: run scripts/k8s.sh down first"; fi
  rm -rf "$K"
  mkdir -p "$K/log" "$K/run"
  pki
  configs

  # The namespace: loopback, and the node address on one end of a veth pair whose both ends stay
  # inside (the kubelet refuses a loopback node IP; this kernel has no dummy links). The default
  # route points there too, so that nothing inside can reach an address outside. The pod bridge
  # is made by the CNI plugin, also inside.
  ip netns add "$NS"
  in_ns ip link set lo up
  in_ns ip link add aiflow0 type veth peer name aiflow1
  in_ns ip addr add "$NODE_IP/24" dev aiflow0
  in_ns ip link set aiflow1 up
  in_ns ip link set aiflow0 up
  in_ns ip route add default via "${NODE_IP%.*}.2" dev aiflow0 onlink

  start containerd containerd --config "$K/conf/containerd.toml"
  start etcd etcd --name aiflow --data-dir "$K/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster aiflow=http://127.0.0.1:2380 \
    --unsafe-no-fsync
  wait_until 60 containerd test -S "$K/run/containerd.sock"
  wait_until 60 etcd in_ns curl -sf http://127.0.0.1:2379/health
  # --digests with --base-name also names each image repo@sha256:… (what a pull from a registry
  # records), so that a profile may pin the images by digest as outside env dev it must.
  for b in pause aiflow-runner aiflow-runner-python; do
    ctr_ images import --base-name "localhost/$b" --digests "bin/images/$b.tar" >/dev/null || fail "import bin/images/$b.tar"
  done

  local P=$K/pki
  start apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 --bind-address=127.0.0.1 --secure-port=6443 \
    --advertise-address="$NODE_IP" --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
    --client-ca-file="$P/ca.crt" --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-cluster-ip-range=10.96.0.0/24 \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP --allow-privileged=false --v=1
  wait_until 120 kube-apiserver kubectl_ get --raw /readyz
  start controller-manager "$BIN/kube-controller-manager" --kubeconfig="$K/conf/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$K/conf/controller-manager.kubeconfig" --authorization-kubeconfig="$K/conf/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
    --use-service-account-credentials=true --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" --v=1
  start scheduler "$BIN/kube-scheduler" --kubeconfig="$K/conf/scheduler.kubeconfig" \
    --authentication-kubeconfig="$K/conf/scheduler.kubeconfig" --authorization-kubeconfig="$K/conf/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --v=1
  mkdir -p "$K/kubelet"
  start kubelet "$BIN/kubelet" --config="$K/conf/kubelet.yaml" --kubeconfig="$K/conf/kubelet.kubeconfig" \
    --root-dir="$K/kubelet" --cert-dir="$K/kubelet/pki" --node-ip="$NODE_IP" --hostname-override="$NODE" --v=1

  # Services the pods reach, on the node address inside the namespace. Spark Connect and the
  # pods share a folder of the node (shared/, owned by the pods' user; the pods mount it as a
  # hostPath volume at the same path): what the server writes there (umask 000: it runs as root)
  # the pods may replace and delete.
  mkdir -p "$K/shared"
  chown "$POD_UID:$POD_UID" "$K/shared"
  AIFLOW_SERVICES_DIR=$K/services AIFLOW_SERVICES_HOST=$NODE_IP AIFLOW_SERVICES_SPARK_CONF=spark.hadoop.fs.permissions.umask-mode=000 \
    in_ns scripts/services.sh up postgres versitygw pushgateway spark airflow python >"$K/log/services.log" 2>&1 ||
    { cat "$K/log/services.log" >&2; fail "services in the namespace"; }

  wait_until 120 "node $NODE" kubectl_ get node "$NODE"
  kubectl_ wait --for=condition=Ready "node/$NODE" --timeout=120s >/dev/null || fail "node $NODE not Ready (see $K/log/kubelet.log)"
  wait_until 60 "default service account" kubectl_ get serviceaccount default
  {
    echo "# generated by scripts/k8s.sh up; scripts/k8s.sh exec loads it"
    echo "export AIFLOW_K8S_NETNS=$NS"
    echo "export AIFLOW_K8S_DIR=$K"
    echo "export AIFLOW_K8S_KUBECONFIG=$K/conf/admin.kubeconfig"
    echo "export AIFLOW_K8S_KUBECTL=$BIN/kubectl"
    echo "export AIFLOW_K8S_NODE_IP=$NODE_IP"
    echo "export AIFLOW_K8S_RUNNER_IMAGE=localhost/aiflow-runner:dev"
    echo "export AIFLOW_K8S_PYTHON_IMAGE=localhost/aiflow-runner-python:dev"
    echo "export AIFLOW_K8S_SHARED_DIR=$K/shared"
    grep '^export' "$K/services/env"
  } >"$K/env"
  log "up in $((SECONDS - t0))s: namespace $NS, node $NODE ($NODE_IP), KUBECONFIG=$K/conf/admin.kubeconfig; services: $(grep -o 'AIFLOW_TEST_[A-Z_]*=[^ ]*' "$K/services/env" | grep -E 'PG_DSN|S3_ENDPOINT|PUSHGATEWAY' | tr '\n' ' ')"
}

stop_pidfile() { # name [grace seconds]
  local f=$K/run/$1.pid pid i
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < ${2:-10} * 4; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cmd_down() {
  local t
  # Pods first, while the kubelet still runs: it stops their containers and sandboxes, and the
  # CNI plugin frees their addresses and network namespaces.
  if [[ -f $K/run/kubelet.pid ]] && kubectl_ get --raw /readyz >/dev/null 2>&1; then
    kubectl_ delete pods --all --all-namespaces --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
    for _ in $(seq 60); do
      [[ -z $(ctr_ tasks ls -q 2>/dev/null) ]] && break
      sleep 0.5
    done
  fi
  for t in kubelet scheduler controller-manager apiserver; do stop_pidfile "$t"; done
  if [[ -S $K/run/containerd.sock ]]; then
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.5
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks rm -f "$t" >/dev/null 2>&1 || true; done
    for t in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$t" >/dev/null 2>&1 || true; done
  fi
  if [[ -d $K/services ]]; then
    AIFLOW_SERVICES_DIR=$K/services AIFLOW_SERVICES_HOST=$NODE_IP in_ns scripts/services.sh down >/dev/null 2>&1 ||
      AIFLOW_SERVICES_DIR=$K/services scripts/services.sh down >/dev/null 2>&1 || true
  fi
  for t in containerd etcd; do stop_pidfile "$t" 20; done
  # The kubelet bind-mounts its root onto itself and mounts pod volumes below it; containerd
  # mounts snapshots and sandbox /dev/shm under its state.
  grep -E " $K/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  # The pods' own network namespaces went with their sandboxes above; the cluster's goes now,
  # and with it the bridge, the veth pair and every address and iptables rule made inside.
  if ip netns list | grep -qw "$NS"; then ip netns delete "$NS"; fi
  rm -rf "$K"
  # Fixed folders that containerd's shims and the CNI library create outside the state folder:
  # removed when empty (their entries went with the pods).
  rmdir /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd/s /run/containerd \
    /var/lib/cni/results /var/lib/cni 2>/dev/null || true
  log "down: namespace $NS deleted, $K removed"
}

cmd_status() {
  if ! ip netns list | grep -qw "$NS"; then echo "k8s: down"; return 3; fi
  kubectl_ get nodes -o wide && kubectl_ get pods -A
}

cmd_exec() {
  [[ -f $K/env ]] || fail "not up ($K/env missing): run scripts/k8s.sh up"
  # shellcheck disable=SC1091
  set -a; source "$K/env"; set +a
  exec nsenter --net="/run/netns/$NS" "$@"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
exec) shift; cmd_exec "$@" ;;
*) echo "usage: $0 up|down|status|exec CMD..." >&2; exit 2 ;;
esac
