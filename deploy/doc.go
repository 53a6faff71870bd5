// Package deploy holds no code: it is the home of the tests that keep the
// installation artefacts honest. They build the kustomize base and every
// component in-process and decode each object strictly into the k8s.io/api
// types, check that the DaemonSet, the systemd unit, the Dockerfile and the
// docs agree with the agent (its flags from the built binary, its config
// validation, its admin paths and ports), run systemd-analyze verify on the
// unit and shellcheck on the Vagrant provisioning, and check that every
// metric the Grafana dashboard queries is documented and labelled as used.
package deploy
