// Package k8se2e holds the end-to-end tests that run compiled DAGs through Airflow's
// KubernetesPodOperator on the single-node cluster of scripts/k8s.sh: every task a real pod of
// the images `make image` builds. They are behind the build tag k8se2e and run inside the
// cluster's network namespace: scripts/test.sh runs
//
//	scripts/k8s.sh exec go test -tags k8se2e ./internal/k8se2e/
//
// so that `go test ./...` outside the namespace does not try to reach the cluster.
package k8se2e
