#!/usr/bin/env bash
# Debian packages the tests need: PostgreSQL 15 (initdb/pg_ctl, started per test run by the
# harness), SoftHSM2 with the OpenSC tools (PKCS#11), and openssl (the control plane's certs).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_install postgresql-15 postgresql-client-15 softhsm2 opensc openssl python3-venv
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || die "PostgreSQL 15 is not at /usr/lib/postgresql/15/bin"
[[ -f /usr/lib/softhsm/libsofthsm2.so ]] || die "SoftHSM2 module is not at /usr/lib/softhsm/libsofthsm2.so"
