// Command pause is the sandbox ("pause") container of the test cluster that scripts/k8s.sh
// starts: no registry is reachable, so scripts/image.sh builds it FROM scratch. It holds the
// pod's namespaces open and exits on SIGTERM or SIGINT, as Kubernetes' own pause image does.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	<-c
	os.Exit(0)
}
