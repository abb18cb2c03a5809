#!/bin/sh
# LocalStack ready hook (/etc/localstack/init/ready.d): seeds a demo secret for the compose trial.
set -eu
awslocal secretsmanager create-secret \
  --name demo/db \
  --secret-string '{"username":"app","password":"demo-password-not-secret"}' \
  || echo "demo/db already exists"
