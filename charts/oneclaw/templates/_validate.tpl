{{/*
Checks that span several values (values.schema.json checks each value's shape). Every message
names the value to set and why, so a failed install says what to do.
*/}}
{{- define "oneclaw.validate" -}}
{{- $v := .Values -}}
{{- if not $v.database.existingSecret -}}
{{- fail "database.existingSecret is required: create a Secret holding your PostgreSQL URL (kubectl create secret generic oneclaw-database --from-literal=url=postgres://…) and set database.existingSecret to its name. The chart never runs the embedded development database." -}}
{{- end -}}
{{- $backend := $v.kms.backend -}}
{{- if not (hasPrefix (printf "%s://" $backend) $v.kms.key) -}}
{{- fail (printf "kms.key must be a %s:// key URI because kms.backend is %s (got a key of another scheme, or none)" $backend $backend) -}}
{{- end -}}
{{- $inUse := splitList " " (include "oneclaw.kmsBackendsInUse" .) -}}
{{- range $b := $inUse -}}
{{- $why := ternary (printf "kms.backend=%s" $b) (printf "a %s:// key in kms.previousKeys or signing.key" $b) (eq $b $backend) -}}
{{- if and (eq $b "local") (not $v.kms.local.existingSecret) -}}
{{- fail (printf "kms.local.existingSecret is required with %s: a Secret holding base64 of 32 random bytes (openssl rand -base64 32) under kms.local.secretKey" $why) -}}
{{- end -}}
{{- if eq $b "transit" -}}
{{- if not $v.kms.transit.address -}}
{{- fail (printf "kms.transit.address is required with %s (the Vault/OpenBao URL, e.g. https://vault.vault.svc:8200)" $why) -}}
{{- end -}}
{{- if not $v.kms.transit.tokenSecret.name -}}
{{- fail (printf "kms.transit.tokenSecret.name is required with %s: a Secret holding the Vault/OpenBao token (never a value in the chart)" $why) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $b "pkcs11") (not $v.kms.pkcs11.pinSecret.name) -}}
{{- fail (printf "kms.pkcs11.pinSecret.name is required with %s: a Secret holding the token's user PIN" $why) -}}
{{- end -}}
{{- end -}}
{{- if and (hasPrefix "local://" $v.signing.key) (not $v.signing.existingSecret) -}}
{{- fail "signing.existingSecret is required when signing.key is local://…: a Secret holding an Ed25519 private key PEM (openssl genpkey -algorithm ed25519), shared by every API replica; or use a KMS-held signing key (transit://, gcpkms://, pkcs11://, awskms://)" -}}
{{- end -}}
{{- if and (eq $v.api.k8sAuth.mode "jwks") (not $v.api.k8sAuth.issuer) -}}
{{- fail "api.k8sAuth.issuer is required with api.k8sAuth.mode=jwks (the cluster's service-account issuer: kubectl get --raw /.well-known/openid-configuration)" -}}
{{- end -}}
{{- if and (gt (int $v.operator.replicas) 1) (not $v.operator.leaderElection) -}}
{{- fail "operator.leaderElection must be true when operator.replicas > 1: two operators reconciling at once would fight over the same objects" -}}
{{- end -}}
{{- end -}}

{{/* Credentials never travel as chart values: extraEnv entries that look like one need valueFrom. */}}
{{- define "oneclaw.validateExtraEnv" -}}
{{- range $component := list "api" "operator" -}}
{{- range $i, $e := (index $.Values $component).extraEnv -}}
{{- if and (hasKey $e "value") (regexMatch "(?i)(TOKEN|PASSWORD|SECRET|PIN|CREDENTIAL|_KEY$|DATABASE_URL)" $e.name) -}}
{{- fail (printf "%s.extraEnv[%d] (%s) looks like a credential: set it with valueFrom.secretKeyRef from a Secret, never as a value in the chart" $component $i $e.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
