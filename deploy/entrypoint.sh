#!/bin/sh
# Runs `overt ARGS...`. A worker's consumer name in the Redis group defaults to the
# container's host name (Docker and Kubernetes set HOSTNAME), so replicas never share one.
set -eu
: "${OVERT_WORKER_NAME:=${HOSTNAME:-worker-1}}"
export OVERT_WORKER_NAME
exec overt "$@"
