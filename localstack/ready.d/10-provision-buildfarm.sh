#!/bin/bash
# LocalStack ready hook: provision the farm's topology from the same Go
# definition the local runtime and the CDK stack use.
set -euo pipefail
bin=/opt/buildfarm/farm-provision
if [ ! -x "$bin" ]; then
  echo "buildfarm: $bin missing; run scripts/build-functions on the host, or scripts/provision against this LocalStack" >&2
  exit 0
fi
AWS_ENDPOINT_URL=http://localhost:4566 AWS_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "$bin"
