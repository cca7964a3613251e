{{/* The base of every object's name: the release name, or fullnameOverride. */}}
{{- define "oneclaw.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "oneclaw.apiName" -}}{{ include "oneclaw.fullname" . }}-api{{- end -}}
{{- define "oneclaw.operatorName" -}}{{ include "oneclaw.fullname" . }}-operator{{- end -}}

{{/* The operator's own identity in the API: an org admin by ONECLAW_K8S_ADMIN_SERVICE_ACCOUNTS. */}}
{{- define "oneclaw.operatorPrincipal" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "oneclaw.operatorName" . }}
{{- end -}}

{{/* The API's org-admin service accounts, comma-separated: the operator's own, then api.extraAdminServiceAccounts. */}}
{{- define "oneclaw.adminServiceAccounts" -}}
{{- join "," (prepend .Values.api.extraAdminServiceAccounts (include "oneclaw.operatorPrincipal" .)) -}}
{{- end -}}

{{- define "oneclaw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: oneclaw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: oneclaw
{{- end -}}

{{- define "oneclaw.apiSelectorLabels" -}}
app.kubernetes.io/name: oneclaw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end -}}

{{/* The API pods' selector labels as a kubectl -l selector (NOTES.txt: logs of every replica). */}}
{{- define "oneclaw.apiSelector" -}}
{{- $pairs := list -}}
{{- range $k, $v := include "oneclaw.apiSelectorLabels" . | fromYaml -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{- define "oneclaw.operatorSelectorLabels" -}}
app.kubernetes.io/name: oneclaw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "oneclaw.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{- define "oneclaw.apiUrl" -}}
http://{{ include "oneclaw.apiName" . }}.{{ .Release.Namespace }}.svc:{{ .Values.api.service.port }}
{{- end -}}

{{/* A secretKeyRef env entry: (list "NAME" secretName key). */}}
{{- define "oneclaw.secretEnv" -}}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ index . 1 }}
      key: {{ index . 2 }}
{{- end -}}

{{/*
The KMS backends the API needs settings for, space-separated: kms.backend (kms.key's), the
backend of each kms.previousKeys entry (data wrapped before a `kms migrate` still unwraps there
until the migration is done) and a KMS-held signing key's. A local:// signing key is a PEM file,
not the local KMS backend.
*/}}
{{- define "oneclaw.kmsBackendsInUse" -}}
{{- $v := .Values -}}
{{- $inUse := list $v.kms.backend -}}
{{- range $v.kms.previousKeys -}}
{{- $inUse = append $inUse (regexReplaceAll "://.*$" . "") -}}
{{- end -}}
{{- $sign := regexReplaceAll "://.*$" $v.signing.key "" -}}
{{- if ne $sign "local" -}}
{{- $inUse = append $inUse $sign -}}
{{- end -}}
{{- join " " (uniq $inUse) -}}
{{- end -}}
